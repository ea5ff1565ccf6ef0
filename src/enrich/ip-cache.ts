/**
 * The shared per-IP enrichment cache (table ip_enrichment): which addresses are due for a check,
 * what a check found, and what pages read. Public facts about internet hosts, the same for every
 * organisation; only the job writes it, pages only read it.
 */
import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

export const DAY_MS = 86_400_000;
/** A finished check is repeated after this long (reverse DNS and networks change slowly). */
export const RECHECK_AFTER_MS = 7 * DAY_MS;
/** First retry after a check that could not finish; doubled on every further failure. */
export const RETRY_FIRST_MS = 15 * 60_000;
export const RETRY_MAX_MS = DAY_MS;

/** When to try again after the `failures`-th failure in a row. */
export function retryDelayMs(failures: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.max(0, failures - 1));
}

export interface IpEnrichmentView {
  ip: string;
  ptrHost: string | null;
  ptrConfirmed: boolean;
  ptrOrgDomain: string | null;
  asn: number | null;
  asOrg: string | null;
  country: string | null;
  /** When the last check finished; null: never checked yet. */
  checkedAt: Date | null;
  nextCheckAt: Date;
  failures: number;
  lastError: string | null;
}

/**
 * Source addresses seen in the daily rollups since `sinceDay` (YYYY-MM-DD) that were never checked
 * or whose next check is due, never-checked first.
 */
export async function dueSourceIps(db: Kysely<DB>, now: Date, sinceDay: string, limit: number): Promise<Array<{ ip: string; failures: number }>> {
  const seen = db.selectFrom('aggregate_daily').select('source_ip as ip').distinct().where('day', '>=', sinceDay);
  const rows = await db
    .selectFrom(seen.as('s'))
    .leftJoin('ip_enrichment as e', 'e.ip', 's.ip')
    .select(['s.ip', 'e.failures'])
    .where((eb) => eb.or([eb('e.ip', 'is', null), eb('e.next_check_at', '<=', now)]))
    .orderBy(sql`e.next_check_at asc nulls first`)
    .orderBy('s.ip')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ ip: String(r.ip), failures: Number(r.failures ?? 0) }));
}

export interface CheckOutcome {
  ptrHost: string | null;
  ptrConfirmed: boolean;
  ptrOrgDomain: string | null;
  asn: number | null;
  asOrg: string | null;
  country: string | null;
}

/** Stores a finished check: facts replaced, failures cleared, next check in a week. */
export async function saveCheck(db: Kysely<DB>, ip: string, outcome: CheckOutcome, now: Date, problem: string | null, failures: number): Promise<void> {
  const values = {
    ptr_host: outcome.ptrHost,
    ptr_confirmed: outcome.ptrConfirmed,
    ptr_org_domain: outcome.ptrOrgDomain,
    asn: outcome.asn,
    as_org: outcome.asOrg,
    country: outcome.country,
    checked_at: now,
    next_check_at: new Date(now.getTime() + (problem === null ? RECHECK_AFTER_MS : retryDelayMs(failures))),
    failures: problem === null ? 0 : failures,
    last_error: problem,
  };
  await db
    .insertInto('ip_enrichment')
    .values({ ip, ...values })
    .onConflict((oc) => oc.column('ip').doUpdateSet(values))
    .execute();
}

/**
 * Records a check that could not finish: what was known stays, the failure is counted and the next
 * try backs off (15 minutes, doubling, at most a day).
 */
export async function saveFailure(
  db: Kysely<DB>,
  ip: string,
  network: Pick<CheckOutcome, 'asn' | 'asOrg' | 'country'>,
  now: Date,
  problem: string,
  failures: number,
): Promise<void> {
  // The network facts come from local files and are known even when DNS failed.
  const values = { asn: network.asn, as_org: network.asOrg, country: network.country, next_check_at: new Date(now.getTime() + retryDelayMs(failures)), failures, last_error: problem };
  await db
    .insertInto('ip_enrichment')
    .values({ ip, ...values })
    .onConflict((oc) => oc.column('ip').doUpdateSet(values))
    .execute();
}

/** The cached facts of these addresses (absent: never seen by the job). */
export async function enrichmentOf(db: Kysely<DB>, ips: readonly string[]): Promise<Map<string, IpEnrichmentView>> {
  const out = new Map<string, IpEnrichmentView>();
  if (ips.length === 0) return out;
  const rows = await db
    .selectFrom('ip_enrichment')
    .selectAll()
    .where(sql<boolean>`ip = any(${sql.val([...ips])}::inet[])`)
    .execute();
  for (const r of rows) {
    const ip = String(r.ip);
    out.set(ip, {
      ip,
      ptrHost: r.ptr_host,
      ptrConfirmed: r.ptr_confirmed,
      ptrOrgDomain: r.ptr_org_domain,
      asn: r.asn === null ? null : Number(r.asn),
      asOrg: r.as_org,
      country: r.country,
      checkedAt: r.checked_at,
      nextCheckAt: r.next_check_at,
      failures: r.failures,
      lastError: r.last_error,
    });
  }
  return out;
}
