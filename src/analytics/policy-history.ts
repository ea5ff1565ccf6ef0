import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

export interface PolicySpan {
  p: string | null;
  /** The tags below with their defaults filled in when a report left them out. */
  sp: string | null;
  pct: number;
  adkim: string;
  aspf: string;
  firstDay: string;
  lastDay: string;
  reports: number;
}

/**
 * The DMARC policy a domain published over time, as the reports show it: one span per run of
 * reports with the same policy, oldest first. Tags a report leaves out count as their RFC 7489
 * defaults (sp = p, pct = 100, adkim and aspf relaxed), so a receiver that omits them and one that
 * states the defaults do not split a run. Reporters read DNS at different times, so a change shows
 * as a short overlap; runs shorter than that are kept, not smoothed away.
 */
export async function policyHistory(db: Kysely<DB>, orgId: number, domain: string, since: Date): Promise<PolicySpan[]> {
  const rows = await sql<{ p: string | null; sp: string | null; pct: number; adkim: string; aspf: string; first_day: string; last_day: string; reports: number }>`
    with published as (
      select id, begin_at, policy_p as p, coalesce(policy_sp, policy_p) as sp, coalesce(policy_pct, 100) as pct,
             coalesce(adkim, 'r') as adkim, coalesce(aspf, 'r') as aspf
      from aggregate_report
      where org_id = ${orgId} and policy_domain = ${domain} and begin_at >= ${since}
    ), marked as (
      -- a run starts where the policy differs from the report before; both windows share one order
      select *, case when (p, sp, pct, adkim, aspf) is not distinct from
                          (lag(p) over w, lag(sp) over w, lag(pct) over w, lag(adkim) over w, lag(aspf) over w)
                     then 0 else 1 end as starts
      from published
      window w as (order by begin_at, id)
    ), numbered as (
      select *, sum(starts) over (order by begin_at, id) as run from marked
    )
    select p, sp, pct, adkim, aspf, min(begin_at)::date::text as first_day, max(begin_at)::date::text as last_day, count(*)::int8 as reports
    from numbered
    group by run, p, sp, pct, adkim, aspf
    order by run`.execute(db);
  return rows.rows.map((r) => ({ p: r.p, sp: r.sp, pct: Number(r.pct), adkim: r.adkim, aspf: r.aspf, firstDay: r.first_day, lastDay: r.last_day, reports: Number(r.reports) }));
}
