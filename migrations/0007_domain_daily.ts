import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.

async function run(db: Kysely<unknown>, script: string): Promise<void> {
  for (const statement of script.split(/;\s*\n/)) {
    if (statement.replace(/--.*$/gm, '').trim() !== '') await sql.raw(statement).execute(db);
  }
}

const SUMS = 'messages, dmarc_pass, dkim_pass, spf_pass, both_pass, quarantine, reject';

/** Per-message counts of one daily-rollup row, as the domain-day rollup adds them up. */
const COUNTS_OF_ROW = `
  messages,
  case when dkim_eval = 'pass' or spf_eval = 'pass' then messages else 0 end,
  case when dkim_eval = 'pass' then messages else 0 end,
  case when spf_eval = 'pass' then messages else 0 end,
  case when dkim_eval = 'pass' and spf_eval = 'pass' then messages else 0 end,
  case when disposition = 'quarantine' then messages else 0 end,
  case when disposition = 'reject' then messages else 0 end`;

/**
 * One row per organisation × domain × day with the day's totals, for pages that look at every
 * domain at once (the overview): a few thousand rows a year instead of one per source and result.
 * Folded together with aggregate_daily_folded by the same statement of the fold job; the
 * `aggregate_domain_daily` view adds the increments not folded yet, like `aggregate_daily`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await run(db, `
    create table aggregate_domain_daily_folded (
      org_id bigint not null,
      policy_domain text not null,
      day date not null,
      messages bigint not null,
      dmarc_pass bigint not null,
      dkim_pass bigint not null,
      spf_pass bigint not null,
      both_pass bigint not null,
      quarantine bigint not null,
      reject bigint not null,
      primary key (org_id, policy_domain, day)
    );
    create index aggregate_domain_daily_folded_day on aggregate_domain_daily_folded (org_id, day);

    -- A domain's sources over a period read from this index alone: rollup rows of one domain and
    -- day arrive over time and lie scattered across the table, one page each through the key.
    create index aggregate_daily_folded_by_domain_day on aggregate_daily_folded (org_id, policy_domain, day)
      include (source_ip, header_from, disposition, dkim_eval, spf_eval, messages);

    insert into aggregate_domain_daily_folded (org_id, policy_domain, day, ${SUMS})
      select org_id, policy_domain, day, sum(messages), sum(dmarc_pass), sum(dkim_pass), sum(spf_pass), sum(both_pass), sum(quarantine), sum(reject)
      from (select org_id, policy_domain, day, ${COUNTS_OF_ROW} from aggregate_daily_folded) as r (org_id, policy_domain, day, ${SUMS})
      group by org_id, policy_domain, day;

    create view aggregate_domain_daily as
      select org_id, policy_domain, day,
             sum(messages)::bigint as messages, sum(dmarc_pass)::bigint as dmarc_pass, sum(dkim_pass)::bigint as dkim_pass,
             sum(spf_pass)::bigint as spf_pass, sum(both_pass)::bigint as both_pass,
             sum(quarantine)::bigint as quarantine, sum(reject)::bigint as reject
      from (
        select org_id, policy_domain, day, ${SUMS} from aggregate_domain_daily_folded
        union all
        select org_id, policy_domain, day, ${COUNTS_OF_ROW} from aggregate_daily_delta
      ) as increments (org_id, policy_domain, day, ${SUMS})
      group by org_id, policy_domain, day;
  `);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await run(db, `
    drop view aggregate_domain_daily;
    drop index aggregate_daily_folded_by_domain_day;
    drop table aggregate_domain_daily_folded;
  `);
}
