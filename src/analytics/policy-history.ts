import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

export interface PolicySpan {
  p: string | null;
  sp: string | null;
  pct: number | null;
  adkim: string | null;
  aspf: string | null;
  firstDay: string;
  lastDay: string;
  reports: number;
}

/**
 * The DMARC policy a domain published over time, as the reports show it: one span per run of
 * reports with the same policy, oldest first. Reporters read DNS at different times, so a change
 * shows as a short overlap; runs shorter than that are kept, not smoothed away.
 */
export async function policyHistory(db: Kysely<DB>, orgId: number, domain: string, since: Date): Promise<PolicySpan[]> {
  const rows = await sql<{ p: string | null; sp: string | null; pct: number | null; adkim: string | null; aspf: string | null; first_day: string; last_day: string; reports: number }>`
    with ordered as (
      select policy_p, policy_sp, policy_pct, adkim, aspf, begin_at,
             row_number() over (order by begin_at, id)
               - row_number() over (partition by policy_p, policy_sp, policy_pct, adkim, aspf order by begin_at, id) as run
      from aggregate_report
      where org_id = ${orgId} and policy_domain = ${domain} and begin_at >= ${since}
    )
    select policy_p as p, policy_sp as sp, policy_pct as pct, adkim, aspf,
           min(begin_at)::date::text as first_day, max(begin_at)::date::text as last_day, count(*)::int8 as reports
    from ordered
    group by policy_p, policy_sp, policy_pct, adkim, aspf, run
    order by min(begin_at)`.execute(db);
  return rows.rows.map((r) => ({ p: r.p, sp: r.sp, pct: r.pct === null ? null : Number(r.pct), adkim: r.adkim, aspf: r.aspf, firstDay: r.first_day, lastDay: r.last_day, reports: Number(r.reports) }));
}
