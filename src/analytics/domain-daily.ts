import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { eachDay, type DayPeriod } from './period.js';

export interface DomainDay {
  day: string;
  messages: number;
  /** DMARC pass: DKIM or SPF aligned and passing. */
  pass: number;
  /** Both DKIM and SPF passed aligned. */
  bothPass: number;
  dkimPass: number;
  spfPass: number;
  quarantine: number;
  reject: number;
}

/** One domain's results per day (zero-filled), from the domain-day rollup in one query. */
export async function domainDaily(db: Kysely<DB>, orgId: number, domain: string, period: DayPeriod): Promise<DomainDay[]> {
  const rows = await db
    .selectFrom('aggregate_domain_daily as d')
    .select([
      sql<string>`d.day::text`.as('day'),
      sql<number>`d.messages`.as('messages'),
      sql<number>`d.dmarc_pass`.as('pass'),
      sql<number>`d.both_pass`.as('both_pass'),
      sql<number>`d.dkim_pass`.as('dkim_pass'),
      sql<number>`d.spf_pass`.as('spf_pass'),
      sql<number>`d.quarantine`.as('quarantine'),
      sql<number>`d.reject`.as('reject'),
    ])
    .where('d.org_id', '=', orgId)
    .where('d.policy_domain', '=', domain)
    .where('d.day', '>=', period.fromDay)
    .where('d.day', '<=', period.toDay)
    .execute();
  const byDay = new Map(rows.map((row) => [row.day, row]));
  return eachDay(period).map((day) => {
    const row = byDay.get(day);
    return {
      day,
      messages: Number(row?.messages ?? 0),
      pass: Number(row?.pass ?? 0),
      bothPass: Number(row?.both_pass ?? 0),
      dkimPass: Number(row?.dkim_pass ?? 0),
      spfPass: Number(row?.spf_pass ?? 0),
      quarantine: Number(row?.quarantine ?? 0),
      reject: Number(row?.reject ?? 0),
    };
  });
}
