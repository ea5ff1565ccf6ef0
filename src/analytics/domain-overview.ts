import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { eachDay, previousPeriod, type DayPeriod } from './period.js';

export interface DayCounts {
  day: string;
  messages: number;
  /** Messages that passed DMARC (DKIM or SPF aligned and passing, as the reporter evaluated). */
  pass: number;
}

export interface DomainOverview {
  domain: string;
  messages: number;
  pass: number;
  /** Share of messages that passed; null when there were none (unknown is not 0%). */
  passRate: number | null;
  previous: { messages: number; passRate: number | null };
  /** One entry per day of the period, zero-filled. */
  daily: DayCounts[];
}

export function rate(pass: number, messages: number): number | null {
  return messages > 0 ? pass / messages : null;
}

/**
 * Volume and DMARC results per policy domain over a period and the period before it, with a
 * daily series for trends: one query over the domain-day rollup, domains by volume.
 */
export async function domainOverview(db: Kysely<DB>, orgId: number, period: DayPeriod): Promise<DomainOverview[]> {
  const before = previousPeriod(period);
  const rows = await db
    .selectFrom('aggregate_domain_daily as d')
    .select([sql<string>`d.policy_domain`.as('policy_domain'), sql<string>`d.day::text`.as('day'), sql<number>`d.messages`.as('messages'), sql<number>`d.dmarc_pass`.as('pass')])
    .where('d.org_id', '=', orgId)
    .where('d.day', '>=', before.fromDay)
    .where('d.day', '<=', period.toDay)
    .execute();

  const days = eachDay(period);
  const index = new Map(days.map((day, i) => [day, i]));
  const domains = new Map<string, DomainOverview>();
  const previousPass = new Map<string, number>();
  for (const row of rows) {
    let entry = domains.get(row.policy_domain);
    if (!entry) {
      entry = { domain: row.policy_domain, messages: 0, pass: 0, passRate: null, previous: { messages: 0, passRate: null }, daily: days.map((day) => ({ day, messages: 0, pass: 0 })) };
      domains.set(row.policy_domain, entry);
    }
    const messages = Number(row.messages);
    const pass = Number(row.pass);
    const i = index.get(row.day);
    if (i === undefined) {
      entry.previous.messages += messages;
      previousPass.set(entry.domain, (previousPass.get(entry.domain) ?? 0) + pass);
    } else {
      entry.messages += messages;
      entry.pass += pass;
      const day = entry.daily[i] as DayCounts;
      day.messages += messages;
      day.pass += pass;
    }
  }
  for (const entry of domains.values()) {
    entry.passRate = rate(entry.pass, entry.messages);
    entry.previous.passRate = rate(previousPass.get(entry.domain) ?? 0, entry.previous.messages);
  }
  return [...domains.values()].sort((a, b) => b.messages - a.messages || a.domain.localeCompare(b.domain));
}
