import { sql, type Expression, type Kysely, type SqlBool } from 'kysely';
import type { DB } from '../../db/schema.js';
import { normalizeDomain, type ReportKind } from './kinds.js';

export interface ReportListFilter {
  kind?: ReportKind;
  /** Policy domain (aggregate), a policy's domain (TLS), reported domain (failure). */
  domain?: string;
  /** Reporting organisation's name (or e-mail address when it gave no name), any case. Failure reports carry none. */
  reporter?: string;
  /** Reports whose date range reaches into [from, to). */
  from?: Date;
  to?: Date;
  /** Only reports with (true) or without (false) failures: messages failing DMARC, failed TLS sessions; a failure report is one. */
  failures?: boolean;
}

/** Sort key of a list row: end of range (newest first by default), then kind, then id. */
export interface ReportListKey {
  at: Date;
  kind: ReportKind;
  id: number;
}

/** A row of the list before its details are read: which report, and its sort key. */
export type ReportListRow = ReportListKey;

/**
 * One page of an organisation's reports of every kind (or one kind), newest end of range first
 * (or oldest first with `direction: 'asc'`). Returns up to `limit` keys after `after`; the caller
 * reads the details of those few.
 */
export async function listReportKeys(
  db: Kysely<DB>,
  orgId: number,
  filter: ReportListFilter,
  page: { limit: number; after: ReportListKey | null; direction?: 'asc' | 'desc' },
): Promise<ReportListRow[]> {
  const direction = page.direction ?? 'desc';
  const past = direction === 'desc' ? sql.raw('<') : sql.raw('>');
  const kinds: ReportKind[] = filter.kind ? [filter.kind] : ['aggregate', 'tls', 'failure'];
  const domain = filter.domain === undefined ? undefined : normalizeDomain(filter.domain);
  const reporter = filter.reporter === undefined ? undefined : filter.reporter.trim().toLowerCase();
  const after = page.after;
  const before = (at: Expression<unknown>, kind: ReportKind, id: Expression<unknown>) =>
    after === null ? sql<SqlBool>`true` : sql<SqlBool>`(${at}, ${kind}::text, ${id}) ${past} (${after.at}::timestamptz, ${after.kind}::text, ${after.id}::bigint)`;
  const from = filter.from;
  const to = filter.to;

  const parts = [];
  if (kinds.includes('aggregate')) {
    let q = db
      .selectFrom('aggregate_report as r')
      .select([sql<ReportKind>`'aggregate'::text`.as('kind'), 'r.id', 'r.end_at as at'])
      .where('r.org_id', '=', orgId)
      .where(before(sql.ref('r.end_at'), 'aggregate', sql.ref('r.id')));
    if (domain !== undefined) q = q.where('r.policy_domain', '=', domain);
    if (reporter !== undefined) q = q.where('r.reporter_key', '=', reporter);
    if (from) q = q.where('r.end_at', '>=', from);
    if (to) q = q.where('r.begin_at', '<', to);
    if (filter.failures !== undefined) {
      const failing = sql<SqlBool>`exists (select 1 from aggregate_record f where f.report_id = r.id and f.org_id = r.org_id
        and f.message_count > 0 and f.dkim_eval is distinct from 'pass' and f.spf_eval is distinct from 'pass')`;
      q = q.where(filter.failures ? failing : sql<SqlBool>`not ${failing}`);
    }
    parts.push(q.orderBy('r.end_at', direction).orderBy('r.id', direction).limit(page.limit));
  }
  if (kinds.includes('tls')) {
    let q = db
      .selectFrom('tls_report as r')
      .select([sql<ReportKind>`'tls'::text`.as('kind'), 'r.id', 'r.end_at as at'])
      .where('r.org_id', '=', orgId)
      .where(before(sql.ref('r.end_at'), 'tls', sql.ref('r.id')));
    if (domain !== undefined) {
      q = q.where(sql<SqlBool>`exists (select 1 from tls_report_policy p where p.report_id = r.id and p.org_id = r.org_id and p.policy_domain = ${domain})`);
    }
    if (reporter !== undefined) q = q.where('r.reporter_key', '=', reporter);
    if (from) q = q.where('r.end_at', '>=', from);
    if (to) q = q.where('r.begin_at', '<', to);
    if (filter.failures !== undefined) q = q.where('r.failed_sessions', filter.failures ? '>' : '=', 0);
    parts.push(q.orderBy('r.end_at', direction).orderBy('r.id', direction).limit(page.limit));
  }
  if (kinds.includes('failure') && reporter === undefined && filter.failures !== false) {
    const at = failureReportTime('r');
    let q = db
      .selectFrom('failure_report as r')
      .select([sql<ReportKind>`'failure'::text`.as('kind'), 'r.id', at.as('at')])
      .where('r.org_id', '=', orgId)
      .where(before(at, 'failure', sql.ref('r.id')));
    if (domain !== undefined) q = q.where('r.reported_domain', '=', domain);
    if (from) q = q.where(at, '>=', from);
    if (to) q = q.where(at, '<', to);
    parts.push(q.orderBy(at, direction).orderBy('r.id', direction).limit(page.limit));
  }
  if (parts.length === 0) return [];

  // Each part is already cut to `limit` rows in its own order; the union keeps the best of them.
  const [first, ...rest] = parts.map((part, i) => db.selectFrom(part.as(`k${i}`)).selectAll());
  let union = first!;
  for (const part of rest) union = union.unionAll(part);
  const rows = await db
    .selectFrom(union.as('u'))
    .select(['u.kind', 'u.id', 'u.at'])
    .orderBy('u.at', direction)
    .orderBy('u.kind', direction)
    .orderBy('u.id', direction)
    .limit(page.limit)
    .execute();
  return rows.map((row) => ({ kind: row.kind, id: Number(row.id), at: new Date(row.at) }));
}

/**
 * When a failure report happened, to the millisecond (a cursor keeps milliseconds): the arrival of
 * the failed message, else the report's own date, else when it was received.
 */
export function failureReportTime(alias: string) {
  return sql<Date>`date_trunc('milliseconds', coalesce(${sql.ref(`${alias}.arrival_at`)}, ${sql.ref(`${alias}.report_date`)}, ${sql.ref(`${alias}.created_at`)}))`;
}
