import { sql, type Kysely, type Selectable } from 'kysely';
import { z } from 'zod';
import { orgRoute } from '../api/define.js';
import { badRequest } from '../api/errors.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../api/pagination.js';
import { iso, orgParams, timestamp } from '../api/schemas.js';
import { orderedAfter, toMillisecond, type ListOrder, type SortCursor, type SortKey } from '../db/keyset.js';
import type { AuditEvent, DB } from '../db/schema.js';
import { exportAuditJsonl } from './export.js';
import { AUDIT_EVENT_COLUMNS, auditChainName } from './record.js';

const seqParam = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export type AuditEventRow = Pick<Selectable<AuditEvent>, (typeof AUDIT_EVENT_COLUMNS)[number]>;

/** "type id" of an event's target, or null when it has none (as the audit page shows and sorts it). */
export function auditTargetText(row: Pick<AuditEventRow, 'target_type' | 'target_id'>): string | null {
  return row.target_type === null ? null : [row.target_type, row.target_id].filter((part) => part !== null).join(' ');
}

/** What the audit page can be sorted by (its column keys); newest first (by seq) by default. A cursor's id is the seq. */
export const AUDIT_SORT: Record<'seq' | 'time' | 'action' | 'target' | 'ip', SortKey<AuditEventRow>> = {
  seq: { sql: sql.ref('seq'), type: 'number', of: (r) => Number(r.seq) },
  time: { sql: toMillisecond(sql.ref('created_at')), type: 'time', of: (r) => new Date(r.created_at) },
  action: { sql: sql.ref('action'), type: 'text', of: (r) => r.action },
  target: { sql: sql`case when target_type is null then null else concat_ws(' ', target_type, target_id) end`, type: 'text', nullable: true, of: auditTargetText },
  ip: { sql: sql.ref('ip'), type: 'text', nullable: true, of: (r) => r.ip },
};
export type AuditSort = keyof typeof AUDIT_SORT;

/** The organisation's events after the cursor's (sort value, seq): newest first unless another order is asked for. */
export async function auditPage(
  db: Kysely<DB>,
  orgId: number,
  filter: { action?: string },
  page: { limit: number; after: SortCursor | null; order?: ListOrder<AuditSort> },
): Promise<AuditEventRow[]> {
  const order = page.order ?? { by: 'seq', dir: 'desc' };
  let query = db.selectFrom('audit_event').select(AUDIT_EVENT_COLUMNS).where('chain', '=', auditChainName(orgId));
  if (filter.action !== undefined) query = query.where('action', '=', filter.action);
  return orderedAfter(query, AUDIT_SORT[order.by], order.dir, sql.ref('seq'), page.after).limit(page.limit).execute();
}

/** The seq after which the events from `since` on follow (every event of the chain is numbered in time order). */
async function seqBefore(db: Kysely<DB>, orgId: number, since: Date): Promise<number> {
  const row = await db
    .selectFrom('audit_event')
    .select(sql<number | null>`max(seq)`.as('seq'))
    .where('chain', '=', auditChainName(orgId))
    .where('created_at', '<', since)
    .executeTakeFirst();
  return Number(row?.seq ?? 0);
}

const event = z.object({
  seq: z.number().int().describe('Position in the organisation’s chain, from 1, without gaps.'),
  id: z.number().int(),
  createdAt: timestamp,
  actor: z.object({ type: z.enum(['user', 'api_key', 'system']), id: z.string().nullable() }),
  action: z.string().describe('Dotted verb, e.g. member.role_change, api_key.revoke, report.upload.'),
  target: z.object({ type: z.string(), id: z.string().nullable() }).nullable(),
  summary: z.record(z.string(), z.unknown()).describe('Before/after summary; never secrets.'),
  ip: z.string().nullable(),
  prevHash: z.string().describe('Hash of the previous event (hex).'),
  hash: z.string().describe('sha256(prevHash || canonical event) (hex): verify with `dmarcwatch audit verify`.'),
});

export const auditApi = [
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/audit-log',
    operationId: 'listAuditEvents',
    summary: "The organisation's audit trail, newest first",
    tag: 'Audit log',
    permission: 'admin',
    params: orgParams,
    query: pageQuery.extend({ action: z.string().min(1).max(100).optional().describe('Only events with this action.') }),
    response: pageOf(event),
    handler: async ({ db, org, query }) => {
      const before = decodeCursor(query.cursor, z.tuple([z.number().int().min(1)]));
      const rows = await auditPage(db, org.orgId, query.action ? { action: query.action } : {}, { limit: query.limit + 1, after: before ? [before[0], before[0]] : null });
      return toPage(
        rows,
        query.limit,
        (r) => [Number(r.seq)],
        (r) => ({
          seq: Number(r.seq),
          id: Number(r.id),
          createdAt: iso(r.created_at),
          actor: { type: r.actor_type as 'user' | 'api_key' | 'system', id: r.actor_id },
          action: r.action,
          target: r.target_type === null ? null : { type: r.target_type, id: r.target_id },
          summary: (r.summary ?? {}) as Record<string, unknown>,
          ip: r.ip,
          prevHash: Buffer.from(r.prev_hash).toString('hex'),
          hash: Buffer.from(r.hash).toString('hex'),
        }),
      );
    },
  }),
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/audit-log/export',
    operationId: 'exportAuditEvents',
    summary: 'Export the audit trail as JSON lines (for a SIEM)',
    description:
      'application/x-ndjson: one event per line in seq order, oldest first, with every hashed field, so a copy can be verified away from the server. ' +
      'Resume with `after` = the last `seq` received, or start at a time with `since`. The export streams; it never holds the whole log in memory.',
    tag: 'Audit log',
    permission: 'admin',
    params: orgParams,
    query: z.object({
      after: seqParam.optional().describe('Only events after this seq (the last one received).'),
      since: z.iso.datetime({ offset: true }).optional().describe('Only events from this time on.'),
      limit: z.coerce.number().int().min(1).max(1_000_000).optional().describe('At most this many events; all by default.'),
    }),
    response: 'binary',
    errors: { 400: 'Both `after` and `since` were given.' },
    handler: async ({ db, org, query }) => {
      if (query.after !== undefined && query.since !== undefined) throw badRequest('Give `after` or `since`, not both.');
      const after = query.since !== undefined ? await seqBefore(db, org.orgId, new Date(query.since)) : (query.after ?? 0);
      const lines = exportAuditJsonl(db, org.orgId, { after, ...(query.limit ? { limit: query.limit } : {}) });
      const encoder = new TextEncoder();
      // Pulled line by line as the client reads: a slow SIEM holds one batch, never the whole log.
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const next = await lines.next();
          if (next.done) controller.close();
          else controller.enqueue(encoder.encode(next.value));
        },
        async cancel() {
          await lines.return(undefined);
        },
      });
      return new Response(body, {
        status: 200,
        headers: {
          'content-type': 'application/x-ndjson; charset=utf-8',
          'content-disposition': `attachment; filename="audit-${org.slug}-after-${after}.jsonl"`,
          'cache-control': 'no-store',
        },
      });
    },
  }),
];
