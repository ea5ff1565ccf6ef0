import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

export interface PublishedPolicy {
  domain: string;
  p: string | null;
  sp: string | null;
  pct: number | null;
  adkim: string | null;
  aspf: string | null;
  /** When the newest report that shows this policy began. */
  seenAt: Date;
}

/** The DMARC policy each domain published, as the newest aggregate report of each shows it. */
export async function latestPublishedPolicies(db: Kysely<DB>, orgId: number, domains?: string[]): Promise<Map<string, PublishedPolicy>> {
  if (domains !== undefined && domains.length === 0) return new Map();
  let query = db
    .selectFrom('aggregate_report')
    .distinctOn('policy_domain')
    .select(['policy_domain', 'policy_p', 'policy_sp', 'policy_pct', 'adkim', 'aspf', 'begin_at'])
    .where('org_id', '=', orgId);
  if (domains !== undefined) query = query.where('policy_domain', 'in', domains);
  const rows = await query.orderBy('policy_domain').orderBy('begin_at', 'desc').execute();
  return new Map(
    rows.map((row) => [
      row.policy_domain,
      { domain: row.policy_domain, p: row.policy_p, sp: row.policy_sp, pct: row.policy_pct === null ? null : Number(row.policy_pct), adkim: row.adkim, aspf: row.aspf, seenAt: new Date(row.begin_at) },
    ]),
  );
}
