import { describe, expect, it } from 'vitest';
import { alignmentMode, fromStoredRecord, headerFromDomains, recomputeAlignment, type AlignmentRecord } from '../../src/enrich/alignment.js';

const relaxed = { adkim: 'r', aspf: 'r' };
const strict = { adkim: 's', aspf: 's' };

function rec(partial: Partial<AlignmentRecord>): AlignmentRecord {
  return { headerFrom: 'example.com', dkim: null, spf: null, dkimResults: [], spfResults: [], ...partial };
}

describe('recomputeAlignment', () => {
  it('aligns a subdomain signature in relaxed mode but not in strict mode', () => {
    const record = rec({ dkimResults: [{ domain: 'mail.example.com', result: 'pass' }], spfResults: [{ domain: 'bounce.example.com', scope: 'mfrom', result: 'pass' }] });
    const r = recomputeAlignment(record, relaxed);
    expect([r.dkimAligned, r.spfAligned, r.dmarcPass]).toEqual([true, true, true]);
    const s = recomputeAlignment(record, strict);
    expect([s.dkimAligned, s.spfAligned, s.dmarcPass]).toEqual([false, false, false]);
    expect(s.dkim[0]).toMatchObject({ pass: true, domainAligned: false, aligned: false });
  });

  it('aligns a parent-domain signature with a subdomain From in relaxed mode', () => {
    const r = recomputeAlignment(rec({ headerFrom: 'news.example.com', dkimResults: [{ domain: 'example.com', result: 'pass' }] }), relaxed);
    expect(r.dkimAligned).toBe(true);
  });

  it('defaults to relaxed when adkim/aspf are absent, and reads modes case-insensitively', () => {
    expect(alignmentMode(null)).toBe('relaxed');
    expect(alignmentMode('S')).toBe('strict');
    expect(alignmentMode(' r ')).toBe('relaxed');
    const r = recomputeAlignment(rec({ dkimResults: [{ domain: 'sub.example.com', result: 'pass' }] }), { adkim: null, aspf: null });
    expect(r.dkimAligned).toBe(true);
  });

  it('ignores case and trailing dots', () => {
    const r = recomputeAlignment(
      rec({ headerFrom: 'Example.COM.', dkimResults: [{ domain: 'EXAMPLE.com', result: 'PASS' }], spfResults: [{ domain: 'example.com.', scope: 'MFROM', result: 'Pass' }] }),
      strict,
    );
    expect([r.dkimAligned, r.spfAligned]).toEqual([true, true]);
    expect(r.headerFrom).toBe('example.com');
  });

  it('does not align different owners under a private public suffix', () => {
    const r = recomputeAlignment(
      rec({ headerFrom: 'alice.github.io', dkimResults: [{ domain: 'bob.github.io', result: 'pass' }], spfResults: [{ domain: 'mallory.herokuapp.com', result: 'pass' }] }),
      relaxed,
    );
    expect(r.dmarcPass).toBe(false);
    const same = recomputeAlignment(rec({ headerFrom: 'www.alice.github.io', dkimResults: [{ domain: 'alice.github.io', result: 'pass' }] }), relaxed);
    expect(same.dkimAligned).toBe(true);
  });

  it('does not align across a public suffix (co.uk)', () => {
    const r = recomputeAlignment(rec({ headerFrom: 'shop.co.uk', dkimResults: [{ domain: 'other.co.uk', result: 'pass' }] }), relaxed);
    expect(r.dkimAligned).toBe(false);
  });

  it('finds the aligned signature among several', () => {
    const r = recomputeAlignment(
      rec({
        dkimResults: [
          { domain: 'sendgrid.net', selector: 's1', result: 'pass' },
          { domain: 'example.com', selector: 'old', result: 'fail' },
          { domain: 'example.com', selector: 'new', result: 'pass' },
        ],
      }),
      relaxed,
    );
    expect(r.dkimAligned).toBe(true);
    expect(r.alignedDkim).toMatchObject({ domain: 'example.com', selector: 'new' });
    expect(r.dkim.map((d) => d.aligned)).toEqual([false, false, true]);
  });

  it('never aligns SPF on the HELO identity, but counts results without a scope', () => {
    const helo = recomputeAlignment(rec({ spfResults: [{ domain: 'example.com', scope: 'helo', result: 'pass' }] }), relaxed);
    expect(helo.spfAligned).toBe(false);
    expect(helo.spf[0]).toMatchObject({ counts: false, domainAligned: true, aligned: false });
    const noScope = recomputeAlignment(rec({ spfResults: [{ domain: 'example.com', scope: null, result: 'pass' }] }), relaxed);
    expect(noScope.spfAligned).toBe(true);
    const both = recomputeAlignment(
      rec({ spfResults: [{ domain: 'example.com', scope: 'helo', result: 'pass' }, { domain: 'example.com', scope: 'mfrom', result: 'softfail' }] }),
      relaxed,
    );
    expect(both.spfAligned).toBe(false);
  });

  it('never aligns empty or NULL domains', () => {
    const r = recomputeAlignment(rec({ headerFrom: 'example.com', spfResults: [{ domain: 'NULL', result: 'pass' }], dkimResults: [{ domain: '', result: 'pass' }] }), relaxed);
    expect(r.dmarcPass).toBe(false);
  });

  it('requires alignment with every domain of a multi-address From', () => {
    expect(headerFromDomains('pages.example.com, example.com')).toEqual(['pages.example.com', 'example.com']);
    const record = rec({ headerFrom: 'pages.example.com, example.com', dkimResults: [{ domain: 'example.com', result: 'pass' }] });
    expect(recomputeAlignment(record, relaxed).dkimAligned).toBe(true);
    expect(recomputeAlignment(record, strict).dkimAligned).toBe(false);
    const mixed = rec({ headerFrom: 'example.com, example.org', dkimResults: [{ domain: 'example.com', result: 'pass' }] });
    expect(recomputeAlignment(mixed, relaxed).dkimAligned).toBe(false);
  });

  it('takes an organisational-domain function (for tree-walk results)', () => {
    const walk = (d: string) => (d.endsWith('blogspot.com') ? 'blogspot.com' : d);
    const record = rec({ headerFrom: 'alice.blogspot.com', dkimResults: [{ domain: 'blogspot.com', result: 'pass' }] });
    expect(recomputeAlignment(record, relaxed).dkimAligned).toBe(false);
    expect(recomputeAlignment(record, relaxed, { orgDomainOf: walk }).dkimAligned).toBe(true);
  });
});

describe('disagreement with the reporter', () => {
  it('agrees when the verdicts match', () => {
    const r = recomputeAlignment(rec({ dkim: 'pass', spf: 'fail', dkimResults: [{ domain: 'example.com', result: 'pass' }], spfResults: [{ domain: 'other.net', result: 'pass' }] }), relaxed);
    expect(r.disagrees).toBe(false);
    expect(r.explanation).toBeNull();
  });

  it('flags a reported DKIM pass without an aligned passing signature', () => {
    const r = recomputeAlignment(rec({ dkim: 'pass', dkimResults: [{ domain: 'sendgrid.net', result: 'pass' }, { domain: 'example.com', result: 'fail' }] }), relaxed);
    expect(r.disagrees).toBe(true);
    expect(r.disagreements).toEqual([expect.objectContaining({ mechanism: 'dkim', reported: 'pass', recomputed: 'fail' })]);
    expect(r.explanation).toContain('Passed but not aligned: sendgrid.net');
    expect(r.explanation).toContain('Aligned but not passing: example.com (fail)');
  });

  it('flags a reported DKIM pass with no DKIM result at all', () => {
    const r = recomputeAlignment(rec({ dkim: 'pass' }), relaxed);
    expect(r.explanation).toBe('The reporter says DKIM passed, but the record lists no DKIM result.');
  });

  it('flags a reported failure when an aligned pass exists, naming forwarding as the usual cause', () => {
    const r = recomputeAlignment(rec({ dkim: 'fail', spf: 'fail', dkimResults: [{ domain: 'example.com', result: 'pass' }] }), relaxed);
    expect(r.disagreements.map((d) => d.mechanism)).toEqual(['dkim']);
    expect(r.explanation).toMatch(/signature of example\.com passed and is in relaxed alignment.*forwarded/);
  });

  it('flags a reported SPF pass that only passed for HELO', () => {
    const r = recomputeAlignment(rec({ spf: 'pass', spfResults: [{ domain: 'example.com', scope: 'helo', result: 'pass' }] }), relaxed);
    expect(r.disagreements[0]).toMatchObject({ mechanism: 'spf', reported: 'pass', recomputed: 'fail' });
    expect(r.explanation).toContain('HELO identity');
  });

  it('does not compare verdicts other than pass and fail', () => {
    const r = recomputeAlignment(rec({ dkim: 'temperror', spf: null, dkimResults: [{ domain: 'example.com', result: 'pass' }] }), relaxed);
    expect(r.disagrees).toBe(false);
  });
});

describe('stored rows', () => {
  it('recomputes from aggregate_record + _dkim/_spf rows', () => {
    const record = fromStoredRecord(
      { header_from: 'example.com', dkim_eval: 'pass', spf_eval: 'pass' },
      [{ domain: 'example.com', selector: 's1', result: 'pass' }],
      [{ domain: 'example.com', scope: 'helo', result: 'pass' }],
    );
    const r = recomputeAlignment(record, { adkim: 's', aspf: null });
    expect([r.dkimAligned, r.spfAligned]).toEqual([true, false]);
    expect(r.disagreements.map((d) => d.mechanism)).toEqual(['spf']);
  });
});
