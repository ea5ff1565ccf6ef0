/**
 * The background enrichment of sending addresses: every few minutes, one runner in the deployment
 * takes the source IPs of recent reports that were never checked or are due again, and stores
 * their reverse DNS (forward-confirmed), organisational domain, ASN and country in the shared
 * cache. Pages only read the cache; no lookup ever happens while a page renders.
 */
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Job } from '../jobs/scheduler.js';
import type { DnsResolver } from '../lib/dns.js';
import type { Logger } from '../lib/logger.js';
import { NO_GEO, type GeoLookup } from './geo.js';
import { DAY_MS, dueSourceIps, saveCheck, saveFailure } from './ip-cache.js';
import { reverseDns } from './reverse-dns.js';

export interface EnrichDeps {
  db: Kysely<DB>;
  resolver: DnsResolver;
  geo?: GeoLookup;
  logger: Logger;
  clock?: () => Date;
}

export interface EnrichOptions {
  /** Addresses seen in the rollups of the last this many days (default 30). */
  recentDays?: number;
  /** Addresses per batch (default 100). */
  batch?: number;
  /** Addresses per run at most, so that one run stays short (default 1,000). */
  maxPerRun?: number;
  /** Lookups at once (default 8). */
  parallel?: number;
  signal?: AbortSignal;
}

export interface EnrichSummary {
  checked: number;
  confirmed: number;
  failed: number;
}

/** One pass: checks due addresses until none is due, `maxPerRun` is reached, or the signal aborts. */
export async function enrichDueSources(deps: EnrichDeps, options: EnrichOptions = {}): Promise<EnrichSummary> {
  const clock = deps.clock ?? (() => new Date());
  const geo = deps.geo ?? NO_GEO;
  const batch = options.batch ?? 100;
  const maxPerRun = options.maxPerRun ?? 1000;
  const parallel = options.parallel ?? 8;
  const summary: EnrichSummary = { checked: 0, confirmed: 0, failed: 0 };
  const attempted = new Set<string>();

  while (!options.signal?.aborted && attempted.size < maxPerRun) {
    const now = clock();
    const since = new Date(now.getTime() - (options.recentDays ?? 30) * DAY_MS).toISOString().slice(0, 10);
    const due = (await dueSourceIps(deps.db, now, since, Math.min(batch, maxPerRun - attempted.size) + attempted.size)).filter((d) => !attempted.has(d.ip));
    if (due.length === 0) break;
    const queue = due.slice(0, maxPerRun - attempted.size);
    for (const d of queue) attempted.add(d.ip);

    const worker = async () => {
      for (let item = queue.shift(); item !== undefined && !options.signal?.aborted; item = queue.shift()) {
        const { ip, failures } = item;
        const asn = geo.asn(ip);
        const network = { asn: asn?.asn ?? null, asOrg: asn?.organization ?? null, country: geo.country(ip) };
        try {
          const rdns = await reverseDns(deps.resolver, ip);
          const outcome = { ptrHost: rdns.ptrHost, ptrConfirmed: rdns.confirmed, ptrOrgDomain: rdns.ptrOrgDomain, ...network };
          await saveCheck(deps.db, ip, outcome, clock(), rdns.problem, rdns.problem === null ? 0 : failures + 1);
          summary.checked += 1;
          if (rdns.confirmed) summary.confirmed += 1;
          if (rdns.problem !== null) summary.failed += 1;
        } catch (error) {
          summary.failed += 1;
          const problem = error instanceof Error ? error.message : String(error);
          await saveFailure(deps.db, ip, network, clock(), problem, failures + 1).catch((saveError) =>
            deps.logger.error('could not record an enrichment failure', { ip, error: saveError }),
          );
        }
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
  }
  return summary;
}

/** The scheduled job: every five minutes, one runner in the deployment. */
export function sourceEnrichmentJob(deps: EnrichDeps, options: Omit<EnrichOptions, 'signal'> = {}): Job {
  return {
    name: 'source-enrichment',
    schedule: '*/5 * * * *',
    mode: 'singleton',
    async run(signal) {
      const summary = await enrichDueSources(deps, { ...options, signal });
      if (summary.checked + summary.failed > 0) deps.logger.info('enriched sending addresses', { ...summary });
    },
  };
}
