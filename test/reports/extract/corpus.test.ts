import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { extractFile } from '../../../src/reports/extract/index.js';
import type { ExtractResult } from '../../../src/reports/types.js';
import { summary } from './fixtures.js';

const CORPUS = fileURLToPath(new URL('../../fixtures/corpus/', import.meta.url));

interface Row {
  file: string;
  kind: string;
  format: string;
  payload: string;
  sha256: string;
  notes: string;
}

const rows: Row[] = readFileSync(path.join(CORPUS, 'MANIFEST.tsv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((line) => {
    const cells = line.split('\t');
    return { file: cells[0]!, kind: cells[4]!, format: cells[5]!, payload: cells[10]!, sha256: cells[12]!, notes: cells[13]! };
  });

/**
 * The document name the MANIFEST payload chain implies: every mail attachment and zip entry
 * adds its name; gzip adds nothing. `eml:application/zip[a.zip](base64) > zip:a.xml` → `x.eml › a.zip › a.xml`.
 */
function expectedName(row: Row): string {
  let name = path.basename(row.file);
  for (const step of row.payload.split(' > ')) {
    const attachment = /^eml:[^[]+\[(.+)\]/.exec(step);
    if (attachment) name += ` › ${attachment[1]}`;
    if (step.startsWith('zip:')) name += ` › ${step.slice(4) || '(unnamed entry 1)'}`;
  }
  return name;
}

/** Rows whose outcome differs from what kind + payload imply, for reasons in the file itself. */
const QUIRKS: Record<string, (result: ExtractResult, row: Row) => void> = {
  // the 512 bytes in the application/zip part are random: no zip signature, nothing to sniff
  'dmarc-report-milter/report-with-unreadable-zip.eml': (result) => {
    expect(summary(result)).toEqual({
      documents: [],
      problems: ['corrupt_zip report-with-unreadable-zip.eml › google.com!example.net!1728777600!1728863999.zip'],
      messages: 1,
    });
    expect(result.problems[0]!.message).toContain('declared as zip data');
  },
  // the attachment named *.xml.gz inflates to a PNG image
  'modoboa-dmarc/Report_Domain_ngyn.org_Submitter_amazon.com_Report-ID_aggr_report_ngyn.org_20210607-ignored.eml': (result) => {
    expect(summary(result)).toEqual({
      documents: [],
      problems: [
        'not_a_report Report_Domain_ngyn.org_Submitter_amazon.com_Report-ID_aggr_report_ngyn.org_20210607-ignored.eml › amazonses.com!ngyn.org!1622937600!1623024000.xml.gz',
      ],
      messages: 1,
    });
    expect(result.problems[0]!.message).toContain('PNG');
  },
  // three reports in one archive; the manifest names only the first
  'dmarc_report_reader/multi-report.zip': (result) => {
    expect(summary(result).documents).toEqual([
      'xml multi-report.zip › google.com!example.com!1704067200!1704153599.xml',
      'xml multi-report.zip › microsoft.com!example.com!1704067200!1704153599.xml',
      'xml multi-report.zip › yahoo.com!example.com!1704067200!1704153599.xml',
    ]);
  },
};

describe('corpus', () => {
  it('has every file of the manifest', () => {
    expect(rows).toHaveLength(139);
  });

  it.each(rows.map((row) => [row.file, row] as const))('%s', async (_, row) => {
    const result = await extractFile(path.join(CORPUS, row.file));
    const quirk = QUIRKS[row.file];
    if (quirk) return quirk(result, row);

    expect(result.problems).toEqual([]);
    expect(result.messages).toBe(row.format === 'eml' ? 1 : 0);
    expect(result.documents).toHaveLength(1);
    const [doc] = result.documents;
    if (row.kind === 'forensic' || row.kind === 'other') {
      // ARF failure reports and feedback-loop messages: the whole message goes to the failure parser
      expect(doc!.format).toBe('arf');
      expect(doc!.name).toBe(path.basename(row.file));
      return;
    }
    expect(doc!.format).toBe(row.kind === 'tlsrpt' ? 'json' : 'xml');
    expect(doc!.name).toBe(expectedName(row));
    if (row.format === 'xml' || row.format === 'json') {
      // a plain file is its own document, byte for byte
      expect(doc!.sha256).toBe(row.sha256);
    }
  });

  it('gives the same identity to one report in every wrapper', async () => {
    const names = ['test.xml', 'test.xml.gz', 'test.xml.gz.gz', 'test.xml.zip'];
    const hashes = await Promise.all(names.map(async (name) => (await extractFile(path.join(CORPUS, 'dmarc-report-converter', name))).documents[0]!.sha256));
    expect(new Set(hashes).size).toBe(1);
  });
});
