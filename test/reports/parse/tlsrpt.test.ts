import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseTlsReport } from '../../../src/reports/parse/tlsrpt.js';
import { ReportError, type TlsReport } from '../../../src/reports/types.js';

const CORPUS = path.resolve(import.meta.dirname, '../../fixtures/corpus');

const rows = fs
  .readFileSync(path.join(CORPUS, 'MANIFEST.tsv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((line) => line.split('\t'))
  .filter((c) => c[4] === 'tlsrpt')
  .map((c) => ({ file: c[0]!, format: c[5]!, org: c[6]!, payload: c[10]! }));

const isGzip = (b: Uint8Array) => b[0] === 0x1f && b[1] === 0x8b;

/** The report's JSON bytes, unwrapped independently of src/reports/extract. */
async function jsonBytes(row: (typeof rows)[number]): Promise<Buffer> {
  const raw = fs.readFileSync(path.join(CORPUS, row.file));
  if (row.format === 'json') return raw;
  if (row.format === 'gz') return zlib.gunzipSync(raw);
  if (row.format === 'eml') {
    const mail = await simpleParser(raw);
    const reports = mail.attachments.filter((a) => /^application\/tlsrpt\+(gzip|json)$|^application\/tlsrpt$/.test(a.contentType));
    expect(reports).toHaveLength(1);
    const content = reports[0]!.content;
    return row.payload.endsWith('> gz') || isGzip(content) ? zlib.gunzipSync(content) : content;
  }
  throw new Error(`no reader for ${row.format}`);
}

type RawPolicy = {
  policy?: Record<string, unknown>;
  summary?: Record<string, unknown>;
  'failure-details'?: Record<string, unknown>[];
};

const count = (v: unknown) => (v === undefined || v === null ? 0 : Number(v));
/** The expected instant of an RFC 3339 string, a missing zone meaning UTC. */
const instant = (s: string) => new Date(/(Z|[+-]\d\d:\d\d)$/i.test(s) ? s : `${s}Z`).getTime();

function refusal(input: string | Uint8Array): ReportError {
  try {
    parseTlsReport(typeof input === 'string' ? Buffer.from(input) : input);
  } catch (error) {
    if (error instanceof ReportError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

const parse = (value: unknown): TlsReport => parseTlsReport(Buffer.from(JSON.stringify(value)));

describe('parseTlsReport on every TLS-RPT row of the corpus', () => {
  it('finds the rows', () => {
    expect(rows.length).toBeGreaterThanOrEqual(20);
  });

  it.each(rows.map((r) => [r.file, r] as const))('%s', async (_file, row) => {
    const bytes = await jsonBytes(row);
    const report = parseTlsReport(bytes);
    // An independent reading of the same JSON gives the expected figures.
    const raw = JSON.parse(bytes.toString('utf8').replace(/^\uFEFF/, '')) as Record<string, unknown> & { policies: RawPolicy[] };
    const range = raw['date-range'] as Record<string, string>;

    expect(report.organizationName).toBe(row.org);
    expect(report.organizationName).toBe(String(raw['organization-name']).trim());
    expect(report.reportId).toBe(String(raw['report-id']).trim());
    expect(report.contactInfo).toBe((raw['contact-info'] as string | null | undefined) ?? null);
    expect(report.beginAt.getTime()).toBe(instant(range['start-datetime']!));
    expect(report.endAt.getTime()).toBe(instant(range['end-datetime']!));

    expect(report.policies).toHaveLength(raw.policies.length);
    for (const [i, p] of report.policies.entries()) {
      const rp = raw.policies[i]!;
      expect(p.successfulSessionCount).toBe(count(rp.summary?.['total-successful-session-count']));
      expect(p.failedSessionCount).toBe(count(rp.summary?.['total-failure-session-count']));
      expect(p.policyDomain).toBe(String(rp.policy?.['policy-domain'] ?? '').toLowerCase().replace(/\.$/, ''));
      expect(p.policyType).toBe(String(rp.policy?.['policy-type']).toLowerCase());
      const details = rp['failure-details'] ?? [];
      expect(p.failureDetails).toHaveLength(details.length);
      expect(p.failureDetails.map((d) => d.failedSessionCount)).toEqual(details.map((d) => count(d['failed-session-count'])));
      expect(p.failureDetails.map((d) => d.resultType)).toEqual(details.map((d) => String(d['result-type']).toLowerCase()));
    }
  });
});

describe('what the corpus rows show', () => {
  const load = async (file: string) => parseTlsReport(await jsonBytes(rows.find((r) => r.file === file)!));

  it('reads the RFC 8460 example in full', async () => {
    const r = await load('dmarc-report-viewer/full-example.json');
    expect(r.warnings).toEqual([]);
    expect(r.policies[0]).toEqual({
      policyType: 'sts',
      policyString: ['version: STSv1', 'mode: testing', 'mx: *.mail.company-y.example', 'max_age: 86400'],
      policyDomain: 'company-y.example',
      mxHost: ['*.mail.company-y.example'],
      successfulSessionCount: 5326,
      failedSessionCount: 303,
      failureDetails: [
        {
          resultType: 'certificate-expired',
          sendingMtaIp: '2001:db8:abcd:12::1',
          receivingMxHostname: 'mx1.mail.company-y.example',
          receivingMxHelo: null,
          receivingIp: null,
          failedSessionCount: 100,
          additionalInformation: null,
          failureReasonCode: null,
        },
        {
          resultType: 'starttls-not-supported',
          sendingMtaIp: '2001:db8:abcd:13::1',
          receivingMxHostname: 'mx2.mail.company-y.example',
          receivingMxHelo: null,
          receivingIp: '203.0.113.56',
          failedSessionCount: 200,
          additionalInformation: 'https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported',
          failureReasonCode: null,
        },
        {
          resultType: 'validation-failure',
          sendingMtaIp: '198.51.100.62',
          receivingMxHostname: 'mx-backup.mail.company-y.example',
          receivingMxHelo: null,
          receivingIp: '203.0.113.58',
          failedSessionCount: 3,
          additionalInformation: null,
          failureReasonCode: 'X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED',
        },
      ],
    });
  });

  it('reads Microsoft dates without a zone as UTC, with a warning', async () => {
    for (const file of ['mta-sts-exporter/microsoft-2.json', 'mox/microsoft.eml']) {
      const r = await load(file);
      expect(r.beginAt.toISOString()).toMatch(/T00:00:00\.000Z$/);
      expect(r.warnings.join('\n')).toMatch(/start-datetime "\d{4}-\d\d-\d\dT00:00:00" has no time zone; read as UTC/);
    }
  });

  it('tolerates the quirks of the lenient sample', async () => {
    const r = await load('DmarcAnalyzerApp/sample-lenient-tls.json');
    expect(r.contactInfo).toBeNull();
    expect(r.policies[0]).toMatchObject({
      policyType: 'sts',
      policyString: ['version: STSv1'],
      policyDomain: 'acme.example',
      successfulSessionCount: 42,
      failedSessionCount: 7,
    });
    expect(r.policies[0]!.failureDetails.map((d) => [d.resultType, d.failedSessionCount, d.receivingMxHostname])).toEqual([
      ['quantum-handshake-flux', 5, null],
      ['certificate-expired', 0, 'mx1.acme.example'],
    ]);
    expect(r.policies[1]!.policyDomain).toBe('');
    expect(r.warnings.join('\n')).toMatch(/without policy-domain/);
  });

  it('repairs an mx-host that repeats the policy line, and keeps contact-info null', async () => {
    const r = await load('dmarc-report-viewer/no-contact.json');
    expect(r.contactInfo).toBeNull();
    expect(r.policies[0]!.mxHost).toEqual(['mx.server.com']);
  });

  it('keeps an unknown policy type and policies without a domain (mail-auth/rpt03.json)', async () => {
    const r = await load('mail-auth/rpt03.json');
    expect(r.policies.map((p) => [p.policyType, p.policyDomain, p.successfulSessionCount, p.failedSessionCount])).toEqual([
      ['no-policy-found', '', 1, 0],
      ['invalid-policy-type', '', 1, 0],
    ]);
  });

  it('keeps a failure detail with neither IP nor MX', async () => {
    const r = await load('dmarc-report-viewer/no_ip_and_mx.json');
    expect(r.policies[0]!.failureDetails).toEqual([expect.objectContaining({ resultType: 'sts-policy-fetch-error', sendingMtaIp: null, receivingMxHostname: null, failedSessionCount: 3 })]);
  });
});

const base = {
  'organization-name': ' Company-X ',
  'date-range': { 'start-datetime': '2016-04-01T00:00:00Z', 'end-datetime': '2016-04-01T23:59:59Z' },
  'contact-info': 'sts-reporting@company-x.example',
  'report-id': '5065427c-23d3-47ca-b6e0-946ea0e8c4be',
};
const policy = (extra: Record<string, unknown> = {}, summary: Record<string, unknown> = {}) => ({
  policy: { 'policy-type': 'sts', 'policy-domain': 'example.com', ...extra },
  summary: { 'total-successful-session-count': 1, 'total-failure-session-count': 0, ...summary },
});

describe('policies and failure details', () => {
  it('takes mx-host as a string or an array, and lower-cases domains and hosts', () => {
    const r = parse({
      ...base,
      policies: [
        policy({ 'policy-type': 'STS', 'policy-domain': ' Example.COM. ', 'mx-host': 'MX1.Example.com.' }),
        policy({ 'policy-type': 'tlsa', 'policy-domain': 'b.example', 'mx-host': ['a.mx', ' B.MX ', 7, null, ''] }),
        policy({ 'policy-domain': 'c.example' }),
      ],
    });
    expect(r.organizationName).toBe('Company-X');
    expect(r.policies.map((p) => [p.policyType, p.policyDomain, p.mxHost])).toEqual([
      ['sts', 'example.com', ['mx1.example.com']],
      ['tlsa', 'b.example', ['a.mx', 'b.mx', '7']],
      ['sts', 'c.example', []],
    ]);
  });

  it('counts failures when failure-details is absent', () => {
    const r = parse({ ...base, policies: [policy({}, { 'total-successful-session-count': '5', 'total-failure-session-count': 3 })] });
    expect(r.policies[0]).toMatchObject({ successfulSessionCount: 5, failedSessionCount: 3, failureDetails: [] });
    expect(r.warnings).toEqual([]);
  });

  it('reads counts as integers or digit strings, and anything else as 0 with a warning', () => {
    const r = parse({
      ...base,
      policies: [
        policy({}, { 'total-successful-session-count': ' 12 ', 'total-failure-session-count': -4 }),
        policy({}, { 'total-successful-session-count': 1.5, 'total-failure-session-count': 'many' }),
        policy({}, { 'total-successful-session-count': 1e300, 'total-failure-session-count': [1] }),
      ],
    });
    expect(r.policies.map((p) => [p.successfulSessionCount, p.failedSessionCount])).toEqual([
      [12, 0],
      [0, 0],
      [0, 0],
    ]);
    const text = r.warnings.join('\n');
    expect(text).toMatch(/total-failure-session-count that are not non-negative integers were counted as 0: 3 in all \(-4; "many"; an array\)/);
    expect(text).toMatch(/total-successful-session-count .*: 2 in all/);
  });

  it('keeps a detail with an unusable count as 0, and drops one without result-type', () => {
    const r = parse({
      ...base,
      policies: [
        {
          ...policy({}, { 'total-failure-session-count': 9 }),
          'failure-details': [
            { 'result-type': 'Certificate-Expired', 'failed-session-count': 'lots', 'sending-mta-ip': '[192.0.2.1]', 'receiving-ip': 'mx.example' },
            { 'failed-session-count': 4 },
            'starttls-not-supported',
            { 'result-type': 'dane-required', 'failed-session-count': '5', 'receiving-mx-helo': ' MX.Example ' },
          ],
        },
      ],
    });
    expect(r.policies[0]!.failureDetails.map((d) => [d.resultType, d.failedSessionCount, d.sendingMtaIp, d.receivingIp, d.receivingMxHelo])).toEqual([
      ['certificate-expired', 0, '192.0.2.1', null, null],
      ['dane-required', 5, null, null, 'MX.Example'],
    ]);
    const text = r.warnings.join('\n');
    expect(text).toMatch(/failed-session-count .* counted as 0: 1 in all \("lots"\)/);
    expect(text).toMatch(/Failure details without result-type were dropped: 1 in all/);
    expect(text).toMatch(/Failure details that are not objects were dropped: 1 in all/);
    expect(text).toMatch(/receiving-ip that are not IP addresses were left out: 1 in all \("mx.example"\)/);
  });

  it('reads a single policy object where a list belongs, and warns about missing policies', () => {
    expect(parse({ ...base, policies: policy() }).policies).toHaveLength(1);
    const none = parse(base);
    expect(none.policies).toEqual([]);
    expect(none.warnings).toEqual(['The report has no policies field.']);
  });

  it('removes control characters, NUL included', () => {
    const r = parse({ ...base, 'report-id': 'id\u0000-1', policies: [policy({ 'policy-string': ['version: STSv1\u0000'] })] });
    expect(r.reportId).toBe('id-1');
    expect(r.policies[0]!.policyString).toEqual(['version: STSv1']);
  });
});

describe('dates', () => {
  const withRange = (start: unknown, end: unknown) => ({ ...base, 'date-range': { 'start-datetime': start, 'end-datetime': end }, policies: [] });

  it('reads dates without a time zone as UTC, with a warning', () => {
    const r = parse(withRange('2024-01-10T00:00:00', '2024-01-10T23:59:59'));
    expect([r.beginAt.toISOString(), r.endAt.toISOString()]).toEqual(['2024-01-10T00:00:00.000Z', '2024-01-10T23:59:59.000Z']);
    expect(r.warnings.filter((w) => /has no time zone; read as UTC/.test(w))).toHaveLength(2);
  });

  it('reads offsets, long fractions, lower-case separators, bare dates and leap seconds', () => {
    const r = parse(withRange('2024-01-10t02:00:00.1234567+02:00', '2024-01-10T23:59:60z'));
    expect(r.beginAt.toISOString()).toBe('2024-01-10T00:00:00.123Z');
    expect(r.endAt.toISOString()).toBe('2024-01-10T23:59:59.000Z');
    const bare = parse(withRange('2024-01-10', '2024-01-11'));
    expect(bare.beginAt.toISOString()).toBe('2024-01-10T00:00:00.000Z');
    expect(bare.warnings.join()).toMatch(/has no time; read as midnight UTC/);
  });

  it.each([
    ['yesterday', '2024-01-10T00:00:00Z'],
    ['2024-02-30T00:00:00Z', '2024-03-01T00:00:00Z'],
    ['2024-01-10T24:00:00Z', '2024-01-11T00:00:00Z'],
    [1704844800, '2024-01-11T00:00:00Z'],
  ])('refuses the unreadable date %j', (start, end) => {
    const error = refusal(JSON.stringify(withRange(start, end)));
    expect(error.code).toBe('invalid_report');
    expect(error.message).toMatch(/start-datetime .* is not an RFC 3339 date-time/);
  });

  it('refuses a range that ends before it begins', () => {
    const error = refusal(JSON.stringify(withRange('2024-01-11T00:00:00Z', '2024-01-10T00:00:00Z')));
    expect(error.code).toBe('invalid_report');
    expect(error.message).toMatch(/ends .* before it begins/);
  });
});

describe('refusals', () => {
  it('says where the JSON breaks', () => {
    const truncated = refusal('{\n  "organization-name": "x",\n  "policies": [');
    expect(truncated.code).toBe('malformed_json');
    expect(truncated.message).toMatch(/ends unexpectedly at line 3, column 16 \(character 45\); the file is probably truncated/);
    const comma = refusal('{"a": [1, 2,]}');
    expect(comma.message).toMatch(/unexpected "]}" at line 1, column 13 \(character 12\)/);
    expect(refusal('{"a": 1} trailing').message).toMatch(/unexpected "trailing" at line 1, column 10/);
    expect(refusal('{"a": "tab\there"}').message).toMatch(/column 11/);
    expect(refusal('{"a": "\\x"}').message).toMatch(/column 8/);
    expect(refusal('{"a": tru}').message).toMatch(/column 7/);
    expect(refusal('<?xml version="1.0"?><feedback/>').code).toBe('malformed_json');
  });

  it('accepts a UTF-8 BOM, and reads invalid UTF-8 and UTF-16 with a warning', () => {
    const json = JSON.stringify({ ...base, 'organization-name': 'Zoë Mail', policies: [policy()] });
    expect(parseTlsReport(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json)])).warnings).toEqual([]);
    const invalid = parseTlsReport(Buffer.from(json.replace('Zoë', 'Zo\u00eb'), 'latin1'));
    expect(invalid.organizationName).toBe('Zo\ufffd Mail');
    expect(invalid.warnings.join()).toMatch(/not valid UTF-8/);
    const utf16 = parseTlsReport(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(json, 'utf16le')]));
    expect(utf16.organizationName).toBe('Zoë Mail');
    expect(utf16.warnings.join()).toMatch(/UTF-16LE/);
  });

  it('tells a non-report from a report without identity', () => {
    expect(refusal('').code).toBe('empty');
    expect(refusal('[1,2,3]')).toMatchObject({ code: 'not_a_report', message: expect.stringMatching(/an array, not an object/) });
    expect(refusal('"hello"').code).toBe('not_a_report');
    expect(refusal('{"feedback": {"report_metadata": {}}}')).toMatchObject({ code: 'not_a_report', message: expect.stringMatching(/"feedback"/) });
    const missing = refusal(JSON.stringify({ 'organization-name': 'x', policies: [] }));
    expect(missing.code).toBe('missing_identity');
    expect(missing.message).toMatch(/has no report-id, date-range.start-datetime, date-range.end-datetime\./);
    const blank = refusal(JSON.stringify({ ...base, 'organization-name': '   ', 'report-id': null, policies: [] }));
    expect(blank.code).toBe('missing_identity');
    expect(blank.message).toMatch(/has no organization-name, report-id\./);
  });

  it('refuses identity values too long to be real', () => {
    const error = refusal(JSON.stringify({ ...base, 'report-id': 'x'.repeat(5000), policies: [] }));
    expect(error.code).toBe('invalid_report');
    expect(error.message).toMatch(/report-id is 5000 bytes long/);
  });
});

describe('hostile JSON', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('survives 100,000 levels of nested arrays', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(refusal(deep).code).toBe('not_a_report');
    const inside = `{"organization-name":"x","report-id":"y","date-range":{"start-datetime":"2024-01-01T00:00:00Z","end-datetime":"2024-01-02T00:00:00Z"},"policies":[${deep},{"policy":${deep},"summary":{"total-successful-session-count":${deep}},"failure-details":[${deep}]}]}`;
    const r = parseTlsReport(Buffer.from(inside));
    expect(r.policies).toHaveLength(1);
    expect(r.policies[0]).toMatchObject({ policyDomain: '', successfulSessionCount: 0, failureDetails: [] });
    expect(r.warnings.join('\n').length).toBeLessThan(2000);
    const unclosed = refusal('['.repeat(100_000));
    expect(unclosed.code).toBe('malformed_json');
    expect(unclosed.message).toMatch(/character 100000/);
  });

  it('surfaces a stack overflow inside JSON.parse as malformed_json', () => {
    vi.spyOn(JSON, 'parse').mockImplementation(() => {
      throw new RangeError('Maximum call stack size exceeded');
    });
    const error = refusal('[[[[]]]]');
    expect(error.code).toBe('malformed_json');
    expect(error.message).toMatch(/Maximum call stack size exceeded/);
  });

  it('keeps at most 10,000 policies from 10 MB of them', () => {
    const one = JSON.stringify({ ...policy({ 'policy-string': ['version: STSv1', 'mode: enforce', 'mx: mx.example.com', 'max_age: 604800'] }), 'failure-details': [] });
    const n = Math.ceil((10 * 1024 * 1024) / one.length);
    const json = `{"organization-name":"x","report-id":"y","date-range":${JSON.stringify(base['date-range'])},"policies":[${Array(n).fill(one).join(',')}]}`;
    expect(json.length).toBeGreaterThan(10 * 1024 * 1024);
    const started = Date.now();
    const r = parseTlsReport(Buffer.from(json));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(r.policies).toHaveLength(10_000);
    expect(r.warnings).toContain(`Only the first 10000 of ${n} policies were kept.`);
  });

  it('bounds failure details, list entries and string lengths', () => {
    const detail = { 'result-type': 'certificate-expired', 'failed-session-count': 1, 'sending-mta-ip': 'not an ip' };
    const r = parse({
      ...base,
      policies: [
        {
          ...policy({ 'policy-string': Array(5000).fill('mx: a.example'), 'mx-host': Array(3000).fill('a.example') }),
          'failure-details': [{ ...detail, 'additional-information': 'i'.repeat(100_000) }, ...Array(11_999).fill(detail)],
        },
      ],
    });
    const p = r.policies[0]!;
    expect(p.failureDetails).toHaveLength(10_000);
    expect(p.policyString).toHaveLength(1000);
    expect(p.mxHost).toHaveLength(1000);
    expect(p.failureDetails[0]!.additionalInformation!.length).toBe(4096);
    const text = r.warnings.join('\n');
    expect(text).toMatch(/only the first 10000 of 12000 failure details were kept/);
    expect(text).toMatch(/only the first 1000 of 5000 policy-string entries/);
    expect(text).toMatch(/sending-mta-ip that are not IP addresses were left out: 10000 in all \("not an ip"; "not an ip"; "not an ip"; 9997 more\)/);
    expect(r.warnings.length).toBeLessThan(10);
  });
});
