/**
 * The stored evidence of sources (tables source_evidence and source_evidence_state): what pages
 * read, and how the evidence job replaces one domain's evidence.
 */
import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { EvidenceGroup, SourceEvidence } from './evidence.js';

export interface EvidenceState {
  domain: string;
  windowFrom: string;
  windowTo: string;
  reports: number;
  maxReportId: number | null;
  computedAt: Date;
}

function parsed<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

/** The evidence of these addresses, for one domain or (without `domain`) for every domain of the organisation. */
export async function readEvidence(db: Kysely<DB>, orgId: number, filter: { ips: readonly string[]; domain?: string }): Promise<SourceEvidence[]> {
  if (filter.ips.length === 0) return [];
  let query = db
    .selectFrom('source_evidence')
    .selectAll()
    .where('org_id', '=', orgId)
    .where(sql<boolean>`source_ip = any(${sql.val([...filter.ips])}::inet[])`);
  if (filter.domain !== undefined) query = query.where('policy_domain', '=', filter.domain);
  const rows = await query.execute();
  return rows.map((r) => ({
    domain: r.policy_domain,
    ip: String(r.source_ip),
    messages: Number(r.messages),
    records: r.records,
    firstDay: r.first_day,
    lastDay: r.last_day,
    dkim: parsed<SourceEvidence['dkim']>(r.dkim),
    spf: parsed<SourceEvidence['spf']>(r.spf),
    reasons: parsed<SourceEvidence['reasons']>(r.reasons),
    groups: parsed<EvidenceGroup[]>(r.groups),
    computedAt: r.computed_at,
  }));
}

/** When the evidence of these domains was computed, over which window (absent: never yet). */
export async function evidenceStates(db: Kysely<DB>, orgId: number, domains: readonly string[]): Promise<Map<string, EvidenceState>> {
  if (domains.length === 0) return new Map();
  const rows = await db.selectFrom('source_evidence_state').selectAll().where('org_id', '=', orgId).where('policy_domain', 'in', [...domains]).execute();
  return new Map(
    rows.map((r) => [
      r.policy_domain,
      { domain: r.policy_domain, windowFrom: r.window_from, windowTo: r.window_to, reports: r.reports, maxReportId: r.max_report_id === null ? null : Number(r.max_report_id), computedAt: r.computed_at },
    ]),
  );
}

const INSERT_BATCH = 500;

const jsonb = (value: unknown) => sql<unknown>`cast(${JSON.stringify(value)} as jsonb)`;

/** Replaces the evidence of one organisation's domain and records what it was computed from (call in a transaction). */
export async function replaceDomainEvidence(db: Kysely<DB>, orgId: number, state: EvidenceState, evidence: readonly SourceEvidence[]): Promise<void> {
  await db.deleteFrom('source_evidence').where('org_id', '=', orgId).where('policy_domain', '=', state.domain).execute();
  for (let i = 0; i < evidence.length; i += INSERT_BATCH) {
    await db
      .insertInto('source_evidence')
      .values(
        evidence.slice(i, i + INSERT_BATCH).map((e) => ({
          org_id: orgId,
          policy_domain: state.domain,
          source_ip: e.ip,
          messages: e.messages,
          records: e.records,
          first_day: e.firstDay,
          last_day: e.lastDay,
          dkim: jsonb(e.dkim),
          spf: jsonb(e.spf),
          reasons: jsonb(e.reasons),
          groups: jsonb(e.groups),
          computed_at: e.computedAt,
        })),
      )
      .execute();
  }
  const values = { window_from: state.windowFrom, window_to: state.windowTo, reports: state.reports, max_report_id: state.maxReportId, computed_at: state.computedAt };
  await db
    .insertInto('source_evidence_state')
    .values({ org_id: orgId, policy_domain: state.domain, ...values })
    .onConflict((oc) => oc.columns(['org_id', 'policy_domain']).doUpdateSet(values))
    .execute();
}
