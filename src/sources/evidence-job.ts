/**
 * The background computation of source evidence: every few minutes, one runner in the deployment
 * finds the organisation × domain pairs whose reports in the trailing window changed since their
 * evidence was computed (a new report, a deleted one) or whose window moved (a new day), and
 * recomputes each in one pass over that domain's reports in the window: records with their DKIM,
 * SPF and reason rows, alignment recomputed, grouped by sending address. Each pair is replaced in
 * one transaction, so an interrupted run leaves every pair either as it was or fully recomputed,
 * and running again changes nothing.
 */
import { sql, type Kysely } from 'kysely';
import { addDays, dayOf } from '../analytics/period.js';
import type { DB } from '../db/schema.js';
import { fromStoredRecord, recomputeAlignment } from '../enrich/alignment.js';
import type { Job } from '../jobs/scheduler.js';
import type { Logger } from '../lib/logger.js';
import { EVIDENCE_WINDOW_DAYS, EvidenceBuilder } from './evidence.js';
import { replaceDomainEvidence } from './evidence-store.js';

export interface EvidenceJobDeps {
  db: Kysely<DB>;
  logger: Logger;
  clock?: () => Date;
}

export interface EvidenceOptions {
  /** Days of reports the evidence covers (default 90). */
  windowDays?: number;
  /** Domains recomputed per run at most, so that one run stays short (default 25). */
  maxDomainsPerRun?: number;
  /** Reports whose records are read per query (default 200). */
  reportsPerBatch?: number;
  signal?: AbortSignal;
}

export interface EvidenceSummary {
  domains: number;
  sources: number;
  /** Pairs that could not be recomputed (tried again next run). */
  failed: number;
  /** Stale pairs were left for the next run. */
  more: boolean;
}

export interface EvidenceWindow {
  fromDay: string;
  toDay: string;
}

export function evidenceWindow(now: Date, days = EVIDENCE_WINDOW_DAYS): EvidenceWindow {
  const toDay = dayOf(now);
  return { fromDay: addDays(toDay, -(days - 1)), toDay };
}

function bounds(window: EvidenceWindow): { from: Date; to: Date } {
  return { from: new Date(`${window.fromDay}T00:00:00Z`), to: new Date(`${addDays(window.toDay, 1)}T00:00:00Z`) };
}

/**
 * The pairs to recompute, never-computed first, then the longest-waiting: reports in the window
 * differ from what the state row recorded (count or highest id), the window moved, or the pair
 * lost all its reports in the window.
 */
export async function staleDomains(db: Kysely<DB>, window: EvidenceWindow, limit: number): Promise<Array<{ orgId: number; domain: string }>> {
  const { from, to } = bounds(window);
  const result = await sql<{ org_id: number; policy_domain: string }>`
    with current_reports as (
      select org_id, policy_domain, count(*)::int as reports, max(id) as max_id
      from aggregate_report
      where end_at > ${from} and begin_at < ${to}
      group by org_id, policy_domain
    )
    select coalesce(c.org_id, s.org_id) as org_id, coalesce(c.policy_domain, s.policy_domain) as policy_domain
    from current_reports c
    full join source_evidence_state s on s.org_id = c.org_id and s.policy_domain = c.policy_domain
    where s.org_id is null
       or (c.org_id is null and s.reports > 0)
       or (c.org_id is not null and (s.window_from <> ${window.fromDay}::date or s.reports <> c.reports or s.max_report_id is distinct from c.max_id))
    order by s.computed_at asc nulls first, 1, 2
    limit ${limit}`.execute(db);
  return result.rows.map((r) => ({ orgId: Number(r.org_id), domain: r.policy_domain }));
}

function byRecord<T extends { report_id: number; record_ordinal: number }>(rows: T[]): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const row of rows) {
    const key = `${row.report_id}:${row.record_ordinal}`;
    const list = map.get(key);
    if (list) list.push(row);
    else map.set(key, [row]);
  }
  return map;
}

/** Recomputes and replaces one organisation's domain; the number of sending addresses found. */
export async function recomputeDomainEvidence(db: Kysely<DB>, orgId: number, domain: string, window: EvidenceWindow, now: Date, reportsPerBatch = 200): Promise<number> {
  const { from, to } = bounds(window);
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const reports = await trx
        .selectFrom('aggregate_report')
        .select(['id', 'reporter_org', 'begin_at', 'end_at', 'adkim', 'aspf'])
        .where('org_id', '=', orgId)
        .where('policy_domain', '=', domain)
        .where('end_at', '>', from)
        .where('begin_at', '<', to)
        .execute();
      const builder = new EvidenceBuilder(domain);
      for (let i = 0; i < reports.length; i += reportsPerBatch) {
        const batch = reports.slice(i, i + reportsPerBatch);
        const ids = batch.map((r) => Number(r.id));
        const ofBatch = sql<boolean>`report_id = any(${sql.val(ids)}::bigint[])`;
        const [records, dkim, spf, reasons] = await Promise.all([
          trx.selectFrom('aggregate_record').select(['report_id', 'ordinal', 'source_ip', 'message_count', 'dkim_eval', 'spf_eval', 'header_from']).where('org_id', '=', orgId).where(ofBatch).execute(),
          trx.selectFrom('aggregate_record_dkim').select(['report_id', 'record_ordinal', 'domain', 'selector', 'result']).where('org_id', '=', orgId).where(ofBatch).orderBy('report_id').orderBy('record_ordinal').orderBy('ordinal').execute(),
          trx.selectFrom('aggregate_record_spf').select(['report_id', 'record_ordinal', 'domain', 'scope', 'result']).where('org_id', '=', orgId).where(ofBatch).orderBy('report_id').orderBy('record_ordinal').orderBy('ordinal').execute(),
          trx.selectFrom('aggregate_record_reason').select(['report_id', 'record_ordinal', 'type', 'comment']).where('org_id', '=', orgId).where(ofBatch).orderBy('report_id').orderBy('record_ordinal').orderBy('ordinal').execute(),
        ]);
        const reportOf = new Map(batch.map((r) => [Number(r.id), r]));
        const dkimOf = byRecord(dkim);
        const spfOf = byRecord(spf);
        const reasonsOf = byRecord(reasons);
        for (const r of records) {
          const report = reportOf.get(Number(r.report_id))!;
          const key = `${r.report_id}:${r.ordinal}`;
          const alignment = recomputeAlignment(fromStoredRecord(r, dkimOf.get(key) ?? [], spfOf.get(key) ?? []), { adkim: report.adkim, aspf: report.aspf });
          builder.add(
            {
              reportId: Number(r.report_id),
              ordinal: r.ordinal,
              sourceIp: String(r.source_ip),
              count: Number(r.message_count),
              reporter: report.reporter_org,
              beginAt: report.begin_at,
              endAt: report.end_at,
              reasons: (reasonsOf.get(key) ?? []).map((x) => ({ type: x.type, comment: x.comment })),
            },
            alignment,
          );
        }
      }
      const maxReportId = reports.reduce<number | null>((max, r) => (max === null || Number(r.id) > max ? Number(r.id) : max), null);
      const evidence = builder.build(now);
      await replaceDomainEvidence(trx, orgId, { domain, windowFrom: window.fromDay, windowTo: window.toDay, reports: reports.length, maxReportId, computedAt: now }, evidence);
      return evidence.length;
    });
}

/** One pass: recomputes stale pairs until none is left, `maxDomainsPerRun` is reached, or the signal aborts. */
export async function refreshSourceEvidence(deps: EvidenceJobDeps, options: EvidenceOptions = {}): Promise<EvidenceSummary> {
  const clock = deps.clock ?? (() => new Date());
  const max = options.maxDomainsPerRun ?? 25;
  const window = evidenceWindow(clock(), options.windowDays);
  const due = await staleDomains(deps.db, window, max + 1);
  const summary: EvidenceSummary = { domains: 0, sources: 0, failed: 0, more: false };
  for (const [i, pair] of due.entries()) {
    if (i >= max || options.signal?.aborted) {
      summary.more = true;
      break;
    }
    try {
      summary.sources += await recomputeDomainEvidence(deps.db, pair.orgId, pair.domain, window, clock(), options.reportsPerBatch);
      summary.domains += 1;
    } catch (error) {
      // E.g. the organisation was deleted meanwhile; the others go on.
      summary.failed += 1;
      deps.logger.error('could not compute source evidence', { orgId: pair.orgId, domain: pair.domain, error });
    }
  }
  return summary;
}

/** The scheduled job: every five minutes, one runner in the deployment. */
export function sourceEvidenceJob(deps: EvidenceJobDeps, options: Omit<EvidenceOptions, 'signal'> = {}): Job {
  return {
    name: 'source-evidence',
    schedule: '*/5 * * * *',
    mode: 'singleton',
    async run(signal) {
      const summary = await refreshSourceEvidence(deps, { ...options, signal });
      if (summary.domains + summary.failed > 0) deps.logger.info('computed source evidence', { ...summary });
    },
  };
}
