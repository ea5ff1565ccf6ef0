import { sql, type Kysely } from 'kysely';
import type { KyselyPlugin } from 'kysely';
import type { DB } from '../../src/db/schema.js';

/**
 * Everything the report tables say, without surrogate ids or timestamps: two databases with equal
 * snapshots hold the same data, whatever order or number of runs produced it.
 */
export async function snapshotReportData(db: Kysely<DB>): Promise<Record<string, unknown[]>> {
  const q = async (query: ReturnType<typeof sql>) => (await query.execute(db)).rows;
  return {
    raw_document: await q(sql`select encode(sha256, 'hex') as sha, format, size_bytes, outcome, problem_code,
      content_gzip is not null as archived from raw_document order by sha`),
    ingest_log: await q(sql`select source, item, encode(sha256, 'hex') as sha, kind, outcome, problem_code, records, report_ref
      from ingest_log order by source, item`),
    aggregate_report: await q(sql`select reporter_key, external_id, policy_domain, begin_at, end_at, record_count, message_count,
      warnings, extensions, errors, policy_p, version from aggregate_report order by reporter_key, external_id, policy_domain, begin_at`),
    aggregate_record: await q(sql`select r.reporter_key, r.external_id, x.ordinal, host(x.source_ip) as ip, x.message_count,
      x.disposition, x.dkim_eval, x.spf_eval, x.header_from, x.envelope_from, x.envelope_to
      from aggregate_record x join aggregate_report r on r.id = x.report_id order by 1, 2, 3`),
    aggregate_record_dkim: await q(sql`select r.external_id, d.record_ordinal, d.ordinal, d.domain, d.selector, d.result, d.human_result
      from aggregate_record_dkim d join aggregate_report r on r.id = d.report_id order by 1, 2, 3`),
    aggregate_record_spf: await q(sql`select r.external_id, s.record_ordinal, s.ordinal, s.domain, s.scope, s.result
      from aggregate_record_spf s join aggregate_report r on r.id = s.report_id order by 1, 2, 3`),
    aggregate_record_reason: await q(sql`select r.external_id, x.record_ordinal, x.ordinal, x.type, x.comment
      from aggregate_record_reason x join aggregate_report r on r.id = x.report_id order by 1, 2, 3`),
    // A key may be there twice (folded and pending): its messages are what the rollup says.
    aggregate_daily: await q(sql`select policy_domain, day, header_from, host(source_ip) as ip, disposition, dkim_eval, spf_eval, sum(messages)::int8 as messages
      from aggregate_daily group by 1, 2, 3, 4, 5, 6, 7 order by 1, 2, 3, 4, 5, 6, 7`),
    aggregate_domain_daily: await q(sql`select policy_domain, day, messages, dmarc_pass, dkim_pass, spf_pass, both_pass, quarantine, reject
      from aggregate_domain_daily order by 1, 2`),
    tls_report: await q(sql`select reporter_key, external_id, begin_at, successful_sessions, failed_sessions from tls_report order by 1, 2, 3`),
    tls_report_policy: await q(sql`select r.external_id, p.ordinal, p.policy_domain, p.policy_type, p.mx_host, p.successful_sessions
      from tls_report_policy p join tls_report r on r.id = p.report_id order by 1, 2`),
    tls_report_failure: await q(sql`select r.external_id, f.policy_ordinal, f.ordinal, f.result_type, f.failed_sessions
      from tls_report_failure f join tls_report r on r.id = f.report_id order by 1, 2, 3`),
    failure_report: await q(sql`select encode(d.sha256, 'hex') as sha, f.source_ip, f.reported_domain, f.auth_failure
      from failure_report f join raw_document d on d.id = f.document_id order by 1`),
  };
}

/** Makes every query after the first `n` fail, as if the process died there. */
export function crashingAfter(db: Kysely<DB>, n: number): { db: Kysely<DB>; crashed: () => boolean } {
  let count = 0;
  let crashed = false;
  const plugin: KyselyPlugin = {
    transformQuery(args) {
      count += 1;
      if (count > n) {
        crashed = true;
        throw new Error(`simulated crash before query ${count}`);
      }
      return args.node;
    },
    async transformResult(args) {
      return args.result;
    },
  };
  return { db: db.withPlugin(plugin), crashed: () => crashed };
}
