/**
 * Sources as pages and the API show them: each sending address with its volume (daily rollups),
 * what the enrichment job learnt about it (cache only: no lookup here), the DKIM domains and
 * override reasons of its records in the period, the service it belongs to, and its classification
 * with the evidence, after the organisation's decisions.
 */
import type { Kysely } from 'kysely';
import { addDays, type DayPeriod } from '../analytics/period.js';
import type { DB } from '../db/schema.js';
import { fromStoredRecord, recomputeAlignment } from '../enrich/alignment.js';
import { classifySource, type Classification, type SourceRecord } from '../enrich/classify.js';
import { enrichmentOf, type IpEnrichmentView } from '../enrich/ip-cache.js';
import type { ServiceEntry } from '../enrich/services.js';
import type { SourceRow } from '../reports/queries/sources.js';
import { decisionFor, decisionsOf, type SourceDecision } from './decisions.js';
import { orgServiceEntries } from './org-services.js';
import { sourceRecords, type StoredSourceRecord } from './source-records.js';

/** Records read to classify a page of sources, at most (newest reports first). */
export const RECORDS_PER_PAGE_MAX = 20_000;

export interface SourceView {
  ip: string;
  messages: number;
  dmarcPass: number;
  dmarcFail: number;
  quarantine: number;
  reject: number;
  firstDay: string;
  lastDay: string;
  enrichment: IpEnrichmentView | null;
  /** d= domains of the DKIM signatures in its records, with their results. */
  dkim: Array<{ domain: string; results: string[] }>;
  /** Override reasons its reporters gave (type and comment). */
  reasons: Array<{ type: string; comment: string | null }>;
  classification: Classification;
  /** The decision that applies (the address's own, else its service's). */
  decision: SourceDecision | null;
  /** Records the classification is based on. */
  records: number;
}

export function periodBounds(period: DayPeriod): { from: Date; to: Date } {
  return { from: new Date(`${period.fromDay}T00:00:00Z`), to: new Date(`${addDays(period.toDay, 1)}T00:00:00Z`) };
}

/** The classification input of a stored record: alignment recomputed under the report's adkim/aspf. */
export function toSourceRecord(record: StoredSourceRecord): SourceRecord {
  const alignment = recomputeAlignment(
    fromStoredRecord({ header_from: record.headerFrom, dkim_eval: record.dkimEval, spf_eval: record.spfEval }, record.dkim, record.spf),
    { adkim: record.adkim, aspf: record.aspf },
  );
  return { count: record.count, alignment, reasons: record.reasons, reporter: record.reporter };
}

interface Context {
  decisions: Map<string, SourceDecision>;
  services: ServiceEntry[];
}

function classifyOne(ip: string, records: StoredSourceRecord[], enrichment: IpEnrichmentView | null, ctx: Context): { classification: Classification; decision: SourceDecision | null } {
  const input = {
    sourceIp: ip,
    records: records.map(toSourceRecord),
    enrichment: enrichment
      ? {
          // An unconfirmed PTR name is anyone's claim: it never names a service.
          ptrHost: enrichment.ptrConfirmed ? enrichment.ptrHost : null,
          ptrOrgDomain: enrichment.ptrConfirmed ? enrichment.ptrOrgDomain : null,
          asn: enrichment.asn,
          asnName: enrichment.asOrg,
        }
      : {},
  };
  const options = { extraServices: ctx.services };
  const first = classifySource(input, options);
  const serviceId = (first.service ?? first.network)?.service.id ?? null;
  const decision = decisionFor(ctx.decisions, ip, serviceId);
  if (decision?.decision !== 'authorised') return { classification: first, decision };
  return { classification: classifySource({ ...input, authorised: true, authorisedNote: decision.note }, options), decision };
}

function summarise(records: StoredSourceRecord[]): Pick<SourceView, 'dkim' | 'reasons'> {
  const dkim = new Map<string, Set<string>>();
  const reasons = new Map<string, { type: string; comment: string | null }>();
  for (const r of records) {
    for (const d of r.dkim) {
      const key = d.domain.toLowerCase();
      dkim.set(key, (dkim.get(key) ?? new Set()).add(d.result.toLowerCase()));
    }
    for (const x of r.reasons) reasons.set(`${x.type}\u0000${x.comment ?? ''}`, x);
  }
  return {
    dkim: [...dkim].map(([domain, results]) => ({ domain, results: [...results].sort() })).sort((a, b) => a.domain.localeCompare(b.domain)),
    reasons: [...reasons.values()].slice(0, 20),
  };
}

/** Classifies the sources of a rollup page (e.g. a domain's top sources) over the same period. */
export async function classifySources(
  db: Kysely<DB>,
  orgId: number,
  rows: readonly SourceRow[],
  scope: { period: DayPeriod; domain?: string },
): Promise<SourceView[]> {
  if (rows.length === 0) return [];
  const ips = rows.map((r) => r.sourceIp);
  const [enrichment, records, decisions, services] = await Promise.all([
    enrichmentOf(db, ips),
    sourceRecords(db, orgId, { ips, ...periodBounds(scope.period), ...(scope.domain !== undefined ? { domain: scope.domain } : {}) }, RECORDS_PER_PAGE_MAX),
    decisionsOf(db, orgId),
    orgServiceEntries(db, orgId),
  ]);
  const byIp = new Map<string, StoredSourceRecord[]>();
  for (const r of records) {
    const list = byIp.get(r.sourceIp);
    if (list) list.push(r);
    else byIp.set(r.sourceIp, [r]);
  }
  const ctx = { decisions, services };
  return rows.map((row) => {
    const own = byIp.get(row.sourceIp) ?? [];
    const cached = enrichment.get(row.sourceIp) ?? null;
    return {
      ip: row.sourceIp,
      messages: row.messages,
      dmarcPass: row.dmarcPass,
      dmarcFail: row.dmarcFail,
      quarantine: row.dispositions.quarantine,
      reject: row.dispositions.reject,
      firstDay: row.firstDay,
      lastDay: row.lastDay,
      enrichment: cached,
      ...summarise(own),
      ...classifyOne(row.sourceIp, own, cached, ctx),
      records: own.length,
    };
  });
}

export interface ServiceGroup {
  /** `forwarded`, a service id, or `unidentified`. */
  key: string;
  label: string;
  category: string | null;
  sources: SourceView[];
  messages: number;
  dmarcPass: number;
}

/**
 * Sources grouped by service, largest first: forwarded mail in its own group whatever service
 * carried it, sources nothing identifies in "unidentified".
 */
export function groupByService(views: readonly SourceView[]): ServiceGroup[] {
  const groups = new Map<string, ServiceGroup>();
  for (const view of views) {
    const c = view.classification;
    const match = c.service ?? c.network;
    const [key, label, category] =
      c.kind === 'forwarder'
        ? ['forwarded', 'Forwarded mail and mailing lists', null]
        : match
          ? [match.service.id, match.service.name, match.service.category]
          : ['unidentified', 'Not identified', null];
    const group = groups.get(key) ?? { key, label, category, sources: [], messages: 0, dmarcPass: 0 };
    group.sources.push(view);
    group.messages += view.messages;
    group.dmarcPass += view.dmarcPass;
    groups.set(key, group);
  }
  return [...groups.values()].sort((a, b) => b.messages - a.messages || a.label.localeCompare(b.label));
}
