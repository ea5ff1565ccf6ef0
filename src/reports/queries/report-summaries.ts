import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';
import type { ReportKind } from './kinds.js';
import { failureReportTime } from './list-reports.js';

interface SummaryBase {
  id: number;
  beginAt: Date;
  endAt: Date;
  receivedAt: Date;
}

export interface AggregateSummary extends SummaryBase {
  kind: 'aggregate';
  reporter: string;
  reporterEmail: string | null;
  reportId: string;
  domain: string;
  policy: string | null;
  messages: number;
  records: number;
  warnings: number;
}

export interface TlsSummary extends SummaryBase {
  kind: 'tls';
  reporter: string;
  reportId: string;
  domains: string[];
  successfulSessions: number;
  failedSessions: number;
}

export interface FailureSummary extends SummaryBase {
  kind: 'failure';
  domain: string | null;
  sourceIp: string | null;
  feedbackType: string;
  authFailure: string | null;
  deliveryResult: string | null;
}

export type ReportSummary = AggregateSummary | TlsSummary | FailureSummary;

/** The list fields of the given reports of one organisation, in the order of `keys`; ids not found are left out. */
export async function reportSummaries(db: Kysely<DB>, orgId: number, keys: ReadonlyArray<{ kind: ReportKind; id: number }>): Promise<ReportSummary[]> {
  const idsOf = (kind: ReportKind) => keys.filter((k) => k.kind === kind).map((k) => k.id);
  const [aggregate, tls, failure] = await Promise.all([aggregateSummaries(db, orgId, idsOf('aggregate')), tlsSummaries(db, orgId, idsOf('tls')), failureSummaries(db, orgId, idsOf('failure'))]);
  const found = new Map<string, ReportSummary>();
  for (const s of [...aggregate, ...tls, ...failure]) found.set(`${s.kind}:${s.id}`, s);
  return keys.map((k) => found.get(`${k.kind}:${k.id}`)).filter((s) => s !== undefined);
}

async function aggregateSummaries(db: Kysely<DB>, orgId: number, ids: number[]): Promise<AggregateSummary[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('aggregate_report')
    .select(['id', 'reporter_org', 'reporter_email', 'external_id', 'policy_domain', 'policy_p', 'begin_at', 'end_at', 'created_at', 'message_count', 'record_count', sql<number>`cardinality(warnings)`.as('warning_count')])
    .where('org_id', '=', orgId)
    .where('id', 'in', ids)
    .execute();
  return rows.map((r) => ({
    kind: 'aggregate',
    id: r.id,
    beginAt: r.begin_at,
    endAt: r.end_at,
    receivedAt: r.created_at,
    reporter: r.reporter_org,
    reporterEmail: r.reporter_email,
    reportId: r.external_id,
    domain: r.policy_domain,
    policy: r.policy_p,
    messages: Number(r.message_count),
    records: Number(r.record_count),
    warnings: Number(r.warning_count),
  }));
}

async function tlsSummaries(db: Kysely<DB>, orgId: number, ids: number[]): Promise<TlsSummary[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('tls_report as r')
    .select([
      'r.id',
      'r.organization_name',
      'r.external_id',
      'r.begin_at',
      'r.end_at',
      'r.created_at',
      'r.successful_sessions',
      'r.failed_sessions',
      sql<string[]>`array(select distinct p.policy_domain from tls_report_policy p where p.report_id = r.id and p.org_id = r.org_id order by 1)`.as('domains'),
    ])
    .where('r.org_id', '=', orgId)
    .where('r.id', 'in', ids)
    .execute();
  return rows.map((r) => ({
    kind: 'tls',
    id: r.id,
    beginAt: r.begin_at,
    endAt: r.end_at,
    receivedAt: r.created_at,
    reporter: r.organization_name,
    reportId: r.external_id,
    domains: r.domains,
    successfulSessions: Number(r.successful_sessions),
    failedSessions: Number(r.failed_sessions),
  }));
}

async function failureSummaries(db: Kysely<DB>, orgId: number, ids: number[]): Promise<FailureSummary[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('failure_report as r')
    .select(['r.id', 'r.reported_domain', 'r.source_ip', 'r.feedback_type', 'r.auth_failure', 'r.delivery_result', 'r.created_at', failureReportTime('r').as('at')])
    .where('r.org_id', '=', orgId)
    .where('r.id', 'in', ids)
    .execute();
  return rows.map((r) => ({
    kind: 'failure',
    id: r.id,
    beginAt: new Date(r.at),
    endAt: new Date(r.at),
    receivedAt: r.created_at,
    domain: r.reported_domain,
    sourceIp: r.source_ip,
    feedbackType: r.feedback_type,
    authFailure: r.auth_failure,
    deliveryResult: r.delivery_result,
  }));
}
