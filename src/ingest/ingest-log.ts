import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { DocumentOutcome } from './types.js';

export interface LogEntry extends DocumentOutcome {
  orgId: number;
  source: string;
  sha256: Uint8Array | null;
  documentId: number | null;
}

/** One row per (source, item): a re-run of the same source only refreshes `last_seen_at`. */
export async function writeIngestLog(db: Kysely<DB>, entry: LogEntry): Promise<void> {
  await db
    .insertInto('ingest_log')
    .values({
      org_id: entry.orgId,
      source: entry.source,
      item: entry.item,
      sha256: entry.sha256,
      document_id: entry.documentId,
      kind: entry.kind,
      outcome: entry.outcome,
      problem_code: entry.problemCode,
      problem: entry.problem,
      report_ref: entry.reportRef,
      records: entry.records,
    })
    .onConflict((oc) => oc.columns(['org_id', 'source', 'item']).doUpdateSet({ last_seen_at: sql`now()` }))
    .execute();
}
