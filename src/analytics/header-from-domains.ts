import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { DayPeriod } from './period.js';

export interface HeaderFromDomain {
  headerFrom: string;
  messages: number;
  pass: number;
}

/**
 * The From: domains seen under a policy domain — the domain itself and its subdomains (which the
 * policy's `sp=` covers) — with volume and DMARC pass, from the daily rollups.
 */
export async function headerFromDomains(db: Kysely<DB>, orgId: number, domain: string, period: DayPeriod): Promise<HeaderFromDomain[]> {
  const rows = await db
    .selectFrom('aggregate_daily as d')
    .select([
      sql<string>`d.header_from`.as('header_from'),
      sql<number>`sum(d.messages)::int8`.as('messages'),
      sql<number>`coalesce(sum(d.messages) filter (where d.dkim_eval = 'pass' or d.spf_eval = 'pass'), 0)::int8`.as('pass'),
    ])
    .where('d.org_id', '=', orgId)
    .where('d.policy_domain', '=', domain)
    .where('d.day', '>=', period.fromDay)
    .where('d.day', '<=', period.toDay)
    .groupBy('d.header_from')
    .orderBy('messages', 'desc')
    .limit(100)
    .execute();
  return rows.map((r) => ({ headerFrom: r.header_from, messages: Number(r.messages), pass: Number(r.pass) }));
}
