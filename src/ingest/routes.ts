import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import { orgRoute } from '../api/define.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../api/pagination.js';
import { iso, orgParams, timestamp } from '../api/schemas.js';
import { orderedAfter, toMillisecond, type ListOrder, type SortCursor, type SortKey } from '../db/keyset.js';
import type { DB } from '../db/schema.js';
import { reportKindOf } from '../reports/queries/kinds.js';
import type { Outcome, ReportKind } from './types.js';

export const OUTCOMES = ['stored', 'duplicate', 'refused', 'not_a_report'] as const;
export const SOURCE_TYPES = ['upload', 'file', 'imap', 'pop3'] as const;

export interface IngestLogFilter {
  outcome?: Outcome;
  /** The kind of source: every source named `<type>:…`. */
  sourceType?: (typeof SOURCE_TYPES)[number];
  /** One source exactly, as listed. */
  source?: string;
}

export interface IngestLogRow {
  id: number;
  source: string;
  item: string;
  sha256: Uint8Array | null;
  kind: string | null;
  outcome: string;
  problem_code: string | null;
  problem: string | null;
  report_ref: string | null;
  records: number;
  first_seen_at: Date;
  last_seen_at: Date;
}

/** What the ingest log can be sorted by (the web page's column keys); `seen` is the default, newest first. */
export const INGEST_LOG_SORT: Record<'seen' | 'outcome' | 'kind' | 'reason' | 'source' | 'item' | 'report' | 'lastSeen', SortKey<IngestLogRow>> = {
  seen: { sql: toMillisecond(sql.ref('first_seen_at')), type: 'time', of: (r) => new Date(r.first_seen_at) },
  outcome: { sql: sql.ref('outcome'), type: 'text', of: (r) => r.outcome },
  kind: { sql: sql.ref('kind'), type: 'text', nullable: true, of: (r) => r.kind },
  reason: { sql: sql.ref('problem'), type: 'text', nullable: true, of: (r) => r.problem },
  source: { sql: sql.ref('source'), type: 'text', of: (r) => r.source },
  item: { sql: sql.ref('item'), type: 'text', of: (r) => r.item },
  report: { sql: sql.ref('report_ref'), type: 'text', nullable: true, of: (r) => r.report_ref },
  lastSeen: { sql: toMillisecond(sql.ref('last_seen_at')), type: 'time', of: (r) => new Date(r.last_seen_at) },
};
export type IngestLogSort = keyof typeof INGEST_LOG_SORT;

/** The organisation's ingest log in the order asked for (newest first by default), after the cursor of the previous page. */
export async function listIngestLog(
  db: Kysely<DB>,
  orgId: number,
  filter: IngestLogFilter,
  page: { limit: number; after: SortCursor | null; order?: ListOrder<IngestLogSort> },
): Promise<IngestLogRow[]> {
  const order = page.order ?? { by: 'seen', dir: 'desc' };
  let query = db
    .selectFrom('ingest_log')
    .select(['id', 'source', 'item', 'sha256', 'kind', 'outcome', 'problem_code', 'problem', 'report_ref', 'records', 'first_seen_at', 'last_seen_at'])
    .where('org_id', '=', orgId);
  if (filter.outcome) query = query.where('outcome', '=', filter.outcome);
  if (filter.source !== undefined) query = query.where('source', '=', filter.source);
  if (filter.sourceType) query = query.where(sql<boolean>`starts_with(source, ${`${filter.sourceType}:`})`);
  return orderedAfter(query, INGEST_LOG_SORT[order.by], order.dir, sql.ref('id'), page.after).limit(page.limit).execute();
}

const entry = z.object({
  id: z.number().int(),
  source: z.string().describe('Where the document came from: `upload:<hash>:<file>`, `file:<path>`, `imap:<mailbox>:…`, `pop3:…`.'),
  item: z.string().describe('The document inside it: `name › part › entry`.'),
  sha256: z.string().nullable().describe('SHA-256 of the document (hex); null for a wrapper refused before any document came out.'),
  kind: z.enum(['aggregate', 'tls', 'failure']).nullable(),
  outcome: z.enum(OUTCOMES),
  problemCode: z.string().nullable(),
  reason: z.string().nullable().describe('In words: why it was refused or skipped, or the warnings of a stored report.'),
  reportRef: z.string().nullable(),
  records: z.number().int(),
  firstSeenAt: timestamp,
  lastSeenAt: timestamp.describe('Moves when the same source offers the same document again.'),
});

export const ingestApi = [
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/ingest-log',
    operationId: 'listIngestLog',
    summary: 'Every document seen, with its outcome, newest first',
    description: 'One entry per document per source: a re-read of the same source (a re-run import, the same file uploaded again) moves `lastSeenAt` and adds nothing.',
    tag: 'Ingest log',
    permission: 'read',
    params: orgParams,
    query: pageQuery.extend({
      outcome: z.enum(OUTCOMES).optional(),
      sourceType: z.enum(SOURCE_TYPES).optional().describe('Only documents from this kind of source.'),
      source: z.string().min(1).max(2000).optional().describe('Only documents from this source, exactly as listed.'),
    }),
    response: pageOf(entry),
    handler: async ({ db, org, query }) => {
      const after = decodeCursor(query.cursor, z.tuple([z.iso.datetime(), z.number().int()]));
      const rows = await listIngestLog(
        db,
        org.orgId,
        { ...(query.outcome ? { outcome: query.outcome } : {}), ...(query.sourceType ? { sourceType: query.sourceType } : {}), ...(query.source ? { source: query.source } : {}) },
        { limit: query.limit + 1, after },
      );
      return toPage(
        rows,
        query.limit,
        (r) => [new Date(r.first_seen_at).toISOString(), r.id],
        (r) => ({
          id: r.id,
          source: r.source,
          item: r.item,
          sha256: r.sha256 === null ? null : Buffer.from(r.sha256).toString('hex'),
          kind: r.kind === null ? null : reportKindOf(r.kind as ReportKind),
          outcome: r.outcome as Outcome,
          problemCode: r.problem_code,
          reason: r.problem,
          reportRef: r.report_ref,
          records: r.records,
          firstSeenAt: iso(r.first_seen_at),
          lastSeenAt: iso(r.last_seen_at),
        }),
      );
    },
  }),
];
