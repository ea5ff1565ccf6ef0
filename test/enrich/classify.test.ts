import { describe, expect, it } from 'vitest';
import { recomputeAlignment, type AlignmentRecord } from '../../src/enrich/alignment.js';
import { arcPass, classifySource, type SourceRecord } from '../../src/enrich/classify.js';
import type { AggregateReport } from '../../src/reports/types.js';
import { corpusReports } from './corpus.js';

const relaxed = { adkim: 'r', aspf: 'r' };

function record(count: number, partial: Partial<AlignmentRecord>, reasons: SourceRecord['reasons'] = [], reporter = 'receiver.example'): SourceRecord {
  const base: AlignmentRecord = { headerFrom: 'example.com', dkim: null, spf: null, dkimResults: [], spfResults: [], ...partial };
  return { count, alignment: recomputeAlignment(base, relaxed), reasons, reporter };
}

const spoofed = (count: number) =>
  record(count, { dkim: 'fail', spf: 'fail', spfResults: [{ domain: 'example.com', scope: 'mfrom', result: 'fail' }] });

/** The records of one source IP in a corpus report, with their alignment. */
function sourceRecords(report: AggregateReport, ip: string): SourceRecord[] {
  return report.records
    .filter((r) => r.sourceIp === ip)
    .map((r) => ({ count: r.count, alignment: recomputeAlignment(r, report.policy), reasons: r.reasons, reporter: report.metadata.orgName }));
}

describe('classifySource', () => {
  it('calls a source the user authorised "authorised", whatever its results', () => {
    const c = classifySource({ sourceIp: '192.0.2.1', records: [spoofed(500)], authorised: true, authorisedNote: 'Office printer relay' });
    expect(c.kind).toBe('authorised');
    expect(c.evidence[0]).toBe('Authorised by a member of this organisation: Office printer relay');
    expect(c.totals).toMatchObject({ messages: 500, failedBoth: 500, dmarcPass: 0 });
  });

  it('calls a failing, unexplained source with volume "suspicious", with the count as evidence', () => {
    const c = classifySource({ sourceIp: '203.0.113.9', records: [spoofed(40), spoofed(2)], enrichment: { asn: 64500, asnName: 'EXAMPLE-NET' } });
    expect(c.kind).toBe('suspicious');
    expect(c.evidence[0]).toBe('42 messages failed both DKIM and SPF alignment (threshold 10), with no sign of a known service or of forwarding');
    expect(c.evidence).toContain('AS64500 EXAMPLE-NET');
    expect(c.evidence).toContain('SPF mfrom example.com (fail, aligned: yes): 42 messages');
    expect(c.evidence).toContain('No DKIM signature: 42 messages');
  });

  it('leaves a failing source below the threshold "unknown"', () => {
    expect(classifySource({ sourceIp: '203.0.113.9', records: [spoofed(9)] }).kind).toBe('unknown');
    expect(classifySource({ sourceIp: '203.0.113.9', records: [spoofed(9)] }, { suspiciousVolume: 5 }).kind).toBe('suspicious');
  });

  it('is not fooled by a shared cloud network: failing mail from AWS is still suspicious', () => {
    const c = classifySource({ sourceIp: '3.3.3.3', records: [spoofed(100)], enrichment: { ptrHost: 'ec2-3-3-3-3.compute-1.amazonaws.com', asn: 16509 } });
    expect(c.kind).toBe('suspicious');
    expect(c.service).toBeNull();
    expect(c.network?.service.name).toBe('Amazon Web Services (cloud)');
    expect(c.evidence).toContain('PTR ec2-3-3-3-3.compute-1.amazonaws.com → Amazon Web Services (cloud)');
  });

  it('calls a source a known service from its PTR and DKIM, showing unaligned signatures', () => {
    const c = classifySource({
      sourceIp: '198.51.100.7',
      records: [
        record(120, {
          dkim: 'fail',
          spf: 'fail',
          dkimResults: [{ domain: 'sendgrid.net', result: 'pass' }],
          spfResults: [{ domain: 'em123.sendgrid.net', scope: 'mfrom', result: 'pass' }],
        }),
      ],
      enrichment: { ptrHost: 'o1.email.example.sendgrid.net', asn: 11377 },
    });
    expect(c.kind).toBe('known_service');
    expect(c.service).toMatchObject({ confidence: 'ptr+dkim', service: { id: 'sendgrid' } });
    expect(c.evidence).toEqual(
      expect.arrayContaining([
        'PTR o1.email.example.sendgrid.net → SendGrid (Twilio)',
        'DKIM signed by sendgrid.net → SendGrid (Twilio)',
        'DKIM signed by sendgrid.net (pass, aligned: no): 120 messages',
        'SPF mfrom em123.sendgrid.net (pass, aligned: no): 120 messages',
      ]),
    );
    // a known service failing alignment is not called suspicious
    expect(c.totals.failedBoth).toBe(120);
  });

  it('calls mail the reporter marked as forwarded "forwarder", never suspicious', () => {
    for (const type of ['forwarded', 'trusted_forwarder', 'mailing_list']) {
      const c = classifySource({ sourceIp: '192.0.2.77', records: [record(500, { dkim: 'fail', spf: 'fail' }, [{ type, comment: null }], 'Mail.Example')] });
      expect(c.kind).toBe('forwarder');
      expect(c.label).toBe('Forwarded or mailing list');
      expect(c.evidence[0]).toBe(`reason: ${type} (reported by Mail.Example)`);
    }
  });

  it('reads arc=pass in a reason comment, naming the sealer when given', () => {
    expect(arcPass('arc=pass')).toBe('');
    expect(arcPass('arc=pass as[2].google.com=pass ams[2].google.com=pass')).toBe('google.com');
    expect(arcPass('arc=fail')).toBeNull();
    expect(arcPass('sparc=passive')).toBeNull();
    const c = classifySource({
      sourceIp: '209.85.220.69',
      records: [record(3, { dkim: 'fail', spf: 'fail' }, [{ type: 'local_policy', comment: 'arc=pass as[1].lists.example.org=pass' }], 'google.com')],
    });
    expect(c.evidence[0]).toBe('ARC pass reported by lists.example.org');
  });

  it('calls DKIM-aligned mail that fails SPF from a forwarding operator\'s host "forwarder"', () => {
    const c = classifySource({
      sourceIp: '40.107.1.1',
      records: [
        record(7, {
          dkim: 'pass',
          spf: 'fail',
          dkimResults: [{ domain: 'example.com', result: 'pass' }],
          spfResults: [{ domain: 'example.com', scope: 'mfrom', result: 'softfail' }],
        }),
      ],
      enrichment: { ptrHost: 'mail-db8eur05on2101.outbound.protection.outlook.com', asn: 8075 },
    });
    expect(c.kind).toBe('forwarder');
    expect(c.evidence[0]).toMatch(/^DKIM aligned and passed while SPF did not in 7 messages, from a host of Microsoft 365/);
    expect(c.service?.service.id).toBe('microsoft-365');
  });

  it('recognises a mailing-list host by name', () => {
    const c = classifySource({
      sourceIp: '192.0.2.50',
      records: [record(12, { dkimResults: [{ domain: 'example.com', result: 'pass' }], spfResults: [{ domain: 'lists.example.org', result: 'pass' }] })],
      enrichment: { ptrHost: 'lists.example.org' },
    });
    expect(c.kind).toBe('forwarder');
  });

  it('does not call a service that forwards a forwarder when SPF aligns too', () => {
    const c = classifySource({
      sourceIp: '209.85.220.41',
      records: [record(50, { dkimResults: [{ domain: 'example.com', result: 'pass' }], spfResults: [{ domain: 'example.com', result: 'pass' }] })],
      enrichment: { ptrHost: 'mail-sor-f41.google.com' },
    });
    expect(c.kind).toBe('known_service');
    expect(c.service?.service.id).toBe('google-workspace');
  });

  it('leaves a passing source without service evidence "unknown", not failing', () => {
    const c = classifySource({ sourceIp: '192.0.2.2', records: [record(1000, { dkimResults: [{ domain: 'example.com', result: 'pass' }] })] });
    expect(c.kind).toBe('unknown');
    expect(c.totals).toMatchObject({ messages: 1000, dmarcPass: 1000, failedBoth: 0 });
  });

  it('reports the reporter disagreements among its evidence', () => {
    const c = classifySource({ sourceIp: '192.0.2.3', records: [record(1, { dkim: 'pass', dkimResults: [{ domain: 'other.net', result: 'pass' }] })] });
    expect(c.totals.disagreeing).toBe(1);
    expect(c.evidence.some((e) => e.startsWith('Reporter disagrees: The reporter says DKIM passed'))).toBe(true);
  });
});

describe('classifySource on real Google reports', () => {
  it('calls the arc=pass record of Google’s ngyn.org report forwarded, with Workspace named from its DKIM', async () => {
    const [report] = await corpusReports('modoboa-dmarc/Report_Domain_ngyn.org_Submitter_google.com_Report-ID_1282989064754998675.eml');
    const c = classifySource({ sourceIp: '209.85.220.69', records: sourceRecords(report!, '209.85.220.69') });
    expect(c.kind).toBe('forwarder');
    expect(c.evidence[0]).toBe('ARC pass reported by google.com');
    expect(c.service).toMatchObject({ confidence: 'dkim', service: { id: 'google-workspace' } });
    expect(c.evidence).toContain('DKIM signed by example-com.20150623.gappssmtp.com (pass, aligned: no): 2 messages');
  });

  it('calls the DKIM-only record from a Google host forwarded when its PTR is Google’s', async () => {
    const [report] = await corpusReports('modoboa-dmarc/Report_Domain_ngyn.org_Submitter_google.com_Report-ID_1282989064754998675.eml');
    const records = sourceRecords(report!, '209.85.220.41');
    expect(classifySource({ sourceIp: '209.85.220.41', records, enrichment: { ptrHost: 'mail-sor-f41.google.com', asn: 15169 } }).kind).toBe('forwarder');
    // without enrichment nothing says who sent it, and it passes: unknown
    expect(classifySource({ sourceIp: '209.85.220.41', records }).kind).toBe('unknown');
  });

  it('does not take arc=fail for forwarding', async () => {
    const [report] = await corpusReports('dmarc-report-visualizer/google.com!example.com!1701129600!1701215999.xml');
    const records = sourceRecords(report!, '1.2.3.4');
    expect(records[0]!.reasons).toEqual([{ type: 'local_policy', comment: 'arc=fail' }]);
    const c = classifySource({ sourceIp: '1.2.3.4', records }, { suspiciousVolume: 1 });
    expect(c.kind).not.toBe('forwarder');
  });

  it('calls trusted_forwarder records forwarded (mail-auth sample)', async () => {
    const [report] = await corpusReports('mail-auth/003.xml');
    const ip = report!.records[0]!.sourceIp;
    const c = classifySource({ sourceIp: ip, records: sourceRecords(report!, ip) });
    expect(c.kind).toBe('forwarder');
    expect(c.evidence[0]).toMatch(/^reason: trusted_forwarder “Policy ignored due to local white list” \(reported by /);
  });
});
