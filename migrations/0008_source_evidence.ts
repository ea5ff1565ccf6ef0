import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.

async function run(db: Kysely<unknown>, script: string): Promise<void> {
  for (const statement of script.split(/;\s*\n/)) {
    if (statement.replace(/--.*$/gm, '').trim() !== '') await sql.raw(statement).execute(db);
  }
}

/**
 * What the records of each sending address say, per organisation × policy domain × address over a
 * trailing window, computed in the background (src/sources/evidence-job.ts) so that pages classify
 * sources without reading raw records.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await run(db, `
    -- One row per organisation and policy domain the job has looked at: the window it covered and
    -- the reports it read (their count and highest id), to tell when it must look again.
    create table source_evidence_state (
      org_id bigint not null references organization (id) on delete cascade,
      policy_domain text not null,
      window_from date not null,
      window_to date not null,
      reports integer not null,
      max_report_id bigint,
      computed_at timestamptz not null,
      primary key (org_id, policy_domain)
    );

    -- The evidence of one sending address for one domain over the window of its state row.
    create table source_evidence (
      org_id bigint not null references organization (id) on delete cascade,
      policy_domain text not null,
      source_ip inet not null,
      messages bigint not null,
      records integer not null,
      first_day date not null,
      last_day date not null,
      -- [{domain, result, messages}]: DKIM d= domains and their results.
      dkim jsonb not null,
      -- [{domain, scope, result, messages}]
      spf jsonb not null,
      -- [{type, comment, messages}]: override reasons, e.g. Google's "arc=pass" comments.
      reasons jsonb not null,
      -- Records grouped by every fact the classifier reads, newest first (src/sources/evidence.ts).
      groups jsonb not null,
      computed_at timestamptz not null,
      primary key (org_id, policy_domain, source_ip)
    );
    create index source_evidence_ip on source_evidence (org_id, source_ip);
  `);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await run(db, `
    drop table source_evidence, source_evidence_state;
  `);
}
