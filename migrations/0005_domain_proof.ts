import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.

export async function up(db: Kysely<unknown>): Promise<void> {
  // The ownership-proof check of each domain (see src/domains/proof-check.ts): when it runs next,
  // what the last check found, and how many checks in a row have missed the record of a verified domain.
  await sql`
    alter table domain
      add column next_check_at timestamptz not null default now(),
      add column last_check_outcome text check (last_check_outcome in ('found', 'missing', 'wrong_token', 'dns_error')),
      add column last_check_problem text,
      add column missed_checks integer not null default 0`.execute(db);
  await sql`create index domain_next_check on domain (next_check_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index domain_next_check`.execute(db);
  await sql`
    alter table domain
      drop column next_check_at,
      drop column last_check_outcome,
      drop column last_check_problem,
      drop column missed_checks`.execute(db);
}
