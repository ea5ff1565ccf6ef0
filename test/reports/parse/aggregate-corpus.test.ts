/**
 * Every aggregate report of the sample corpus (test/fixtures/corpus, see its MANIFEST.tsv for
 * each file's source, commit and licence) goes through the parser: plain XML files directly,
 * gzip/zip/mail containers through the extract module.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractFile } from '../../../src/reports/extract/index.js';
import { parseAggregate } from '../../../src/reports/parse/aggregate.js';
import { ReportError, type AggregateReport, type ProblemCode } from '../../../src/reports/types.js';

const CORPUS = path.resolve(import.meta.dirname, '../../fixtures/corpus');

interface Row {
  path: string;
  kind: string;
  format: string;
  orgName: string;
  records: number | null;
  notes: string;
}

const rows: Row[] = readFileSync(path.join(CORPUS, 'MANIFEST.tsv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((line) => {
    const f = line.split('\t');
    return { path: f[0]!, kind: f[4]!, format: f[5]!, orgName: f[6]!, records: f[7] ? Number(f[7]) : null, notes: f[13] ?? '' };
  });

/**
 * What happens to each file the corpus marks `malformed`. Files whose problem the parser can
 * tolerate are accepted; the others are refused with the code given.
 */
const MALFORMED: Record<string, { accept: true } | { code: ProblemCode } | { noXml: true }> = {
  // whitespace before the XML declaration: tolerated
  'dmarc-parser/dmarc-1-space.xml': { accept: true },
  // its only record is an empty placeholder (like o2.pl's), dropped with a warning
  'dmarc-report-converter/test_empty.xml': { accept: true },
  // <data_range> instead of <date_range>
  'dmarc-report-parser__communitales/report_invalid_mindate.xml': { code: 'missing_identity' },
  // SPF results in mixed case and `HardFail`: kept, lower-cased
  'dmarc-report-viewer/invalid_casing.xml': { accept: true },
  // <report_metadata> never closed
  'dmarc_report_reader/malformed.xml': { code: 'malformed_xml' },
  // unescaped `<` in header_from, root never closed
  'OpenDMARC/bad.com!example.com!1337140800!1337227200.xml': { code: 'malformed_xml' },
  // a zip labelled gzip; the report inside is fine
  'modoboa-dmarc/Report_Domain_ngyn.org_Submitter_163.com_Report-ID_aggr_report_ngyn.org_20150705_163-failed.com.eml': {
    accept: true,
  },
  // policy_published without <domain>
  'modoboa-dmarc/Report_Domain_ngyn.org_Submitter_yahoo.com_Report-ID_1436111091.916236-ignored.eml': {
    code: 'missing_identity',
  },
  // a PNG inside .xml.gz, a corrupt zip: refused by extract, nothing reaches the parser
  'modoboa-dmarc/Report_Domain_ngyn.org_Submitter_amazon.com_Report-ID_aggr_report_ngyn.org_20210607-ignored.eml': {
    noXml: true,
  },
  'dmarc-report-milter/report-with-unreadable-zip.eml': { noXml: true },
};

/** Records dropped by the parser, from the warnings it kept. */
function dropped(report: AggregateReport): number {
  let n = 0;
  for (const w of report.warnings) {
    const m = /^Dropped (\d+) record/.exec(w);
    if (m) n += Number(m[1]);
  }
  return n;
}

type Outcome = { report: AggregateReport } | { error: ReportError };

/** Parses every XML document of a corpus file. */
async function parseFile(row: Row): Promise<Outcome[]> {
  const file = path.join(CORPUS, row.path);
  if (row.format === 'xml') return [await attempt(readFileSync(file))];
  const extracted = await extractFile(file);
  const outcomes: Outcome[] = [];
  for (const doc of extracted.documents) {
    if (doc.format === 'xml') outcomes.push(await attempt(doc.content.open()));
  }
  return outcomes;
}

async function attempt(source: Uint8Array | AsyncIterable<Uint8Array>): Promise<Outcome> {
  try {
    return { report: await parseAggregate(source) };
  } catch (error) {
    if (error instanceof ReportError) return { error };
    throw error;
  }
}

const aggregateRows = rows.filter((r) => r.kind === 'aggregate' || r.kind === 'eml-wrapped');
const malformedRows = rows.filter((r) => r.kind === 'malformed');

describe('corpus: aggregate reports', () => {
  it('has rows to test', () => {
    expect(aggregateRows.length).toBeGreaterThan(50);
  });

  it.each(aggregateRows.map((r) => [r.path, r] as const))('%s', async (_name, row) => {
    const outcomes = await parseFile(row);
    expect(outcomes.length).toBeGreaterThan(0);
    let parsed = 0;
    for (const outcome of outcomes) {
      if ('error' in outcome) throw outcome.error;
      parsed += outcome.report.records.length + dropped(outcome.report);
      expect(outcome.report.metadata.reportId).not.toBe('');
      expect(outcome.report.policy.domain).not.toBe('');
      expect(outcome.report.metadata.endAt.getTime()).toBeGreaterThanOrEqual(outcome.report.metadata.beginAt.getTime());
    }
    expect(parsed).toBe(row.records);
    if (row.format === 'xml') {
      const report = (outcomes[0] as { report: AggregateReport }).report;
      expect(report.metadata.orgName).toBe(row.orgName);
    }
  });
});

describe('corpus: malformed files', () => {
  it('has an expectation for every malformed row', () => {
    expect(malformedRows.map((r) => r.path).sort()).toEqual(Object.keys(MALFORMED).sort());
  });

  it.each(malformedRows.map((r) => [r.path, r] as const))('%s', async (_name, row) => {
    const expected = MALFORMED[row.path]!;
    const outcomes = await parseFile(row);
    if ('noXml' in expected) {
      expect(outcomes).toHaveLength(0);
      return;
    }
    expect(outcomes).toHaveLength(1);
    const outcome = outcomes[0]!;
    if ('code' in expected) {
      expect('error' in outcome ? outcome.error.code : 'parsed').toBe(expected.code);
      return;
    }
    if ('error' in outcome) throw outcome.error;
    expect(outcome.report.records.length + dropped(outcome.report)).toBe(row.records);
  });

  it('explains malformed XML with a position and what was expected', async () => {
    const [outcome] = await parseFile(malformedRows.find((r) => r.path === 'dmarc_report_reader/malformed.xml')!);
    expect('error' in outcome! && outcome.error.message).toBe(
      'The XML is malformed at line 9, column 11: expected </report_metadata> but found a different closing tag: ' +
        '<report_metadata> is never closed or the tag names do not match.',
    );
  });

  it('names the unrecognised element when the date range is missing', async () => {
    const [outcome] = await parseFile(malformedRows.find((r) => r.path.endsWith('report_invalid_mindate.xml'))!);
    expect('error' in outcome! && outcome.error.message).toMatch(/no report_metadata\/date_range\b.*<data_range>/);
  });

  it('drops the placeholder record of test_empty.xml with a warning', async () => {
    const [outcome] = await parseFile(malformedRows.find((r) => r.path.endsWith('test_empty.xml'))!);
    if (!outcome || 'error' in outcome) throw new Error('expected a report');
    expect(outcome.report.records).toEqual([]);
    expect(outcome.report.warnings).toEqual(['Dropped 1 record whose source_ip is empty or not an IP address (record 1: "").']);
  });

  it('keeps the mixed-case SPF results of invalid_casing.xml, lower-cased', async () => {
    const [outcome] = await parseFile(malformedRows.find((r) => r.path.endsWith('invalid_casing.xml'))!);
    if (!outcome || 'error' in outcome) throw new Error('expected a report');
    expect(outcome.report.records[0]!.spfResults.map((s) => s.result)).toEqual([
      'none',
      'neutral',
      'pass',
      'fail',
      'hardfail',
      'softfail',
      'temperror',
      'permerror',
    ]);
  });
});
