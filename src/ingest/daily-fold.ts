import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Job } from '../jobs/scheduler.js';
import type { Logger } from '../lib/logger.js';

const KEY = sql.raw('org_id, policy_domain, day, header_from, source_ip, disposition, dkim_eval, spf_eval');

/** Increments moved per statement: bounds the fold's memory and the time its transaction holds row locks. */
const FOLD_CHUNK = 100_000;

/**
 * Moves daily rollup increments from aggregate_daily_delta into aggregate_daily_folded, summed per
 * key, and into the domain-day totals of aggregate_domain_daily_folded. Each chunk is one
 * statement — delete the increments, add them to both folded tables — so a
 * crash leaves every increment either still in the delta table or added exactly once, and the
 * `aggregate_daily` view shows the same totals before, during and after a fold.
 *
 * Two folds at once stay correct: an increment deleted by one is skipped by the other's delete
 * (PostgreSQL re-checks a locked row and drops it once it is gone), so nothing is added twice.
 * Rows are added in key order, so two folds lock folded rows in the same order. Increments of an
 * organisation that no longer exists are dropped. Returns the number of increments folded.
 */
export async function foldDailyDeltas(db: Kysely<DB>, chunk = FOLD_CHUNK): Promise<number> {
  let total = 0;
  for (;;) {
    const result = await sql<{ n: number }>`
      with moved as (
        delete from aggregate_daily_delta
        where ctid = any (array(select ctid from aggregate_daily_delta limit ${chunk}))
        returning ${KEY}, messages
      ), added as (
        insert into aggregate_daily_folded (${KEY}, messages)
        select ${KEY}, sum(messages) from moved
        where exists (select 1 from organization o where o.id = moved.org_id)
        group by ${KEY}
        order by ${KEY}
        on conflict (${KEY}) do update set messages = aggregate_daily_folded.messages + excluded.messages
      ), added_per_domain as (
        insert into aggregate_domain_daily_folded (org_id, policy_domain, day, messages, dmarc_pass, dkim_pass, spf_pass, both_pass, quarantine, reject)
        select org_id, policy_domain, day,
               sum(messages),
               coalesce(sum(messages) filter (where dkim_eval = 'pass' or spf_eval = 'pass'), 0),
               coalesce(sum(messages) filter (where dkim_eval = 'pass'), 0),
               coalesce(sum(messages) filter (where spf_eval = 'pass'), 0),
               coalesce(sum(messages) filter (where dkim_eval = 'pass' and spf_eval = 'pass'), 0),
               coalesce(sum(messages) filter (where disposition = 'quarantine'), 0),
               coalesce(sum(messages) filter (where disposition = 'reject'), 0)
        from moved
        where exists (select 1 from organization o where o.id = moved.org_id)
        group by org_id, policy_domain, day
        order by org_id, policy_domain, day
        on conflict (org_id, policy_domain, day) do update set
          messages = aggregate_domain_daily_folded.messages + excluded.messages,
          dmarc_pass = aggregate_domain_daily_folded.dmarc_pass + excluded.dmarc_pass,
          dkim_pass = aggregate_domain_daily_folded.dkim_pass + excluded.dkim_pass,
          spf_pass = aggregate_domain_daily_folded.spf_pass + excluded.spf_pass,
          both_pass = aggregate_domain_daily_folded.both_pass + excluded.both_pass,
          quarantine = aggregate_domain_daily_folded.quarantine + excluded.quarantine,
          reject = aggregate_domain_daily_folded.reject + excluded.reject
      )
      select count(*)::int8 as n from moved`.execute(db);
    const n = Number(result.rows[0]!.n);
    total += n;
    if (n < chunk) return total;
  }
}

/** Folds the rollup increments every minute; one runner in the deployment. */
export function dailyFoldJob(db: Kysely<DB>, logger: Logger): Job {
  return {
    name: 'daily-rollup-fold',
    schedule: '*/1 * * * *',
    mode: 'singleton',
    async run() {
      const folded = await foldDailyDeltas(db);
      if (folded > 0) logger.debug('folded daily rollup increments', { increments: folded });
    },
  };
}
