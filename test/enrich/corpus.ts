/**
 * The aggregate reports of the sample corpus (test/fixtures/corpus, see its MANIFEST.tsv for each
 * file's source, commit and licence), parsed with the real parser.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { extractFile } from '../../src/reports/extract/index.js';
import { parseAggregate } from '../../src/reports/parse/aggregate.js';
import type { AggregateReport } from '../../src/reports/types.js';

export const CORPUS = path.resolve(import.meta.dirname, '../fixtures/corpus');

/** Every report of one corpus file (plain XML, or the XML documents inside its containers). */
export async function corpusReports(file: string): Promise<AggregateReport[]> {
  const full = path.join(CORPUS, file);
  if (file.endsWith('.xml')) return [await parseAggregate(readFileSync(full))];
  const extracted = await extractFile(full);
  const reports: AggregateReport[] = [];
  for (const doc of extracted.documents) if (doc.format === 'xml') reports.push(await parseAggregate(doc.content.open()));
  return reports;
}

/** The corpus files the manifest marks as aggregate reports (bare or wrapped). */
export function aggregateFiles(): string[] {
  return readFileSync(path.join(CORPUS, 'MANIFEST.tsv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split('\t'))
    .filter((f) => f[4] === 'aggregate' || f[4] === 'eml-wrapped')
    .map((f) => f[0]!);
}
