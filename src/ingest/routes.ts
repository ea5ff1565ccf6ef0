import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import { orgRoute } from '../api/define.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../api/pagination.js';
import { iso, orgParams, timestamp } from '../api/schemas.js';
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

/** The organisation's ingest log, newest first, after the (first_seen_at, id) of the previous page. */
export async function listIngestLog(db: Kysely<DB>, orgId: number, filter: IngestLogFilter, page: { limit: number; after: [string, number] | null }) {
  let query = db
    .selectFrom('ingest_log')
    .select(['id', 'source', 'item', 'sha256', 'kind', 'outcome', 'problem_code', 'problem', 'report_ref', 'records', 'first_seen_at', 'last_seen_at'])
    .where('org_id', '=', orgId);
  if (filter.outcome) query = query.where('outcome', '=', filter.outcome);
  if (filter.source !== undefined) query = query.where('source', '=', filter.source);
  if (filter.sourceType) query = query.where(sql<boolean>`starts_with(source, ${`${filter.sourceType}:`})`);
  if (page.after) query = query.where(sql<boolean>`(date_trunc('milliseconds', first_seen_at), id) < (${page.after[0]}::timestamptz, ${page.after[1]}::bigint)`);
  return query
    .orderBy(sql`date_trunc('milliseconds', first_seen_at)`, 'desc')
    .orderBy('id', 'desc')
    .limit(page.limit)
    .execute();
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
