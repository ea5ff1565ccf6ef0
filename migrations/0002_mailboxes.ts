import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.

async function run(db: Kysely<unknown>, script: string): Promise<void> {
  for (const statement of script.split(/;\s*\n/)) {
    if (statement.replace(/--.*$/gm, '').trim() !== '') await sql.raw(statement).execute(db);
  }
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await run(db, `
    create table mailbox (
      id bigint generated always as identity primary key,
      org_id bigint not null references organization (id) on delete cascade,
      name text not null,
      protocol text not null check (protocol in ('imap', 'pop3')),
      host text not null,
      port integer not null check (port between 1 and 65535),
      tls_mode text not null check (tls_mode in ('implicit', 'starttls')),
      ca_pem text,
      username text not null,
      auth_method text not null check (auth_method in ('password', 'oauth2')),
      -- Secrets are sealed (XChaCha20-Poly1305, bound to table, column and row); never plaintext.
      password_sealed bytea,
      oauth_provider text,
      oauth_token_url text,
      oauth_client_id text,
      oauth_scope text,
      oauth_client_secret_sealed bytea,
      oauth_refresh_token_sealed bytea,
      oauth_access_token_sealed bytea,
      oauth_access_expires_at timestamptz,
      folder text not null default 'INBOX',
      after_processing text not null default 'move' check (after_processing in ('move', 'seen', 'delete', 'none')),
      processed_folder text not null default 'DMARC Watch/Processed',
      invalid_folder text not null default 'DMARC Watch/Invalid',
      poll_interval_seconds integer not null default 900 check (poll_interval_seconds >= 60),
      paused boolean not null default false,
      needs_reauth boolean not null default false,
      uid_validity bigint,
      last_uid bigint,
      next_poll_at timestamptz not null default now(),
      claimed_by text,
      claimed_until timestamptz,
      last_poll_started_at timestamptz,
      last_poll_finished_at timestamptz,
      last_outcome text check (last_outcome in ('ok', 'error')),
      last_error_code text,
      last_error text,
      consecutive_failures integer not null default 0,
      messages_processed bigint not null default 0,
      messages_invalid bigint not null default 0,
      reports_stored bigint not null default 0,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (org_id, name)
    );
    create index mailbox_due on mailbox (next_poll_at) where not paused and not needs_reauth;

    -- POP3 has no UID cursor: every UIDL already handled is remembered.
    create table pop3_seen (
      mailbox_id bigint not null references mailbox (id) on delete cascade,
      uidl text not null,
      org_id bigint not null,
      outcome text not null,
      seen_at timestamptz not null default now(),
      primary key (mailbox_id, uidl)
    );

    -- One holder per singleton job; a lease that is not renewed expires and another process takes over.
    create table job_lease (
      name text primary key,
      holder text not null,
      acquired_at timestamptz not null default now(),
      expires_at timestamptz not null
    );

    create table job_run (
      id bigint generated always as identity primary key,
      job text not null,
      org_id bigint references organization (id) on delete cascade,
      mailbox_id bigint references mailbox (id) on delete cascade,
      holder text not null,
      started_at timestamptz not null default now(),
      finished_at timestamptz,
      outcome text not null default 'running' check (outcome in ('running', 'ok', 'error', 'abandoned')),
      messages integer not null default 0,
      documents integer not null default 0,
      reports_stored integer not null default 0,
      refused integer not null default 0,
      error text
    );
    create index job_run_mailbox on job_run (mailbox_id, started_at desc);
    create index job_run_recent on job_run (started_at desc);
  `);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await run(db, `drop table job_run, job_lease, pop3_seen, mailbox;`);
}
