import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.

// Statements run one by one: PGlite's extended-protocol queries take a single statement.
async function run(db: Kysely<unknown>, script: string): Promise<void> {
  for (const statement of script.split(/;\s*\n/)) {
    if (statement.replace(/--.*$/gm, '').trim() !== '') await sql.raw(statement).execute(db);
  }
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await run(db, `
    create table organization (
      id bigint generated always as identity primary key,
      slug text not null unique,
      name text not null,
      created_at timestamptz not null default now()
    );
    insert into organization (slug, name) values ('default', 'Default organisation');

    -- Every document ever seen, by content hash: the first de-duplication gate and the raw archive.
    create table raw_document (
      id bigint generated always as identity primary key,
      org_id bigint not null references organization (id) on delete cascade,
      sha256 bytea not null,
      format text not null,
      size_bytes bigint not null,
      content_gzip bytea,
      outcome text not null check (outcome in ('stored', 'duplicate', 'refused', 'not_a_report')),
      problem_code text,
      problem text,
      created_at timestamptz not null default now(),
      unique (org_id, sha256)
    );

    -- One row per document (or refused wrapper) per source; a re-run of the same source updates last_seen_at only.
    create table ingest_log (
      id bigint generated always as identity primary key,
      org_id bigint not null references organization (id) on delete cascade,
      source text not null,
      item text not null,
      sha256 bytea,
      document_id bigint references raw_document (id) on delete set null,
      kind text,
      outcome text not null check (outcome in ('stored', 'duplicate', 'refused', 'not_a_report')),
      problem_code text,
      problem text,
      report_ref text,
      records integer not null default 0,
      first_seen_at timestamptz not null default now(),
      last_seen_at timestamptz not null default now(),
      unique (org_id, source, item)
    );
    create index ingest_log_recent on ingest_log (org_id, first_seen_at desc);

    create table aggregate_report (
      id bigint generated always as identity primary key,
      org_id bigint not null references organization (id) on delete cascade,
      document_id bigint not null references raw_document (id),
      reporter_org text not null,
      reporter_email text,
      reporter_key text not null,
      extra_contact_info text,
      external_id text not null,
      policy_domain text not null,
      begin_at timestamptz not null,
      end_at timestamptz not null,
      version text,
      xml_namespace text,
      generator text,
      errors text[] not null default '{}',
      adkim text,
      aspf text,
      policy_p text,
      policy_sp text,
      policy_np text,
      policy_pct smallint,
      policy_fo text,
      policy_testing text,
      discovery_method text,
      extensions text[] not null default '{}',
      warnings text[] not null default '{}',
      record_count integer not null default 0,
      message_count bigint not null default 0,
      created_at timestamptz not null default now()
    );
    create unique index aggregate_report_identity
      on aggregate_report (org_id, reporter_key, external_id, policy_domain, begin_at, end_at);
    create index aggregate_report_domain_time on aggregate_report (org_id, policy_domain, begin_at desc);
    create index aggregate_report_time on aggregate_report (org_id, begin_at desc);

    -- Record tables take hundreds of millions of rows: no per-row foreign-key checks on the hot
    -- insert path. Rows are removed with their report by deleteAggregateReports().
    create table aggregate_record (
      report_id bigint not null,
      ordinal integer not null,
      org_id bigint not null,
      source_ip inet not null,
      message_count bigint not null,
      disposition text not null,
      dkim_eval text,
      spf_eval text,
      header_from text not null,
      envelope_from text,
      envelope_to text,
      primary key (report_id, ordinal)
    );

    create table aggregate_record_dkim (
      report_id bigint not null,
      record_ordinal integer not null,
      ordinal smallint not null,
      org_id bigint not null,
      domain text not null,
      selector text,
      result text not null,
      human_result text,
      primary key (report_id, record_ordinal, ordinal)
    );

    create table aggregate_record_spf (
      report_id bigint not null,
      record_ordinal integer not null,
      ordinal smallint not null,
      org_id bigint not null,
      domain text not null,
      scope text,
      result text not null,
      human_result text,
      primary key (report_id, record_ordinal, ordinal)
    );

    create table aggregate_record_reason (
      report_id bigint not null,
      record_ordinal integer not null,
      ordinal smallint not null,
      org_id bigint not null,
      type text not null,
      comment text,
      primary key (report_id, record_ordinal, ordinal)
    );
    create index aggregate_record_reason_type on aggregate_record_reason (org_id, type);

    -- Messages per day: what dashboards and digests read instead of raw records.
    create table aggregate_daily (
      org_id bigint not null references organization (id) on delete cascade,
      policy_domain text not null,
      day date not null,
      header_from text not null,
      source_ip inet not null,
      disposition text not null,
      dkim_eval text not null,
      spf_eval text not null,
      messages bigint not null,
      primary key (org_id, policy_domain, day, header_from, source_ip, disposition, dkim_eval, spf_eval)
    );

    create table tls_report (
      id bigint generated always as identity primary key,
      org_id bigint not null references organization (id) on delete cascade,
      document_id bigint not null references raw_document (id),
      organization_name text not null,
      reporter_key text not null,
      contact_info text,
      external_id text not null,
      begin_at timestamptz not null,
      end_at timestamptz not null,
      successful_sessions bigint not null,
      failed_sessions bigint not null,
      warnings text[] not null default '{}',
      created_at timestamptz not null default now()
    );
    create unique index tls_report_identity on tls_report (org_id, reporter_key, external_id, begin_at, end_at);
    create index tls_report_time on tls_report (org_id, begin_at desc);

    create table tls_report_policy (
      report_id bigint not null references tls_report (id) on delete cascade,
      ordinal integer not null,
      org_id bigint not null,
      policy_type text not null,
      policy_string text[] not null default '{}',
      policy_domain text not null,
      mx_host text[] not null default '{}',
      successful_sessions bigint not null,
      failed_sessions bigint not null,
      primary key (report_id, ordinal)
    );
    create index tls_report_policy_domain on tls_report_policy (org_id, policy_domain);

    create table tls_report_failure (
      report_id bigint not null references tls_report (id) on delete cascade,
      policy_ordinal integer not null,
      ordinal integer not null,
      org_id bigint not null,
      result_type text not null,
      sending_mta_ip text,
      receiving_mx_hostname text,
      receiving_mx_helo text,
      receiving_ip text,
      failed_sessions bigint not null,
      additional_information text,
      failure_reason_code text,
      primary key (report_id, policy_ordinal, ordinal)
    );

    create table failure_report (
      id bigint generated always as identity primary key,
      org_id bigint not null references organization (id) on delete cascade,
      document_id bigint not null unique references raw_document (id),
      feedback_type text not null,
      plain_text boolean not null,
      user_agent text,
      version text,
      arrival_at timestamptz,
      source_ip text,
      reported_domain text,
      reported_uri text[] not null default '{}',
      auth_failure text,
      identity_alignment text,
      delivery_result text,
      dkim_domain text,
      dkim_identity text,
      dkim_selector text,
      spf_dns text,
      original_mail_from text,
      original_rcpt_to text,
      original_envelope_id text,
      original_headers text,
      original_from text,
      original_subject text,
      original_message_id text,
      report_subject text,
      report_date timestamptz,
      created_at timestamptz not null default now()
    );
    create index failure_report_domain_time on failure_report (org_id, reported_domain, arrival_at desc);
  `);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await run(db, `
    drop table failure_report, tls_report_failure, tls_report_policy, tls_report, aggregate_daily,
      aggregate_record_reason, aggregate_record_spf, aggregate_record_dkim, aggregate_record,
      aggregate_report, ingest_log, raw_document, organization;
  `);
}
