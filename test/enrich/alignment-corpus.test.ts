/**
 * Alignment recomputed for every record of the real sample reports, and checked against what the
 * reporters said.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { recomputeAlignment, type AlignmentResult } from '../../src/enrich/alignment.js';
import type { AggregateRecord, AggregateReport } from '../../src/reports/types.js';
import { aggregateFiles, corpusReports } from './corpus.js';

interface Row {
  file: string;
  report: AggregateReport;
  index: number;
  record: AggregateRecord;
  result: AlignmentResult;
}

const rows: Row[] = [];

beforeAll(async () => {
  for (const file of aggregateFiles()) {
    for (const report of await corpusReports(file)) {
      for (const [index, record] of report.records.entries()) {
        rows.push({ file, report, index, record, result: recomputeAlignment(record, report.policy) });
      }
    }
  }
}, 60_000);

const find = (file: string, index: number) => rows.find((r) => r.file === file && r.index === index)!;

describe('corpus: alignment recomputation', () => {
  it('recomputes every record', () => {
    expect(rows.length).toBe(1212);
    for (const { result } of rows) {
      expect(result.dmarcPass).toBe(result.dkimAligned || result.spfAligned);
      expect(result.dkimAligned).toBe(result.dkim.some((d) => d.pass && d.domainAligned));
      expect(result.spfAligned).toBe(result.spf.some((s) => s.pass && s.domainAligned && s.counts));
    }
  });

  it('flags a disagreement exactly where a pass/fail verdict differs, and explains each', () => {
    for (const { record, result } of rows) {
      const differs = (reported: string | null, aligned: boolean) => (reported === 'pass' || reported === 'fail') && (reported === 'pass') !== aligned;
      expect(result.disagrees).toBe(differs(record.dkim, result.dkimAligned) || differs(record.spf, result.spfAligned));
      if (result.disagrees) expect(result.explanation).toBeTruthy();
    }
  });

  it('finds the disagreements of each file', () => {
    const perFile: Record<string, number> = {};
    for (const { file, result } of rows) if (result.disagrees) perFile[file] = (perFile[file] ?? 0) + 1;
    expect(perFile).toEqual({
      // 2012 OpenDMARC reports: policy_evaluated says SPF passed while the listed SPF result is
      // for another domain (gmail.com, hotmail.com ...)
      'OpenDMARC/good.com!example.com!1337270400!1337356799.xml': 414,
      'OpenDMARC/yeah.net!example.com!1337270400!1337356799.20120518.xml': 97,
      'DmarcAnalyzerApp/sample-zoho-aggregate.xml': 3,
      'DmarcAnalyzerApp/sample-yahoo-aggregate.xml': 1,
      'dmarc-report-converter/test.xml': 1,
      'dmarc-report-converter/test.xml.gz': 1,
      'dmarc-report-converter/test.xml.gz.gz': 1,
      'dmarc-report-converter/test.xml.zip': 1,
      'dmarc-report-converter/test2.xml': 2,
      'dmarc-report-viewer/acme.xml': 1,
      'mail-auth/005.xml': 1,
    });
  });

  it('explains a reported SPF pass that passed only for HELO (acme.xml)', () => {
    const { result } = find('dmarc-report-viewer/acme.xml', 0);
    expect(result.spfAligned).toBe(false);
    expect(result.disagreements).toEqual([expect.objectContaining({ mechanism: 'spf', reported: 'pass', recomputed: 'fail' })]);
    expect(result.explanation).toContain('HELO identity');
  });

  it('finds the aligned passes Zoho reported as failures', () => {
    for (const index of [0, 1, 2]) {
      const { result } = find('DmarcAnalyzerApp/sample-zoho-aggregate.xml', index);
      expect(result.dmarcPass).toBe(true);
      expect(result.disagreements).toEqual([
        expect.objectContaining({ mechanism: 'dkim', reported: 'fail', recomputed: 'pass' }),
        expect.objectContaining({ mechanism: 'spf', reported: 'fail', recomputed: 'pass' }),
      ]);
    }
  });

  it('names the unaligned passing signature when the reporter claims DKIM passed (dmarc-report-converter)', () => {
    const { result } = find('dmarc-report-converter/test.xml', 0);
    expect(result.dkimAligned).toBe(false);
    expect(result.explanation).toContain('Passed but not aligned: test2.net');
  });

  it('agrees with Google under strict alignment (modoboa ngyn.org report)', () => {
    const file = 'modoboa-dmarc/Report_Domain_ngyn.org_Submitter_google.com_Report-ID_1282989064754998675.eml';
    const forwarded = find(file, 0);
    expect(forwarded.report.policy.adkim).toBe('s');
    // signed only by the Workspace default domain: passes, but is not the From domain
    expect(forwarded.result.dkim[0]).toMatchObject({ domain: 'example-com.20150623.gappssmtp.com', pass: true, aligned: false });
    expect(forwarded.result.dmarcPass).toBe(false);
    expect(forwarded.result.disagrees).toBe(false);
    const signed = find(file, 1);
    expect(signed.result).toMatchObject({ dkimAligned: true, spfAligned: false, dmarcPass: true, disagrees: false });
  });

  it('agrees with the reporter on most records', () => {
    const agreeing = rows.filter((r) => !r.result.disagrees).length;
    expect(agreeing).toBe(1212 - 523);
  });
});
