import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { eachDay, type DayPeriod } from '../analytics/period.js';

export interface SourceDay {
  day: string;
  messages: number;
  /** DKIM or SPF evaluated as aligned pass. */
  pass: number;
}

export interface SourceDomain {
  domain: string;
  messages: number;
  pass: number;
}

export interface SourceHistory {
  days: SourceDay[];
  /** Policy domains it sent as, most messages first. */
  domains: SourceDomain[];
  messages: number;
  pass: number;
  quarantine: number;
  reject: number;
}

/**
 * One sending address's (or several addresses') messages per day (zero-filled) and per domain, from
 * the daily rollups; both read the rollups' index by source address.
 */
export async function sourceHistory(db: Kysely<DB>, orgId: number, ip: string | readonly string[], period: DayPeriod): Promise<SourceHistory> {
  const out: SourceHistory = { days: [], domains: [], messages: 0, pass: 0, quarantine: 0, reject: 0 };
  if (typeof ip !== 'string' && ip.length === 0) {
    out.days = eachDay(period).map((day) => ({ day, messages: 0, pass: 0 }));
    return out;
  }
  const ofSource = typeof ip === 'string' ? sql<boolean>`d.source_ip = ${ip}::inet` : sql<boolean>`d.source_ip = any(${sql.val([...ip])}::inet[])`;
  const rows = await db
    .selectFrom('aggregate_daily as d')
    .select([
      sql<string>`d.day::text`.as('day'),
      sql<string>`d.policy_domain`.as('policy_domain'),
      sql<number>`sum(d.messages)::bigint`.as('messages'),
      sql<number>`coalesce(sum(d.messages) filter (where d.dkim_eval = 'pass' or d.spf_eval = 'pass'), 0)::bigint`.as('pass'),
      sql<number>`coalesce(sum(d.messages) filter (where d.disposition = 'quarantine'), 0)::bigint`.as('quarantine'),
      sql<number>`coalesce(sum(d.messages) filter (where d.disposition = 'reject'), 0)::bigint`.as('reject'),
    ])
    .where('d.org_id', '=', orgId)
    .where(ofSource)
    .where('d.day', '>=', period.fromDay)
    .where('d.day', '<=', period.toDay)
    .groupBy(['d.day', 'd.policy_domain'])
    .execute();
  const byDay = new Map<string, SourceDay>();
  const byDomain = new Map<string, SourceDomain>();
  for (const r of rows) {
    const messages = Number(r.messages);
    const pass = Number(r.pass);
    const day = byDay.get(r.day) ?? { day: r.day, messages: 0, pass: 0 };
    day.messages += messages;
    day.pass += pass;
    byDay.set(r.day, day);
    const domain = byDomain.get(r.policy_domain) ?? { domain: r.policy_domain, messages: 0, pass: 0 };
    domain.messages += messages;
    domain.pass += pass;
    byDomain.set(r.policy_domain, domain);
    out.messages += messages;
    out.pass += pass;
    out.quarantine += Number(r.quarantine);
    out.reject += Number(r.reject);
  }
  out.days = eachDay(period).map((day) => byDay.get(day) ?? { day, messages: 0, pass: 0 });
  out.domains = [...byDomain.values()].sort((a, b) => b.messages - a.messages || a.domain.localeCompare(b.domain));
  return out;
}
