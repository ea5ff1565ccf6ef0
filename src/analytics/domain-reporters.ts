import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { DayPeriod } from './period.js';

export interface ReporterSummary {
  reporter: string;
  reports: number;
  messages: number;
  lastReportDay: string;
}

/** Who reported on a domain over a period: receivers by the volume they saw. */
export async function domainReporters(db: Kysely<DB>, orgId: number, domain: string, period: DayPeriod): Promise<ReporterSummary[]> {
  const rows = await db
    .selectFrom('aggregate_report')
    .select([
      'reporter_org',
      sql<number>`count(*)::int8`.as('reports'),
      sql<number>`sum(message_count)::int8`.as('messages'),
      sql<string>`max(begin_at)::date::text`.as('last_day'),
    ])
    .where('org_id', '=', orgId)
    .where('policy_domain', '=', domain)
    .where('begin_at', '>=', new Date(`${period.fromDay}T00:00:00Z`))
    .where('begin_at', '<', sql<Date>`${period.toDay}::date + 1`)
    .groupBy('reporter_org')
    .orderBy('messages', 'desc')
    .orderBy('reporter_org')
    .execute();
  return rows.map((r) => ({ reporter: r.reporter_org, reports: Number(r.reports), messages: Number(r.messages), lastReportDay: r.last_day }));
}
