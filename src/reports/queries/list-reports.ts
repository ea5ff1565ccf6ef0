import { sql, type Expression, type Kysely, type SqlBool } from 'kysely';
import type { DB } from '../../db/schema.js';
import { normalizeDomain, type ReportKind } from './kinds.js';
import type { ReportSummary } from './report-summaries.js';

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

/**
 * One page of an organisation's reports of every kind (or one kind), newest end of range first
 * (or oldest first with `direction: 'asc'`). Selects up to `limit`
 * keys after `after` (null when the filter excludes every kind).
 */
function reportKeysQuery(
  db: Kysely<DB>,
  orgId: number,
  filter: ReportListFilter,
  page: { limit: number; after: ReportListKey | null; direction?: 'asc' | 'desc' },
) {
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
  if (parts.length === 0) return null;

  // Each part is already cut to `limit` rows in its own order; the union keeps the best of them.
  const [first, ...rest] = parts.map((part, i) => db.selectFrom(part.as(`k${i}`)).selectAll());
  let union = first!;
  for (const part of rest) union = union.unionAll(part);
  return db
    .selectFrom(union.as('u'))
    .select(['u.kind', 'u.id', 'u.at'])
    .orderBy('u.at', direction)
    .orderBy('u.kind', direction)
    .orderBy('u.id', direction)
    .limit(page.limit);
}

interface ReportListDbRow {
  kind: ReportKind;
  id: number;
  at: Date;
  reporter_org: string | null;
  reporter_email: string | null;
  a_external_id: string | null;
  policy_domain: string | null;
  policy_p: string | null;
  a_begin: Date | null;
  a_end: Date | null;
  a_created: Date | null;
  message_count: number | null;
  record_count: number | null;
  warning_count: number | null;
  organization_name: string | null;
  t_external_id: string | null;
  t_begin: Date | null;
  t_end: Date | null;
  t_created: Date | null;
  successful_sessions: number | null;
  failed_sessions: number | null;
  domains: string[] | null;
  reported_domain: string | null;
  source_ip: string | null;
  feedback_type: string | null;
  auth_failure: string | null;
  delivery_result: string | null;
  f_created: Date | null;
}

/**
 * A page of the list with every report's list fields, in one statement: the keys of the page,
 * then the report rows they name. What the API and the pages show; `at` is the sort key.
 */
export async function listReports(
  db: Kysely<DB>,
  orgId: number,
  filter: ReportListFilter,
  page: { limit: number; after: ReportListKey | null; direction?: 'asc' | 'desc' },
): Promise<Array<ReportSummary & { at: Date }>> {
  const keys = reportKeysQuery(db, orgId, filter, page);
  if (keys === null) return [];
  const direction = sql.raw(page.direction === 'asc' ? 'asc' : 'desc');
  const result = await sql<ReportListDbRow>`
    with page as (${keys})
    select page.kind, page.id, page.at,
           a.reporter_org, a.reporter_email, a.external_id as a_external_id, a.policy_domain, a.policy_p,
           a.begin_at as a_begin, a.end_at as a_end, a.created_at as a_created, a.message_count, a.record_count,
           cardinality(a.warnings) as warning_count,
           t.organization_name, t.external_id as t_external_id, t.begin_at as t_begin, t.end_at as t_end, t.created_at as t_created,
           t.successful_sessions, t.failed_sessions,
           case when t.id is not null then
             array(select distinct p.policy_domain from tls_report_policy p where p.report_id = t.id and p.org_id = t.org_id order by 1)
           end as domains,
           f.reported_domain, f.source_ip, f.feedback_type, f.auth_failure, f.delivery_result, f.created_at as f_created
    from page
    left join aggregate_report a on page.kind = 'aggregate' and a.id = page.id and a.org_id = ${orgId}
    left join tls_report t on page.kind = 'tls' and t.id = page.id and t.org_id = ${orgId}
    left join failure_report f on page.kind = 'failure' and f.id = page.id and f.org_id = ${orgId}
    order by page.at ${direction}, page.kind ${direction}, page.id ${direction}`.execute(db);
  return result.rows.map(summaryOfRow);
}

function summaryOfRow(r: ReportListDbRow): ReportSummary & { at: Date } {
  const at = new Date(r.at);
  switch (r.kind) {
    case 'aggregate':
      return {
        kind: 'aggregate',
        at,
        id: Number(r.id),
        beginAt: r.a_begin as Date,
        endAt: r.a_end as Date,
        receivedAt: r.a_created as Date,
        reporter: r.reporter_org ?? '',
        reporterEmail: r.reporter_email,
        reportId: r.a_external_id ?? '',
        domain: r.policy_domain ?? '',
        policy: r.policy_p,
        messages: Number(r.message_count),
        records: Number(r.record_count),
        warnings: Number(r.warning_count),
      };
    case 'tls':
      return {
        kind: 'tls',
        at,
        id: Number(r.id),
        beginAt: r.t_begin as Date,
        endAt: r.t_end as Date,
        receivedAt: r.t_created as Date,
        reporter: r.organization_name ?? '',
        reportId: r.t_external_id ?? '',
        domains: r.domains ?? [],
        successfulSessions: Number(r.successful_sessions),
        failedSessions: Number(r.failed_sessions),
      };
    case 'failure':
      return {
        kind: 'failure',
        at,
        id: Number(r.id),
        beginAt: at,
        endAt: at,
        receivedAt: r.f_created as Date,
        domain: r.reported_domain,
        sourceIp: r.source_ip,
        feedbackType: r.feedback_type ?? '',
        authFailure: r.auth_failure,
        deliveryResult: r.delivery_result,
      };
  }
}

/**
 * When a failure report happened, to the millisecond (a cursor keeps milliseconds): the arrival of
 * the failed message, else the report's own date, else when it was received.
 */
export function failureReportTime(alias: string) {
  return sql<Date>`date_trunc('milliseconds', coalesce(${sql.ref(`${alias}.arrival_at`)}, ${sql.ref(`${alias}.report_date`)}, ${sql.ref(`${alias}.created_at`)}))`;
}
