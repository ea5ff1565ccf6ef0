import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Job } from '../jobs/scheduler.js';
import type { DnsResolver } from '../lib/dns.js';
import type { Logger } from '../lib/logger.js';
import { checkDomainProof, dueDomains } from './manage.js';

const BATCH = 50;
const PARALLEL_LOOKUPS = 4;

export interface DomainProofJobDeps {
  db: Kysely<DB>;
  resolver: DnsResolver;
  logger: Logger;
  clock?: () => Date;
}

/**
 * Re-checks the ownership record of every domain whose next check is due (pending domains hourly
 * in their first week, then daily; verified ones daily; see verification.ts). One runner in the
 * deployment; each check moves the domain's next check forward, so a run ends when none is due.
 */
export function domainProofJob(deps: DomainProofJobDeps): Job {
  const clock = deps.clock ?? (() => new Date());
  return {
    name: 'domain-proof',
    schedule: '*/5 * * * *',
    mode: 'singleton',
    async run(signal) {
      let checked = 0;
      const changes: string[] = [];
      const failed = new Set<number>();
      while (!signal.aborted) {
        const due = (await dueDomains(deps.db, clock(), BATCH + failed.size)).filter((row) => !failed.has(row.id));
        if (due.length === 0) break;
        const queue = [...due];
        const worker = async () => {
          for (let row = queue.shift(); row !== undefined && !signal.aborted; row = queue.shift()) {
            try {
              const after = await checkDomainProof(deps.db, deps.resolver, row, {
                orgId: row.org_id,
                actor: { type: 'system', id: 'domain-proof' },
                ip: null,
                now: clock(),
                always: false,
              });
              checked += 1;
              if (after && (after.verified_at === null) !== (row.verified_at === null)) changes.push(`${row.name}: ${after.verified_at ? 'verified' : 'verification lost'}`);
            } catch (error) {
              failed.add(row.id);
              deps.logger.error('domain proof check failed', { domainId: row.id, error });
            }
          }
        };
        await Promise.all(Array.from({ length: PARALLEL_LOOKUPS }, worker));
      }
      if (checked > 0) deps.logger.info('checked domain ownership records', { checked, changes });
    },
  };
}
