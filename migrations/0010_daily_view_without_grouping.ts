import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.

const KEY = 'org_id, policy_domain, day, header_from, source_ip, disposition, dkim_eval, spf_eval';

/**
 * `aggregate_daily` stops grouping folded and pending increments into one row per key. Every
 * reader sums, counts distinct values or takes a minimum or maximum over its own groups, which
 * come out the same from the increments as they are; the grouping only cost a hash over eight
 * columns on every read (a domain's sources over 30 days at 10 million records: 35 → 11 ms).
 * A key may now appear twice, folded and pending, so a reader must never count rows.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql
    .raw(
      `create or replace view aggregate_daily as
         select ${KEY}, messages from aggregate_daily_folded
         union all
         select ${KEY}, messages from aggregate_daily_delta`,
    )
    .execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql
    .raw(
      `create or replace view aggregate_daily as
         select ${KEY}, sum(messages)::bigint as messages
         from (
           select ${KEY}, messages from aggregate_daily_folded
           union all
           select ${KEY}, messages from aggregate_daily_delta
         ) increments
         group by ${KEY}`,
    )
    .execute(db);
}
