import { sql, type Kysely } from 'kysely';
import { addDays, type DayPeriod } from '../analytics/period.js';
import { PLAN_EACH_TIME } from '../db/database.js';
import type { DB } from '../db/schema.js';

export interface SourceRecordFilter {
  /** Sending addresses (at least one). */
  ips: readonly string[];
  /** Reports whose date range reaches into [from, to). */
  from: Date;
  to: Date;
  /** Policy domain of the reports. */
  domain?: string;
  /** Policy domains of the reports, one of these (e.g. those the address sent as, from the rollups). */
  domains?: readonly string[];
}

/** A period of whole days as the report time range it covers. */
export function periodBounds(period: DayPeriod): { from: Date; to: Date } {
  return { from: new Date(`${period.fromDay}T00:00:00Z`), to: new Date(`${addDays(period.toDay, 1)}T00:00:00Z`) };
}

export interface StoredSourceRecord {
  reportId: number;
  ordinal: number;
  sourceIp: string;
  count: number;
  disposition: string;
  dkimEval: string | null;
  spfEval: string | null;
  headerFrom: string;
  envelopeFrom: string | null;
  policyDomain: string;
  reporter: string;
  reportExternalId: string;
  beginAt: Date;
  endAt: Date;
  adkim: string | null;
  aspf: string | null;
  dkim: Array<{ domain: string; selector: string | null; result: string }>;
  spf: Array<{ domain: string; scope: string | null; result: string }>;
  reasons: Array<{ type: string; comment: string | null }>;
}

/**
 * The aggregate records of some sending addresses in the reports of a period (newest reports
 * first, at most `limit`), each with its DKIM and SPF results and override reasons. Only the
 * period's reports are read: the reports are found by their time index, their records by report.
 */
export async function sourceRecords(db: Kysely<DB>, orgId: number, filter: SourceRecordFilter, limit: number): Promise<StoredSourceRecord[]> {
  if (filter.ips.length === 0 || filter.domains?.length === 0) return [];
  let query = db
    .selectFrom('aggregate_report as rep')
    // a generic plan cannot know how few domains and addresses there are: it walks all the period's reports
    .modifyFront(PLAN_EACH_TIME)
    .innerJoin('aggregate_record as r', (join) => join.onRef('r.report_id', '=', 'rep.id').onRef('r.org_id', '=', 'rep.org_id'))
    .select([
      'r.report_id',
      'r.ordinal',
      'r.source_ip',
      'r.message_count',
      'r.disposition',
      'r.dkim_eval',
      'r.spf_eval',
      'r.header_from',
      'r.envelope_from',
      'rep.policy_domain',
      'rep.reporter_org',
      'rep.external_id',
      'rep.begin_at',
      'rep.end_at',
      'rep.adkim',
      'rep.aspf',
    ])
    .where('rep.org_id', '=', orgId)
    .where('rep.end_at', '>', filter.from)
    .where('rep.begin_at', '<', filter.to)
    .where(sql<boolean>`r.source_ip = any(${sql.val([...filter.ips])}::inet[])`);
  if (filter.domain !== undefined) query = query.where('rep.policy_domain', '=', filter.domain);
  if (filter.domains !== undefined) query = query.where(sql<boolean>`rep.policy_domain = any(${sql.val([...filter.domains])}::text[])`);
  const rows = await query.orderBy('rep.end_at', 'desc').orderBy('r.report_id', 'desc').orderBy('r.ordinal').limit(limit).execute();
  if (rows.length === 0) return [];

  const reportIds = rows.map((r) => Number(r.report_id));
  const ordinals = rows.map((r) => r.ordinal);
  const keyed = sql<boolean>`(report_id, record_ordinal) in (select * from unnest(${sql.val(reportIds)}::bigint[], ${sql.val(ordinals)}::integer[]))`;
  const [dkim, spf, reasons] = await Promise.all([
    db.selectFrom('aggregate_record_dkim').select(['report_id', 'record_ordinal', 'domain', 'selector', 'result']).where('org_id', '=', orgId).where(keyed).orderBy('ordinal').execute(),
    db.selectFrom('aggregate_record_spf').select(['report_id', 'record_ordinal', 'domain', 'scope', 'result']).where('org_id', '=', orgId).where(keyed).orderBy('ordinal').execute(),
    db.selectFrom('aggregate_record_reason').select(['report_id', 'record_ordinal', 'type', 'comment']).where('org_id', '=', orgId).where(keyed).orderBy('ordinal').execute(),
  ]);
  const group = <T extends { report_id: number; record_ordinal: number }>(list: T[]) => {
    const map = new Map<string, T[]>();
    for (const item of list) {
      const key = `${item.report_id}:${item.record_ordinal}`;
      const bucket = map.get(key);
      if (bucket) bucket.push(item);
      else map.set(key, [item]);
    }
    return map;
  };
  const dkimOf = group(dkim);
  const spfOf = group(spf);
  const reasonsOf = group(reasons);

  return rows.map((r) => {
    const key = `${r.report_id}:${r.ordinal}`;
    return {
      reportId: Number(r.report_id),
      ordinal: r.ordinal,
      sourceIp: String(r.source_ip),
      count: Number(r.message_count),
      disposition: r.disposition,
      dkimEval: r.dkim_eval,
      spfEval: r.spf_eval,
      headerFrom: r.header_from,
      envelopeFrom: r.envelope_from,
      policyDomain: r.policy_domain,
      reporter: r.reporter_org,
      reportExternalId: r.external_id,
      beginAt: r.begin_at,
      endAt: r.end_at,
      adkim: r.adkim,
      aspf: r.aspf,
      dkim: (dkimOf.get(key) ?? []).map((d) => ({ domain: d.domain, selector: d.selector, result: d.result })),
      spf: (spfOf.get(key) ?? []).map((s) => ({ domain: s.domain, scope: s.scope, result: s.result })),
      reasons: (reasonsOf.get(key) ?? []).map((x) => ({ type: x.type, comment: x.comment })),
    };
  });
}
