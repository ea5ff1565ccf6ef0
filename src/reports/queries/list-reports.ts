import { sql, type RawBuilder } from 'kysely';
import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';
import { readTimestamptz } from '../../db/timestamptz.js';
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

export interface ReportListPage {
  limit: number;
  after: ReportListKey | null;
  direction?: 'asc' | 'desc';
}

/**
 * One row of the list, whatever its kind (the columns of the other kinds are null). Times are
 * PostgreSQL's text (`2026-11-22 23:59:59+00`): the API writes them out without making Dates.
 * `end_at` is the sort key: a failure report's time for both ends of its range.
 */
export interface ReportListRow {
  kind: ReportKind;
  id: number;
  reporter: string | null;
  reporter_email: string | null;
  external_id: string | null;
  domain: string | null;
  policy_p: string | null;
  begin_at: string;
  end_at: string;
  created_at: string;
  message_count: number | null;
  record_count: number | null;
  warning_count: number | null;
  successful_sessions: number | null;
  failed_sessions: number | null;
  domains: string[] | null;
  source_ip: string | null;
  feedback_type: string | null;
  auth_failure: string | null;
  delivery_result: string | null;
}

const and = (conditions: RawBuilder<unknown>[]) => sql.join(conditions, sql` and `);

/**
 * A page of the list with every report's list fields, in one statement: each kind's newest (or
 * oldest) `limit` rows after the cursor, read straight from its own table by its (org, time) index,
 * then the best `limit` of their union. Each part carries its own columns, so no row is looked up
 * twice; `at` is the sort key.
 */
export async function listReportRows(db: Kysely<DB>, orgId: number, filter: ReportListFilter, page: ReportListPage): Promise<ReportListRow[]> {
  const direction = page.direction ?? 'desc';
  const order = sql.raw(direction);
  const past = sql.raw(direction === 'desc' ? '<' : '>');
  const kinds: ReportKind[] = filter.kind ? [filter.kind] : ['aggregate', 'tls', 'failure'];
  const domain = filter.domain === undefined ? undefined : normalizeDomain(filter.domain);
  const reporter = filter.reporter === undefined ? undefined : filter.reporter.trim().toLowerCase();
  const { from, to, failures } = filter;
  const after = page.after;
  const limit = page.limit;
  const afterCursor = (at: RawBuilder<unknown>, kind: ReportKind) =>
    after === null ? [] : [sql`(${at}, ${kind}::text, r.id) ${past} (${after.at}::timestamptz, ${after.kind}::text, ${after.id}::bigint)`];

  const parts: RawBuilder<unknown>[] = [];
  if (kinds.includes('aggregate')) {
    const where = [sql`r.org_id = ${orgId}`, ...afterCursor(sql`r.end_at`, 'aggregate')];
    if (domain !== undefined) where.push(sql`r.policy_domain = ${domain}`);
    if (reporter !== undefined) where.push(sql`r.reporter_key = ${reporter}`);
    if (from) where.push(sql`r.end_at >= ${from}`);
    if (to) where.push(sql`r.begin_at < ${to}`);
    if (failures !== undefined) {
      const failing = sql`exists (select 1 from aggregate_record f where f.report_id = r.id and f.org_id = r.org_id
        and f.message_count > 0 and f.dkim_eval is distinct from 'pass' and f.spf_eval is distinct from 'pass')`;
      where.push(failures ? failing : sql`not ${failing}`);
    }
    parts.push(sql`(select 'aggregate'::text as kind, r.id, r.end_at as at, r.reporter_org as reporter, r.reporter_email, r.external_id,
        r.policy_domain as domain, r.policy_p, r.begin_at::text, r.end_at::text, r.created_at::text, r.message_count, r.record_count,
        cardinality(r.warnings) as warning_count, null::int8 as successful_sessions, null::int8 as failed_sessions, null::text[] as domains,
        null::text as source_ip, null::text as feedback_type, null::text as auth_failure, null::text as delivery_result
      from aggregate_report r where ${and(where)} order by r.end_at ${order}, r.id ${order} limit ${limit})`);
  }
  if (kinds.includes('tls')) {
    const where = [sql`r.org_id = ${orgId}`, ...afterCursor(sql`r.end_at`, 'tls')];
    if (domain !== undefined) where.push(sql`exists (select 1 from tls_report_policy p where p.report_id = r.id and p.org_id = r.org_id and p.policy_domain = ${domain})`);
    if (reporter !== undefined) where.push(sql`r.reporter_key = ${reporter}`);
    if (from) where.push(sql`r.end_at >= ${from}`);
    if (to) where.push(sql`r.begin_at < ${to}`);
    if (failures !== undefined) where.push(failures ? sql`r.failed_sessions > 0` : sql`r.failed_sessions = 0`);
    parts.push(sql`(select 'tls'::text as kind, r.id, r.end_at as at, r.organization_name as reporter, null::text as reporter_email, r.external_id,
        null::text as domain, null::text as policy_p, r.begin_at::text, r.end_at::text, r.created_at::text, null::int8 as message_count, null::int4 as record_count,
        null::int4 as warning_count, r.successful_sessions, r.failed_sessions,
        array(select distinct p.policy_domain from tls_report_policy p where p.report_id = r.id and p.org_id = r.org_id order by 1) as domains,
        null::text as source_ip, null::text as feedback_type, null::text as auth_failure, null::text as delivery_result
      from tls_report r where ${and(where)} order by r.end_at ${order}, r.id ${order} limit ${limit})`);
  }
  if (kinds.includes('failure') && reporter === undefined && failures !== false) {
    const at = failureReportTime('r');
    const where = [sql`r.org_id = ${orgId}`, ...afterCursor(at, 'failure')];
    if (domain !== undefined) where.push(sql`r.reported_domain = ${domain}`);
    if (from) where.push(sql`${at} >= ${from}`);
    if (to) where.push(sql`${at} < ${to}`);
    parts.push(sql`(select 'failure'::text as kind, r.id, ${at} as at, null::text as reporter, null::text as reporter_email, null::text as external_id,
        r.reported_domain as domain, null::text as policy_p, ${at}::text as begin_at, ${at}::text as end_at, r.created_at::text,
        null::int8 as message_count, null::int4 as record_count, null::int4 as warning_count, null::int8 as successful_sessions,
        null::int8 as failed_sessions, null::text[] as domains, r.source_ip, r.feedback_type, r.auth_failure, r.delivery_result
      from failure_report r where ${and(where)} order by ${at} ${order}, r.id ${order} limit ${limit})`);
  }
  if (parts.length === 0) return [];

  // Each part is already cut to `limit` rows in its own order; the union keeps the best of them.
  const result = await sql<ReportListRow>`select kind, id, reporter, reporter_email, external_id, domain, policy_p, begin_at, end_at, created_at,
      message_count, record_count, warning_count, successful_sessions, failed_sessions, domains, source_ip, feedback_type, auth_failure, delivery_result
    from (${sql.join(parts, sql` union all `)}) u
    order by u.at ${order}, u.kind ${order}, u.id ${order} limit ${limit}`.execute(db);
  return result.rows;
}

/** The same page as list summaries with Dates (what the pages show); `at` is the sort key. */
export async function listReports(db: Kysely<DB>, orgId: number, filter: ReportListFilter, page: ReportListPage): Promise<Array<ReportSummary & { at: Date }>> {
  return (await listReportRows(db, orgId, filter, page)).map((row) => {
    const summary = summaryOfRow(row, readTimestamptz);
    return Object.assign(summary, { at: summary.endAt });
  });
}

/** A list row as a summary, its times read by `time` (Dates for the pages, ISO strings for the API). */
export function summaryOfRow<Time>(r: ReportListRow, time: (text: string) => Time): ReportSummary<Time> {
  switch (r.kind) {
    case 'aggregate':
      return {
        kind: 'aggregate',
        id: r.id,
        beginAt: time(r.begin_at),
        endAt: time(r.end_at),
        receivedAt: time(r.created_at),
        reporter: r.reporter ?? '',
        reporterEmail: r.reporter_email,
        reportId: r.external_id ?? '',
        domain: r.domain ?? '',
        policy: r.policy_p,
        messages: r.message_count ?? 0,
        records: r.record_count ?? 0,
        warnings: r.warning_count ?? 0,
      };
    case 'tls':
      return {
        kind: 'tls',
        id: r.id,
        beginAt: time(r.begin_at),
        endAt: time(r.end_at),
        receivedAt: time(r.created_at),
        reporter: r.reporter ?? '',
        reportId: r.external_id ?? '',
        domains: r.domains ?? [],
        successfulSessions: r.successful_sessions ?? 0,
        failedSessions: r.failed_sessions ?? 0,
      };
    case 'failure':
      return {
        kind: 'failure',
        id: r.id,
        beginAt: time(r.begin_at),
        endAt: time(r.end_at),
        receivedAt: time(r.created_at),
        domain: r.domain,
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
