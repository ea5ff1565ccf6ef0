/**
 * One service as the organisation sees it over a period: what defines it, the addresses identified
 * as it (each classified as on its own page), their history, and the decisions that apply. Reads
 * the rollups, the enrichment cache and the stored evidence only: six statements, no DNS, no record.
 */
import type { Kysely } from 'kysely';
import type { DayPeriod } from '../analytics/period.js';
import type { DB } from '../db/schema.js';
import { addressFacts, viewsOf, type SourceView } from '../sources/classify-sources.js';
import { decisionsOf, subjectKey, type SourceDecision } from '../sources/decisions.js';
import { orgServiceEntries } from '../sources/org-services.js';
import { sourceHistory, type SourceHistory } from '../sources/source-daily.js';
import { identifiedService, orphanDefinition, serviceDefinition, type ServiceDefinition } from './definition.js';
import { serviceCandidates } from './service-candidates.js';

/** Sending addresses of a period looked at, the largest first. */
export const SERVICE_SCAN_LIMIT = 5000;

export interface ServiceAddress extends SourceView {
  /** Policy domains it sent as in the period. */
  domains: string[];
}

export interface ServiceSummary {
  definition: ServiceDefinition;
  period: DayPeriod;
  /** Most messages first. */
  addresses: ServiceAddress[];
  history: SourceHistory;
  /** The decision about the service itself (an address's own decision wins over it). */
  decision: SourceDecision | null;
  /** The period had more sending addresses than were looked at. */
  truncated: boolean;
}

/** The service's summary, or null when no entry defines the id and no decision names it. */
export async function serviceSummary(db: Kysely<DB>, orgId: number, id: string, period: DayPeriod, now: Date): Promise<ServiceSummary | null> {
  const [services, decisions] = await Promise.all([orgServiceEntries(db, orgId), decisionsOf(db, orgId)]);
  const decision = decisions.get(subjectKey({ type: 'service', value: id })) ?? null;
  const definition = serviceDefinition(id, services) ?? (decision ? orphanDefinition(id) : null);
  if (definition === null) return null;

  const candidates = await serviceCandidates(db, orgId, period, SERVICE_SCAN_LIMIT + 1);
  const truncated = candidates.length > SERVICE_SCAN_LIMIT;
  const mine = candidates.slice(0, SERVICE_SCAN_LIMIT).filter((c) => identifiedService(c.clues, services)?.service.id === id);
  const ips = mine.map((c) => c.row.sourceIp);
  const [facts, history] = await Promise.all([addressFacts(db, orgId, ips), sourceHistory(db, orgId, ips, period)]);

  const views = viewsOf(mine.map((c) => c.row), facts, { ctx: { decisions, services }, analysed: true }, now);
  const addresses = mine.map((c, i) => ({ ...views[i]!, domains: c.domains }));
  return { definition, period, addresses, history, decision, truncated };
}

/** The service an address's classification names (its best named service, else its cloud network). */
export function serviceIdOf(view: SourceView): string | null {
  return (view.classification.service ?? view.classification.network)?.service.id ?? null;
}

/** The address has a decision of its own, which wins over the service's. */
export function ownDecisionOf(view: SourceView): SourceDecision | null {
  return view.decision?.subject.type === 'ip' ? view.decision : null;
}
