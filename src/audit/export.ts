import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { canonicalJson } from './canonical-json.js';
import { AUDIT_EVENT_COLUMNS, auditChainName } from './record.js';

export interface AuditExportOptions {
  /** Export events with a seq greater than this (the last seq of the previous page); default 0. */
  after?: number;
  /** At most this many events; default all. */
  limit?: number;
  /** Events read per query. */
  batchSize?: number;
}

/** One exported event: every hashed field, so a copy can be re-verified away from the database. */
export interface AuditExportLine {
  chain: string;
  seq: number;
  id: number;
  org_id: number | null;
  created_at: string;
  actor_type: string;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  summary: unknown;
  prev_hash: string;
  hash: string;
}

/**
 * The chain of an organisation (or the instance chain, for null) as JSON lines in seq order, each
 * string one event ending in "\n", keys sorted so that two exports of an event are byte-identical.
 * Page with `after` = the last seq received. Reads by chain name, so the events of a deleted
 * organisation (org_id set to null) still export under its id.
 */
export async function* exportAuditJsonl(
  db: Kysely<DB>,
  orgId: number | null,
  options: AuditExportOptions = {},
): AsyncGenerator<string, void, undefined> {
  const chain = auditChainName(orgId);
  let after = options.after ?? 0;
  let remaining = options.limit ?? Number.POSITIVE_INFINITY;
  const batchSize = options.batchSize ?? 500;
  if (!Number.isSafeInteger(after) || after < 0) throw new RangeError('after must be a seq (an integer ≥ 0)');
  if (remaining !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(remaining) || remaining < 1)) {
    throw new RangeError('limit must be a positive integer');
  }
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');

  while (remaining > 0) {
    const take = Math.min(batchSize, remaining);
    const rows = await db
      .selectFrom('audit_event')
      .select([...AUDIT_EVENT_COLUMNS, 'org_id'])
      .where('chain', '=', chain)
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(take)
      .execute();
    for (const row of rows) {
      const line: AuditExportLine = {
        chain: row.chain,
        seq: Number(row.seq),
        id: Number(row.id),
        org_id: row.org_id === null ? null : Number(row.org_id),
        created_at: row.created_at.toISOString(),
        actor_type: row.actor_type,
        actor_id: row.actor_id,
        action: row.action,
        target_type: row.target_type,
        target_id: row.target_id,
        ip: row.ip,
        summary: row.summary,
        prev_hash: Buffer.from(row.prev_hash).toString('hex'),
        hash: Buffer.from(row.hash).toString('hex'),
      };
      yield `${canonicalJson(line)}\n`;
    }
    if (rows.length < take) return;
    after = Number(rows[rows.length - 1]!.seq);
    remaining -= rows.length;
  }
}
