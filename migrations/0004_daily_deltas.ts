import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.

async function run(db: Kysely<unknown>, script: string): Promise<void> {
  for (const statement of script.split(/;\s*\n/)) {
    if (statement.replace(/--.*$/gm, '').trim() !== '') await sql.raw(statement).execute(db);
  }
}

const KEY = 'org_id, policy_domain, day, header_from, source_ip, disposition, dkim_eval, spf_eval';

/**
 * Daily rollups stop being upserted by every report. A report appends its increments to
 * aggregate_daily_delta (no index, no conflict handling, no row locks shared with other reports);
 * a singleton job folds them into aggregate_daily_folded. `aggregate_daily` becomes the view of
 * both, so every reader sees folded and unfolded increments alike, whenever the fold runs.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await run(db, `
    alter table aggregate_daily rename to aggregate_daily_folded;
    alter index aggregate_daily_pkey rename to aggregate_daily_folded_pkey;

    -- Increments not folded yet. No foreign key (a check per row on the insert path): the fold
    -- drops the increments of an organisation that no longer exists.
    create table aggregate_daily_delta (
      org_id bigint not null,
      policy_domain text not null,
      day date not null,
      header_from text not null,
      source_ip inet not null,
      disposition text not null,
      dkim_eval text not null,
      spf_eval text not null,
      messages bigint not null
    );

    -- What dashboards and digests read: one row per key, folded or not.
    create view aggregate_daily as
      select ${KEY}, sum(messages)::bigint as messages
      from (
        select ${KEY}, messages from aggregate_daily_folded
        union all
        select ${KEY}, messages from aggregate_daily_delta
      ) increments
      group by ${KEY};
  `);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await run(db, `
    drop view aggregate_daily;
    insert into aggregate_daily_folded (${KEY}, messages)
      select ${KEY}, sum(messages) from aggregate_daily_delta group by ${KEY}
      on conflict (${KEY}) do update set messages = aggregate_daily_folded.messages + excluded.messages;
    drop table aggregate_daily_delta;
    alter index aggregate_daily_folded_pkey rename to aggregate_daily_pkey;
    alter table aggregate_daily_folded rename to aggregate_daily;
  `);
}
