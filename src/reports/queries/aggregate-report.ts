import { sql, type Kysely, type SqlBool } from 'kysely';
import { orderedAfter, type ListOrder, type SortCursor, type SortKey } from '../../db/keyset.js';
import type { DB } from '../../db/schema.js';

export interface AggregateReportDetail {
  id: number;
  reporter: string;
  reporterEmail: string | null;
  extraContactInfo: string | null;
  reportId: string;
  beginAt: Date;
  endAt: Date;
  receivedAt: Date;
  version: string | null;
  xmlNamespace: string | null;
  generator: string | null;
  errors: string[];
  extensions: string[];
  warnings: string[];
  policy: {
    domain: string;
    adkim: string | null;
    aspf: string | null;
    p: string | null;
    sp: string | null;
    np: string | null;
    pct: number | null;
    fo: string | null;
    testing: string | null;
    discoveryMethod: string | null;
  };
  recordCount: number;
  messageCount: number;
}

/** An aggregate report's metadata and published policy, or undefined when the organisation has no such report. */
export async function aggregateReport(db: Kysely<DB>, orgId: number, id: number): Promise<AggregateReportDetail | undefined> {
  const r = await db.selectFrom('aggregate_report').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
  if (!r) return undefined;
  return {
    id: r.id,
    reporter: r.reporter_org,
    reporterEmail: r.reporter_email,
    extraContactInfo: r.extra_contact_info,
    reportId: r.external_id,
    beginAt: r.begin_at,
    endAt: r.end_at,
    receivedAt: r.created_at,
    version: r.version,
    xmlNamespace: r.xml_namespace,
    generator: r.generator,
    errors: r.errors,
    extensions: r.extensions,
    warnings: r.warnings,
    policy: {
      domain: r.policy_domain,
      adkim: r.adkim,
      aspf: r.aspf,
      p: r.policy_p,
      sp: r.policy_sp,
      np: r.policy_np,
      pct: r.policy_pct,
      fo: r.policy_fo,
      testing: r.policy_testing,
      discoveryMethod: r.discovery_method,
    },
    recordCount: Number(r.record_count),
    messageCount: Number(r.message_count),
  };
}

export interface AggregateRecordDetail {
  ordinal: number;
  sourceIp: string;
  count: number;
  disposition: string;
  dkim: string | null;
  spf: string | null;
  reasons: Array<{ type: string; comment: string | null }>;
  headerFrom: string;
  envelopeFrom: string | null;
  envelopeTo: string | null;
  dkimResults: Array<{ domain: string; selector: string | null; result: string; humanResult: string | null }>;
  spfResults: Array<{ domain: string; scope: string | null; result: string; humanResult: string | null }>;
}

/** DMARC passes when either aligned DKIM or aligned SPF passes; unknown when the reporter gave neither. */
export function dmarcVerdict(record: Pick<AggregateRecordDetail, 'dkim' | 'spf'>): 'pass' | 'fail' | 'unknown' {
  if (record.dkim === 'pass' || record.spf === 'pass') return 'pass';
  if (record.dkim === null && record.spf === null) return 'unknown';
  return 'fail';
}

/** What a report's records can be sorted by (the page's column keys); `report` is the report's own order. */
export const RECORD_SORT: Record<'report' | 'sourceIp' | 'count' | 'dmarc' | 'disposition' | 'identifiers', SortKey<AggregateRecordDetail>> = {
  report: { sql: sql.ref('ordinal'), type: 'number', of: (r) => r.ordinal },
  // inet order: IPv4 before IPv6, numerically.
  sourceIp: { sql: sql.ref('source_ip'), type: 'text', of: (r) => r.sourceIp },
  count: { sql: sql.ref('message_count'), type: 'number', of: (r) => r.count },
  dmarc: {
    sql: sql`case when dkim_eval = 'pass' or spf_eval = 'pass' then 'pass' when dkim_eval is null and spf_eval is null then 'unknown' else 'fail' end`,
    type: 'text',
    of: dmarcVerdict,
  },
  disposition: { sql: sql.ref('disposition'), type: 'text', of: (r) => r.disposition },
  identifiers: { sql: sql.ref('header_from'), type: 'text', of: (r) => r.headerFrom },
};
export type RecordSort = keyof typeof RECORD_SORT;

/**
 * Up to `limit` records of a report after the cursor's record, in document order unless another
 * is asked for, each with every DKIM and SPF result and the reasons the receiver gave. Scoped to
 * the organisation. The cursor's id is the record's ordinal.
 */
export async function aggregateRecords(
  db: Kysely<DB>,
  orgId: number,
  reportId: number,
  page: { limit: number; after: SortCursor | null; order?: ListOrder<RecordSort> },
): Promise<AggregateRecordDetail[]> {
  const order = page.order ?? { by: 'report', dir: 'asc' };
  const query = db
    .selectFrom('aggregate_record')
    .select(['ordinal', 'source_ip', 'message_count', 'disposition', 'dkim_eval', 'spf_eval', 'header_from', 'envelope_from', 'envelope_to'])
    .where('org_id', '=', orgId)
    .where('report_id', '=', reportId);
  const records = await orderedAfter(query, RECORD_SORT[order.by], order.dir, sql.ref('ordinal'), page.after).limit(page.limit).execute();
  if (records.length === 0) return [];

  // In document order the page is a range of ordinals; in any other it is a set.
  const ordinals = records.map((r) => r.ordinal);
  const first = Math.min(...ordinals);
  const last = Math.max(...ordinals);
  const ofPage =
    last - first + 1 === ordinals.length
      ? sql<SqlBool>`record_ordinal between ${first} and ${last}`
      : sql<SqlBool>`record_ordinal = any(${sql.val(ordinals)}::integer[])`;
  const [dkim, spf, reasons] = await Promise.all([
    db
      .selectFrom('aggregate_record_dkim')
      .select(['record_ordinal', 'domain', 'selector', 'result', 'human_result'])
      .where('org_id', '=', orgId)
      .where('report_id', '=', reportId)
      .where(ofPage)
      .orderBy('record_ordinal')
      .orderBy('ordinal')
      .execute(),
    db
      .selectFrom('aggregate_record_spf')
      .select(['record_ordinal', 'domain', 'scope', 'result', 'human_result'])
      .where('org_id', '=', orgId)
      .where('report_id', '=', reportId)
      .where(ofPage)
      .orderBy('record_ordinal')
      .orderBy('ordinal')
      .execute(),
    db
      .selectFrom('aggregate_record_reason')
      .select(['record_ordinal', 'type', 'comment'])
      .where('org_id', '=', orgId)
      .where('report_id', '=', reportId)
      .where(ofPage)
      .orderBy('record_ordinal')
      .orderBy('ordinal')
      .execute(),
  ]);

  const byOrdinal = new Map<number, AggregateRecordDetail>();
  const out = records.map((r) => {
    const record: AggregateRecordDetail = {
      ordinal: r.ordinal,
      sourceIp: r.source_ip,
      count: Number(r.message_count),
      disposition: r.disposition,
      dkim: r.dkim_eval,
      spf: r.spf_eval,
      reasons: [],
      headerFrom: r.header_from,
      envelopeFrom: r.envelope_from,
      envelopeTo: r.envelope_to,
      dkimResults: [],
      spfResults: [],
    };
    byOrdinal.set(r.ordinal, record);
    return record;
  });
  for (const d of dkim) byOrdinal.get(d.record_ordinal)?.dkimResults.push({ domain: d.domain, selector: d.selector, result: d.result, humanResult: d.human_result });
  for (const s of spf) byOrdinal.get(s.record_ordinal)?.spfResults.push({ domain: s.domain, scope: s.scope, result: s.result, humanResult: s.human_result });
  for (const x of reasons) byOrdinal.get(x.record_ordinal)?.reasons.push({ type: x.type, comment: x.comment });
  return out;
}
