import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.

async function run(db: Kysely<unknown>, script: string): Promise<void> {
  for (const statement of script.split(/;\s*\n/)) {
    if (statement.replace(/--.*$/gm, '').trim() !== '') await sql.raw(statement).execute(db);
  }
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await run(db, `
    create table user_account (
      id bigint generated always as identity primary key,
      email text not null,
      display_name text,
      instance_admin boolean not null default false,
      totp_secret_sealed bytea,
      totp_enabled_at timestamptz,
      -- Last accepted TOTP time step: a code is never accepted twice.
      totp_last_step bigint,
      created_at timestamptz not null default now(),
      last_sign_in_at timestamptz
    );
    create unique index user_account_email on user_account (lower(email));

    create table membership (
      org_id bigint not null references organization (id) on delete cascade,
      user_id bigint not null references user_account (id) on delete cascade,
      role text not null check (role in ('owner', 'admin', 'member', 'viewer')),
      created_at timestamptz not null default now(),
      primary key (org_id, user_id)
    );
    create index membership_user on membership (user_id);

    create table recovery_code (
      user_id bigint not null references user_account (id) on delete cascade,
      code_hash bytea not null,
      used_at timestamptz,
      primary key (user_id, code_hash)
    );

    -- Random tokens are stored only as SHA-256 hashes.
    create table magic_link (
      id bigint generated always as identity primary key,
      email text not null,
      token_hash bytea not null unique,
      invitation_id bigint,
      requested_ip text,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      used_at timestamptz
    );
    create index magic_link_email on magic_link (lower(email), created_at desc);

    create table user_session (
      id bigint generated always as identity primary key,
      user_id bigint not null references user_account (id) on delete cascade,
      token_hash bytea not null unique,
      created_at timestamptz not null default now(),
      last_seen_at timestamptz not null default now(),
      idle_expires_at timestamptz not null,
      absolute_expires_at timestamptz not null,
      -- Null until the second factor is passed (when the user has one).
      second_factor_at timestamptz,
      ip text,
      user_agent text,
      revoked_at timestamptz
    );
    create index user_session_by_user on user_session (user_id, created_at desc);

    create table invitation (
      id bigint generated always as identity primary key,
      org_id bigint not null references organization (id) on delete cascade,
      email text not null,
      role text not null check (role in ('owner', 'admin', 'member', 'viewer')),
      token_hash bytea not null unique,
      invited_by bigint references user_account (id) on delete set null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      accepted_at timestamptz,
      revoked_at timestamptz
    );
    create index invitation_org on invitation (org_id, created_at desc);

    create table api_key (
      id bigint generated always as identity primary key,
      org_id bigint not null references organization (id) on delete cascade,
      name text not null,
      -- First characters of the key, shown to tell keys apart (never enough to use it).
      prefix text not null,
      token_hash bytea not null unique,
      scope text not null check (scope in ('read', 'write', 'admin')),
      created_by bigint references user_account (id) on delete set null,
      created_at timestamptz not null default now(),
      expires_at timestamptz,
      last_used_at timestamptz,
      revoked_at timestamptz
    );
    create index api_key_org on api_key (org_id, created_at desc);

    create table domain (
      id bigint generated always as identity primary key,
      org_id bigint not null references organization (id) on delete cascade,
      name text not null,
      verification_token text not null,
      verified_at timestamptz,
      last_checked_at timestamptz,
      created_at timestamptz not null default now(),
      unique (org_id, name)
    );

    -- Per-organisation hash chain: hash = sha256(prev_hash || canonical event); seq has no gaps.
    create table audit_event (
      id bigint generated always as identity primary key,
      org_id bigint references organization (id) on delete set null,
      chain text not null,
      seq bigint not null,
      actor_type text not null check (actor_type in ('user', 'api_key', 'system')),
      actor_id text,
      action text not null,
      target_type text,
      target_id text,
      summary jsonb not null default '{}',
      ip text,
      created_at timestamptz not null default now(),
      prev_hash bytea not null,
      hash bytea not null,
      unique (chain, seq)
    );
    create index audit_event_org_time on audit_event (org_id, created_at desc);

    -- Fixed-window counters shared by every replica.
    create table rate_limit (
      key text primary key,
      window_start timestamptz not null,
      hits integer not null
    );
  `);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await run(db, `drop table rate_limit, audit_event, domain, api_key, invitation, user_session, magic_link, recovery_code, membership, user_account;`);
}
