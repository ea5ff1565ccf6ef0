/**
 * Sources as pages and the API show them: each sending address with its volume (daily rollups),
 * what the enrichment job learnt about it (cache only: no lookup here), the evidence the evidence
 * job computed from its records of the last days (DKIM domains, SPF, override reasons; no record is
 * read here), the service it belongs to, and its classification with the evidence, after the
 * organisation's decisions. An address whose records were not analysed yet is said to be so, and
 * is never called suspicious.
 */
import type { Kysely } from 'kysely';
import { addDays, dayOf } from '../analytics/period.js';
import type { DB } from '../db/schema.js';
import { fromStoredRecord, recomputeAlignment } from '../enrich/alignment.js';
import { classifySource, type Classification, type SourceRecord } from '../enrich/classify.js';
import { enrichmentOf, type IpEnrichmentView } from '../enrich/ip-cache.js';
import type { ServiceEntry } from '../enrich/services.js';
import { sourcesByIp, type SourceFilter, type SourceRow } from '../reports/queries/sources.js';
import { decisionFor, decisionsOf, type SourceDecision } from './decisions.js';
import { classifierRecords, EVIDENCE_WINDOW_DAYS, mergedGroups, summarise, type EvidenceGroup, type SourceEvidence } from './evidence.js';
import { evidenceStates, readEvidence } from './evidence-store.js';
import { orgServiceEntries } from './org-services.js';
import type { StoredSourceRecord } from './source-records.js';

/**
 * ready: classified from the evidence of its records; pending: records not analysed yet (new
 * reports, or a domain the job has not reached); outside_window: no records in the evidence window.
 */
export type EvidenceStatus = 'ready' | 'pending' | 'outside_window';

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
  evidence: {
    status: EvidenceStatus;
    /** Days of records the evidence covers, ending today. */
    windowDays: number;
    /** When the evidence was computed (the oldest, across domains); null without evidence. */
    computedAt: Date | null;
  };
}

/** The classification input of a stored record: alignment recomputed under the report's adkim/aspf. */
export function toSourceRecord(record: StoredSourceRecord): SourceRecord {
  const alignment = recomputeAlignment(
    fromStoredRecord({ header_from: record.headerFrom, dkim_eval: record.dkimEval, spf_eval: record.spfEval }, record.dkim, record.spf),
    { adkim: record.adkim, aspf: record.aspf },
  );
  return { count: record.count, alignment, reasons: record.reasons, reporter: record.reporter };
}

export interface ClassifyContext {
  decisions: Map<string, SourceDecision>;
  services: ServiceEntry[];
}

/** Classifies one address from its records (or groups of records), its cached enrichment and the organisation's decisions. */
export function classifyOne(
  ip: string,
  records: SourceRecord[],
  enrichment: IpEnrichmentView | null,
  ctx: ClassifyContext,
): { classification: Classification; decision: SourceDecision | null } {
  const input = {
    sourceIp: ip,
    records,
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

/** The DKIM domains with their results, and the first 20 distinct override reasons. */
function summaryOf(groups: readonly EvidenceGroup[]): Pick<SourceView, 'dkim' | 'reasons'> {
  const { dkim, reasons } = summarise(groups);
  const results = new Map<string, Set<string>>();
  for (const d of dkim) results.set(d.domain, (results.get(d.domain) ?? new Set()).add(d.result));
  return {
    dkim: [...results].map(([domain, set]) => ({ domain, results: [...set].sort() })).sort((a, b) => a.domain.localeCompare(b.domain)),
    reasons: reasons.slice(0, 20).map((r) => ({ type: r.type, comment: r.comment })),
  };
}

/** The first day of the evidence window that ends today. */
export function evidenceWindowStart(now: Date): string {
  return addDays(dayOf(now), -(EVIDENCE_WINDOW_DAYS - 1));
}

/**
 * The view of one address from its evidence rows (one per domain). Without evidence, an address
 * that sent mail inside the window (or whose domain was never analysed) is pending; one that did
 * not is outside the window. Either way it is classified from its enrichment and decisions alone,
 * which never makes it suspicious.
 */
export function sourceView(
  row: SourceRow,
  evidence: readonly SourceEvidence[],
  enrichment: IpEnrichmentView | null,
  ctx: ClassifyContext,
  known: { analysed: boolean; windowStart: string },
): SourceView {
  const groups = mergedGroups(evidence);
  const status: EvidenceStatus = evidence.length > 0 ? 'ready' : !known.analysed || row.lastDay >= known.windowStart ? 'pending' : 'outside_window';
  const computed = evidence.map((e) => e.computedAt.getTime());
  return {
    ip: row.sourceIp,
    messages: row.messages,
    dmarcPass: row.dmarcPass,
    dmarcFail: row.dmarcFail,
    quarantine: row.dispositions.quarantine,
    reject: row.dispositions.reject,
    firstDay: row.firstDay,
    lastDay: row.lastDay,
    enrichment,
    ...summaryOf(groups),
    ...classifyOne(row.sourceIp, classifierRecords(groups), enrichment, ctx),
    records: evidence.reduce((n, e) => n + e.records, 0),
    evidence: { status, windowDays: EVIDENCE_WINDOW_DAYS, computedAt: computed.length > 0 ? new Date(Math.min(...computed)) : null },
  };
}

/** The organisation's side of classifying: nothing about the addresses, so it can be read beside them. */
export interface ClassificationBasis {
  ctx: ClassifyContext;
  /** The evidence job has analysed the domain at least once (always true across domains). */
  analysed: boolean;
}

/** Reads the organisation's decisions and service entries and, for one domain, whether its evidence was ever computed. */
export async function classificationBasis(db: Kysely<DB>, orgId: number, domain?: string): Promise<ClassificationBasis> {
  const [decisions, services, states] = await Promise.all([
    decisionsOf(db, orgId),
    orgServiceEntries(db, orgId),
    domain !== undefined ? evidenceStates(db, orgId, [domain]) : Promise.resolve(null),
  ]);
  return { ctx: { decisions, services }, analysed: states === null || states.size > 0 };
}

/** What is stored about some addresses: their cached enrichment and their evidence, by address. */
export interface AddressFacts {
  enrichment: Map<string, IpEnrichmentView>;
  evidence: Map<string, SourceEvidence[]>;
}

/** Reads the enrichment and evidence of these addresses, for one domain or (without `domain`) for every domain. */
export async function addressFacts(db: Kysely<DB>, orgId: number, ips: readonly string[], domain?: string): Promise<AddressFacts> {
  const [enrichment, rows] = await Promise.all([enrichmentOf(db, ips), readEvidence(db, orgId, { ips, ...(domain !== undefined ? { domain } : {}) })]);
  const evidence = new Map<string, SourceEvidence[]>();
  for (const e of rows) {
    const list = evidence.get(e.ip);
    if (list) list.push(e);
    else evidence.set(e.ip, [e]);
  }
  return { enrichment, evidence };
}

/** The views of rollup rows from what was read about their addresses and the organisation. */
export function viewsOf(rows: readonly SourceRow[], facts: AddressFacts, basis: ClassificationBasis, now: Date): SourceView[] {
  const known = { analysed: basis.analysed, windowStart: evidenceWindowStart(now) };
  return rows.map((row) => sourceView(row, facts.evidence.get(row.sourceIp) ?? [], facts.enrichment.get(row.sourceIp) ?? null, basis.ctx, known));
}

/**
 * Classifies the sources of a rollup page (e.g. a domain's top sources) from their stored evidence
 * for that domain, or for every domain without one.
 */
export async function classifySources(db: Kysely<DB>, orgId: number, rows: readonly SourceRow[], scope: { domain?: string; now: Date }): Promise<SourceView[]> {
  if (rows.length === 0) return [];
  const [basis, facts] = await Promise.all([classificationBasis(db, orgId, scope.domain), addressFacts(db, orgId, rows.map((r) => r.sourceIp), scope.domain)]);
  return viewsOf(rows, facts, basis, scope.now);
}

/**
 * A domain's `limit` largest sources of a period, classified, and whether it had more. The sources
 * are read beside the organisation's side of classifying, which does not depend on them; only
 * their enrichment and evidence wait for them.
 */
export async function domainSources(db: Kysely<DB>, orgId: number, filter: SourceFilter & { domain: string }, limit: number, now: Date): Promise<{ views: SourceView[]; more: boolean }> {
  const [rows, basis] = await Promise.all([sourcesByIp(db, orgId, filter, { limit: limit + 1, after: null }), classificationBasis(db, orgId, filter.domain)]);
  const shown = rows.slice(0, limit);
  const facts = await addressFacts(db, orgId, shown.map((r) => r.sourceIp), filter.domain);
  return { views: viewsOf(shown, facts, basis, now), more: rows.length > limit };
}

export interface ServiceGroup {
  /** `forwarded`, `service:<id>`, or `unidentified`. */
  key: string;
  /** The service the group's sources were identified as (null for forwarded and unidentified mail). */
  serviceId: string | null;
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
          ? [`service:${match.service.id}`, match.service.name, match.service.category]
          : ['unidentified', 'Not identified', null];
    const serviceId = c.kind !== 'forwarder' && match ? match.service.id : null;
    const group = groups.get(key) ?? { key, serviceId, label, category, sources: [], messages: 0, dmarcPass: 0 };
    group.sources.push(view);
    group.messages += view.messages;
    group.dmarcPass += view.dmarcPass;
    groups.set(key, group);
  }
  return [...groups.values()].sort((a, b) => b.messages - a.messages || a.label.localeCompare(b.label));
}
