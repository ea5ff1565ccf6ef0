import type { Transaction } from 'kysely';
import type { DB } from '../db/schema.js';
import { insertColumns, insertTogether, unnestInsert, type Column } from '../db/bulk.js';
import { parseAggregateStream } from '../reports/parse/aggregate.js';
import type { AggregateHeader, AggregateRecord, ExtractedDocument } from '../reports/types.js';
import { daysOfRange, splitCount, type DayShare } from './daily-split.js';
import { writeIngestLog } from './ingest-log.js';
import { ArchiveWriter } from './raw-archive.js';
import { claimDocument, recordDuplicateReport } from './documents.js';
import type { DocumentOutcome, IngestContext } from './types.js';

const RECORD_COLUMNS: Column[] = [
  ['report_id', 'int8'],
  ['ordinal', 'int4'],
  ['org_id', 'int8'],
  ['source_ip', 'inet'],
  ['message_count', 'int8'],
  ['disposition', 'text'],
  ['dkim_eval', 'text'],
  ['spf_eval', 'text'],
  ['header_from', 'text'],
  ['envelope_from', 'text'],
  ['envelope_to', 'text'],
];
const AUTH_COLUMNS = (detail: 'selector' | 'scope'): Column[] => [
  ['report_id', 'int8'],
  ['record_ordinal', 'int4'],
  ['ordinal', 'int2'],
  ['org_id', 'int8'],
  ['domain', 'text'],
  [detail, 'text'],
  ['result', 'text'],
  ['human_result', 'text'],
];
const DKIM_COLUMNS = AUTH_COLUMNS('selector');
const SPF_COLUMNS = AUTH_COLUMNS('scope');
const REASON_COLUMNS: Column[] = [
  ['report_id', 'int8'],
  ['record_ordinal', 'int4'],
  ['ordinal', 'int2'],
  ['org_id', 'int8'],
  ['type', 'text'],
  ['comment', 'text'],
];
const DAILY_COLUMNS: Column[] = [
  ['org_id', 'int8'],
  ['policy_domain', 'text'],
  ['day', 'date'],
  ['header_from', 'text'],
  ['source_ip', 'inet'],
  ['disposition', 'text'],
  ['dkim_eval', 'text'],
  ['spf_eval', 'text'],
  ['messages', 'int8'],
];
const DAILY_UPSERT =
  'on conflict (org_id, policy_domain, day, header_from, source_ip, disposition, dkim_eval, spf_eval) ' +
  'do update set messages = aggregate_daily.messages + excluded.messages';

function columns(n: number): unknown[][] {
  return Array.from({ length: n }, () => []);
}

/** Distinct rollup keys kept in memory before they are written (bounds memory on huge reports). */
const TALLY_FLUSH_KEYS = 50_000;

/**
 * Messages per (day, header_from, ip, disposition, dkim, spf), summed in memory and written at the
 * end of the report — or in chunks, for a report with more distinct keys than TALLY_FLUSH_KEYS.
 */
class DailyTally {
  private counts = new Map<string, number>();
  constructor(private readonly days: DayShare[]) {}

  get size(): number {
    return this.counts.size;
  }

  add(record: AggregateRecord): void {
    const parts = splitCount(record.count, this.days);
    const rest = `\t${record.headerFrom}\t${record.sourceIp}\t${record.disposition}\t${record.dkim ?? ''}\t${record.spf ?? ''}`;
    for (let i = 0; i < parts.length; i++) {
      const messages = parts[i]!;
      if (messages === 0) continue;
      const key = this.days[i]!.day + rest;
      this.counts.set(key, (this.counts.get(key) ?? 0) + messages);
    }
  }

  /**
   * Writes and forgets what was summed so far. Rows go in key order, so concurrent writers lock
   * rollup rows in the same order; only a report flushed in several chunks can still meet another
   * writer in a deadlock, which PostgreSQL breaks and ingestDocument retries.
   */
  async flush(db: Transaction<DB>, orgId: number, policyDomain: string): Promise<void> {
    const out = columns(DAILY_COLUMNS.length);
    for (const key of [...this.counts.keys()].sort()) {
      const [day, headerFrom, ip, disposition, dkim, spf] = key.split('\t');
      const row = [orgId, policyDomain, day, headerFrom, ip, disposition, dkim, spf, this.counts.get(key)];
      row.forEach((value, i) => out[i]!.push(value));
    }
    this.counts = new Map();
    await insertColumns(db, 'aggregate_daily', DAILY_COLUMNS, out, DAILY_UPSERT);
  }
}

async function insertRecords(
  trx: Transaction<DB>,
  orgId: number,
  reportId: number,
  firstOrdinal: number,
  records: AggregateRecord[],
): Promise<void> {
  const rec = columns(RECORD_COLUMNS.length);
  const dkim = columns(DKIM_COLUMNS.length);
  const spf = columns(SPF_COLUMNS.length);
  const reason = columns(REASON_COLUMNS.length);
  const push = (target: unknown[][], row: unknown[]) => row.forEach((value, i) => target[i]!.push(value));
  records.forEach((r, i) => {
    const ordinal = firstOrdinal + i;
    push(rec, [reportId, ordinal, orgId, r.sourceIp, r.count, r.disposition, r.dkim, r.spf, r.headerFrom, r.envelopeFrom, r.envelopeTo]);
    r.dkimResults.forEach((d, j) => push(dkim, [reportId, ordinal, j, orgId, d.domain, d.selector, d.result, d.humanResult]));
    r.spfResults.forEach((s, j) => push(spf, [reportId, ordinal, j, orgId, s.domain, s.scope, s.result, s.humanResult]));
    r.reasons.forEach((x, j) => push(reason, [reportId, ordinal, j, orgId, x.type, x.comment]));
  });
  const inserts = [
    unnestInsert('aggregate_record', RECORD_COLUMNS, rec),
    ...(dkim[0]!.length ? [unnestInsert('aggregate_record_dkim', DKIM_COLUMNS, dkim)] : []),
    ...(spf[0]!.length ? [unnestInsert('aggregate_record_spf', SPF_COLUMNS, spf)] : []),
    ...(reason[0]!.length ? [unnestInsert('aggregate_record_reason', REASON_COLUMNS, reason)] : []),
  ];
  await insertTogether(trx, inserts);
}

export function reporterKey(orgName: string, email: string | null): string {
  return (orgName.trim() || email || '').trim().toLowerCase();
}

async function insertReport(trx: Transaction<DB>, orgId: number, documentId: number, header: AggregateHeader) {
  const { metadata: m, policy: p } = header;
  return trx
    .insertInto('aggregate_report')
    .values({
      org_id: orgId,
      document_id: documentId,
      reporter_org: m.orgName,
      reporter_email: m.email,
      reporter_key: reporterKey(m.orgName, m.email),
      extra_contact_info: m.extraContactInfo,
      external_id: m.reportId,
      policy_domain: p.domain,
      begin_at: m.beginAt,
      end_at: m.endAt,
      version: header.version,
      xml_namespace: header.namespace,
      generator: m.generator,
      errors: m.errors,
      adkim: p.adkim,
      aspf: p.aspf,
      policy_p: p.p,
      policy_sp: p.sp,
      policy_np: p.np,
      policy_pct: p.pct,
      policy_fo: p.fo,
      policy_testing: p.testing,
      discovery_method: p.discoveryMethod,
    })
    .onConflict((oc) => oc.doNothing())
    .returning('id')
    .executeTakeFirst();
}

/**
 * Parses and stores one aggregate report in a single transaction, streaming records in batches.
 * A parse error at any point rolls everything back (the caller records the refusal).
 */
export async function storeAggregate(
  ctx: IngestContext,
  doc: ExtractedDocument,
  sha256: Uint8Array,
): Promise<DocumentOutcome> {
  const archive = new ArchiveWriter();
  const events = parseAggregateStream(archive.tee(doc.content.open()));
  try {
    const first = await events.next();
    if (first.done || first.value.type !== 'header') throw new Error('aggregate parser produced no header');
    const header = first.value.header;
    const reportRef = `${header.metadata.orgName || header.metadata.email || 'unknown'} ${header.metadata.reportId}`;
    return await ctx.db.transaction().execute(async (trx) => {
      const documentId = await claimDocument(trx, ctx.orgId, sha256, doc, 'stored');
      const report = await insertReport(trx, ctx.orgId, documentId, header);
      if (!report) return recordDuplicateReport(trx, ctx, doc, sha256, documentId, 'aggregate', reportRef);

      const tally = new DailyTally(daysOfRange(header.metadata.beginAt, header.metadata.endAt));
      let records = 0;
      let messages = 0;
      // The database writes one batch while the parser reads the next.
      let writing: Promise<void> = Promise.resolve();
      for (;;) {
        const next = await events.next();
        if (next.done) throw new Error('aggregate parser ended without an end event');
        const event = next.value;
        await writing;
        if (event.type === 'records') {
          writing = insertRecords(trx, ctx.orgId, report.id, records, event.records);
          writing.catch(() => {});
          for (const r of event.records) {
            tally.add(r);
            messages += r.count;
          }
          records += event.records.length;
          if (tally.size > TALLY_FLUSH_KEYS) {
            await writing;
            await tally.flush(trx, ctx.orgId, header.policy.domain);
          }
          continue;
        }
        if (event.type !== 'end') throw new Error(`unexpected aggregate event ${event.type}`);
        await trx
          .updateTable('aggregate_report')
          .set({ warnings: event.warnings, extensions: event.extensions, record_count: records, message_count: messages })
          .where('id', '=', report.id)
          .execute();
        await tally.flush(trx, ctx.orgId, header.policy.domain);
        await trx
          .updateTable('raw_document')
          .set({ content_gzip: await archive.finish() })
          .where('id', '=', documentId)
          .execute();
        const outcome: DocumentOutcome = {
          item: doc.name,
          kind: 'aggregate',
          outcome: 'stored',
          seenBefore: false,
          problemCode: null,
          problem: event.warnings.length ? event.warnings.slice(0, 3).join('; ') : null,
          records,
          reportRef,
        };
        await writeIngestLog(trx, { ...outcome, orgId: ctx.orgId, source: ctx.source, sha256, documentId });
        return outcome;
      }
    });
  } finally {
    archive.abort();
    await events.return(undefined);
  }
}
