import type { ExtractResult } from '../reports/types.js';
import { recordProblem } from './documents.js';
import { ingestDocument } from './ingest-document.js';
import type { DocumentOutcome, IngestContext } from './types.js';

/** Stores every document of one extraction and logs every problem; one bad part never stops the rest. */
export async function ingestExtracted(ctx: IngestContext, extracted: ExtractResult): Promise<DocumentOutcome[]> {
  const outcomes: DocumentOutcome[] = [];
  for (const problem of extracted.problems) outcomes.push(await recordProblem(ctx, problem));
  for (const doc of extracted.documents) outcomes.push(await ingestDocument(ctx, doc));
  return outcomes;
}

/** A mail is worth keeping as processed when it carried at least one report (new or already known). */
export function mailVerdict(outcomes: DocumentOutcome[]): 'processed' | 'invalid' {
  return outcomes.some((o) => o.outcome === 'stored' || o.outcome === 'duplicate') ? 'processed' : 'invalid';
}
