import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { DayPeriod } from './period.js';

export interface ReverseDnsCoverage {
  messages: number;
  /** Messages from addresses whose PTR name resolves back to them (forward-confirmed reverse DNS). */
  confirmed: number;
  /** Messages from addresses checked and found without a confirmed PTR. */
  unconfirmed: number;
  /** Messages from addresses not checked yet: unknown, not failing. */
  unchecked: number;
}

/** How much of a domain's mail came from addresses with forward-confirmed reverse DNS, from the rollups and the enrichment cache. */
export async function reverseDnsCoverage(db: Kysely<DB>, orgId: number, domain: string, period: DayPeriod): Promise<ReverseDnsCoverage> {
  const result = await sql<{ messages: number; confirmed: number; unconfirmed: number }>`
    select coalesce(sum(s.messages), 0)::int8 as messages,
           coalesce(sum(s.messages) filter (where e.checked_at is not null and e.ptr_confirmed), 0)::int8 as confirmed,
           coalesce(sum(s.messages) filter (where e.checked_at is not null and not e.ptr_confirmed), 0)::int8 as unconfirmed
    from (
      select d.source_ip, sum(d.messages) as messages
      from aggregate_daily d
      where d.org_id = ${orgId} and d.policy_domain = ${domain} and d.day >= ${period.fromDay} and d.day <= ${period.toDay}
      group by d.source_ip
    ) s
    left join ip_enrichment e on e.ip = s.source_ip`.execute(db);
  const row = result.rows[0];
  const messages = Number(row?.messages ?? 0);
  const confirmed = Number(row?.confirmed ?? 0);
  const unconfirmed = Number(row?.unconfirmed ?? 0);
  return { messages, confirmed, unconfirmed, unchecked: messages - confirmed - unconfirmed };
}
