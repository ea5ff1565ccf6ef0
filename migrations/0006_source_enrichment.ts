import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.

async function run(db: Kysely<unknown>, script: string): Promise<void> {
  for (const statement of script.split(/;\s*\n/)) {
    if (statement.replace(/--.*$/gm, '').trim() !== '') await sql.raw(statement).execute(db);
  }
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await run(db, `
    -- What the enrichment job learnt about a sending IP address (src/enrich/enrich-job.ts). Public
    -- facts about internet hosts, shared by every organisation: no org_id, no tenant data.
    create table ip_enrichment (
      ip inet primary key,
      -- The reverse-DNS name kept (the first forward-confirmed one, else the first one), or null.
      ptr_host text,
      -- The PTR name's A/AAAA records lead back to the address.
      ptr_confirmed boolean not null default false,
      ptr_org_domain text,
      -- From the configured MMDB files; null when no file is configured or it has no answer.
      asn bigint,
      as_org text,
      country text,
      checked_at timestamptz,
      next_check_at timestamptz not null,
      -- Checks in a row that could not finish (timeouts, SERVFAIL); drives the back-off.
      failures integer not null default 0,
      last_error text
    );
    create index ip_enrichment_due on ip_enrichment (next_check_at);

    -- A member's decision about a source: an IP address or a named service (an id of the catalogue
    -- or of the organisation's own entries).
    create table source_decision (
      id bigint generated always as identity primary key,
      org_id bigint not null references organization (id) on delete cascade,
      subject_type text not null check (subject_type in ('ip', 'service')),
      subject text not null,
      decision text not null check (decision in ('authorised', 'ignored')),
      note text,
      decided_by_user bigint references user_account (id) on delete set null,
      decided_by_key bigint references api_key (id) on delete set null,
      decided_at timestamptz not null default now(),
      unique (org_id, subject_type, subject)
    );

    -- An organisation's own service entries (the JSON shape of src/enrich/services.ts), matched
    -- before the built-in catalogue.
    create table org_service (
      org_id bigint not null references organization (id) on delete cascade,
      service_id text not null,
      entry jsonb not null,
      updated_at timestamptz not null default now(),
      primary key (org_id, service_id)
    );

    -- The report list's order: newest end of range first, then id.
    create index aggregate_report_end on aggregate_report (org_id, end_at desc, id desc);
    create index tls_report_end on tls_report (org_id, end_at desc, id desc);
  `);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await run(db, `
    drop index tls_report_end;
    drop index aggregate_report_end;
    drop table org_service, source_decision, ip_enrichment;
  `);
}
