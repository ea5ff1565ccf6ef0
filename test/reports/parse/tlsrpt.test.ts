import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractFile } from '../../../src/reports/extract/index.js';
import { collectBytes } from '../../../src/ingest/raw-archive.js';
import { parseTlsReport } from '../../../src/reports/parse/tlsrpt.js';
import { ReportError } from '../../../src/reports/types.js';

const CORPUS = path.resolve(import.meta.dirname, '../../fixtures/corpus');
const rows = fs
  .readFileSync(path.join(CORPUS, 'MANIFEST.tsv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((line) => line.split('\t'))
  .filter((cols) => cols[4] === 'tlsrpt')
  .map((cols) => cols[0]!);

const num = (v: unknown) => (v === undefined || v === null ? 0 : Number(v));

function refusal(text: string): ReportError {
  try {
    parseTlsReport(Buffer.from(text));
  } catch (error) {
    if (error instanceof ReportError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('parseTlsReport on every TLS-RPT sample', () => {
  it.each(rows)('%s', async (file) => {
    const extracted = await extractFile(path.join(CORPUS, file));
    const json = extracted.documents.filter((d) => d.format === 'json');
    expect(json).toHaveLength(1);
    const bytes = await collectBytes(json[0]!.content.open());
    const report = parseTlsReport(bytes);
    // Independent reading of the same JSON for the expected figures.
    const raw = JSON.parse(bytes.toString('utf8').replace(/^\uFEFF/, '')) as {
      'organization-name': string;
      'report-id': string;
      policies: { summary: Record<string, unknown>; 'failure-details'?: unknown[] }[];
    };
    expect(report.organizationName).toBe(raw['organization-name'].trim());
    expect(report.reportId).toBe(String(raw['report-id']).trim());
    expect(report.policies).toHaveLength(raw.policies.length);
    const sum = (key: string) => raw.policies.reduce((s, p) => s + num(p.summary[key]), 0);
    expect(report.policies.reduce((s, p) => s + p.successfulSessionCount, 0)).toBe(sum('total-successful-session-count'));
    expect(report.policies.reduce((s, p) => s + p.failedSessionCount, 0)).toBe(sum('total-failure-session-count'));
    expect(report.endAt.getTime()).toBeGreaterThanOrEqual(report.beginAt.getTime());
  });
});

const base = {
  'organization-name': 'Company-X',
  'date-range': { 'start-datetime': '2016-04-01T00:00:00Z', 'end-datetime': '2016-04-01T23:59:59Z' },
  'contact-info': 'sts-reporting@company-x.example',
  'report-id': '5065427c-23d3-47ca-b6e0-946ea0e8c4be',
};

describe('parseTlsReport edge cases', () => {
  it('takes mx-host as a string or an array, and lower-cases domains', () => {
    const report = parseTlsReport(
      Buffer.from(
        JSON.stringify({
          ...base,
          policies: [
            { policy: { 'policy-type': 'STS', 'policy-domain': 'Example.COM', 'mx-host': 'MX1.example.com' }, summary: {} },
            { policy: { 'policy-type': 'tlsa', 'policy-domain': 'b.example', 'mx-host': ['a.mx', 'b.mx'] }, summary: {} },
          ],
        }),
      ),
    );
    expect(report.policies.map((p) => [p.policyType, p.policyDomain, p.mxHost])).toEqual([
      ['sts', 'example.com', ['mx1.example.com']],
      ['tlsa', 'b.example', ['a.mx', 'b.mx']],
    ]);
  });

  it('reads dates without a time zone as UTC, with a warning', () => {
    const report = parseTlsReport(
      Buffer.from(JSON.stringify({ ...base, 'date-range': { 'start-datetime': '2024-01-10T00:00:00', 'end-datetime': '2024-01-10T23:59:59' }, policies: [] })),
    );
    expect(report.beginAt.toISOString()).toBe('2024-01-10T00:00:00.000Z');
    expect(report.warnings.join()).toMatch(/no time zone/);
  });

  it('counts failures even when failure details are absent', () => {
    const report = parseTlsReport(
      Buffer.from(
        JSON.stringify({
          ...base,
          policies: [{ policy: { 'policy-type': 'sts', 'policy-domain': 'x.example' }, summary: { 'total-successful-session-count': '5', 'total-failure-session-count': 3 } }],
        }),
      ),
    );
    expect(report.policies[0]).toMatchObject({ successfulSessionCount: 5, failedSessionCount: 3, failureDetails: [] });
  });

  it('refuses what it cannot use, saying why', () => {
    expect(refusal('{"organization-name": "x", ').code).toBe('malformed_json');
    expect(refusal('[1,2,3]').code).toBe('not_a_report');
    expect(refusal('{"hello": "world"}').code).toBe('not_a_report');
    const missing = refusal(JSON.stringify({ 'organization-name': 'x', policies: [] }));
    expect(missing.code).toBe('missing_identity');
    expect(missing.message).toMatch(/report-id.*start-datetime/);
  });

  it('survives hostile nesting and sizes', () => {
    expect(refusal('['.repeat(200_000) + ']'.repeat(200_000)).code).toMatch(/malformed_json|not_a_report/);
    const many = { ...base, policies: Array.from({ length: 12_000 }, (_, i) => ({ policy: { 'policy-domain': `d${i}.example` }, summary: {} })) };
    const report = parseTlsReport(Buffer.from(JSON.stringify(many)));
    expect(report.policies).toHaveLength(10_000);
    expect(report.warnings.join()).toMatch(/first 10000 policies/);
  });
});
