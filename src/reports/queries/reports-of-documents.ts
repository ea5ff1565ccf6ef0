import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';
import type { ReportKind } from './kinds.js';

/**
 * The report each document (by hex SHA-256 of its bytes) was stored as, for the documents of the
 * organisation that became a report; the key is the hash.
 */
export async function reportsOfDocuments(db: Kysely<DB>, orgId: number, sha256s: string[]): Promise<Map<string, { kind: ReportKind; id: number }>> {
  const found = new Map<string, { kind: ReportKind; id: number }>();
  const hashes = [...new Set(sha256s)].map((hex) => Buffer.from(hex, 'hex'));
  if (hashes.length === 0) return found;
  const documents = db.selectFrom('raw_document as d').where('d.org_id', '=', orgId).where('d.sha256', 'in', hashes);
  const [aggregate, tls, failure] = await Promise.all([
    documents.innerJoin('aggregate_report as r', (j) => j.onRef('r.document_id', '=', 'd.id').on('r.org_id', '=', orgId)).select(['d.sha256', 'r.id']).execute(),
    documents.innerJoin('tls_report as r', (j) => j.onRef('r.document_id', '=', 'd.id').on('r.org_id', '=', orgId)).select(['d.sha256', 'r.id']).execute(),
    documents.innerJoin('failure_report as r', (j) => j.onRef('r.document_id', '=', 'd.id').on('r.org_id', '=', orgId)).select(['d.sha256', 'r.id']).execute(),
  ]);
  const add = (kind: ReportKind, rows: Array<{ sha256: Uint8Array; id: number }>) => {
    for (const row of rows) found.set(Buffer.from(row.sha256).toString('hex'), { kind, id: row.id });
  };
  add('aggregate', aggregate);
  add('tls', tls);
  add('failure', failure);
  return found;
}
