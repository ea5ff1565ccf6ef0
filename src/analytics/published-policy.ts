import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

export interface PublishedPolicy {
  domain: string;
  p: string | null;
  sp: string | null;
  pct: number | null;
  adkim: string | null;
  aspf: string | null;
  /** When the newest report that shows this policy began. */
  seenAt: Date;
}

interface PolicyRow {
  policy_domain: string;
  policy_p: string | null;
  policy_sp: string | null;
  policy_pct: number | null;
  adkim: string | null;
  aspf: string | null;
  begin_at: Date;
}

/**
 * The DMARC policy each domain published, as the newest aggregate report of each shows it. One
 * index probe per domain (aggregate_report_domain_time), the domains themselves found by skipping
 * through the same index, so the cost does not grow with the number of reports.
 */
export async function latestPublishedPolicies(db: Kysely<DB>, orgId: number, domains?: string[]): Promise<Map<string, PublishedPolicy>> {
  if (domains !== undefined && domains.length === 0) return new Map();
  const newest = sql`
    select r.policy_domain, r.policy_p, r.policy_sp, r.policy_pct, r.adkim, r.aspf, r.begin_at
    from aggregate_report r
    where r.org_id = ${orgId} and r.policy_domain = d.policy_domain
    order by r.begin_at desc
    limit 1`;
  const result =
    domains !== undefined
      ? await sql<PolicyRow>`
          select p.* from unnest(${domains}::text[]) as d(policy_domain)
          cross join lateral (${newest}) p`.execute(db)
      : await sql<PolicyRow>`
          with recursive d(policy_domain) as (
            (select policy_domain from aggregate_report where org_id = ${orgId} order by policy_domain limit 1)
            union all
            select (select r.policy_domain from aggregate_report r where r.org_id = ${orgId} and r.policy_domain > d.policy_domain order by r.policy_domain limit 1)
            from d where d.policy_domain is not null
          )
          select p.* from d cross join lateral (${newest}) p
          where d.policy_domain is not null`.execute(db);
  return new Map(
    result.rows.map((row) => [
      row.policy_domain,
      { domain: row.policy_domain, p: row.policy_p, sp: row.policy_sp, pct: row.policy_pct === null ? null : Number(row.policy_pct), adkim: row.adkim, aspf: row.aspf, seenAt: new Date(row.begin_at) },
    ]),
  );
}
