import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';
import { normalizeDomain } from './kinds.js';

export interface SourceFilter {
  /** First and last day (UTC, YYYY-MM-DD), both included. */
  fromDay: string;
  toDay: string;
  /** Policy domain of the reports. */
  domain?: string;
}

export interface SourceRow {
  sourceIp: string;
  messages: number;
  /** Messages that passed DMARC: DKIM or SPF evaluated as aligned pass. */
  dmarcPass: number;
  dmarcFail: number;
  dispositions: { none: number; quarantine: number; reject: number; other: number };
  /** Domains in the From header of those messages (at most 20). */
  headerFrom: string[];
  firstDay: string;
  lastDay: string;
}

/** Sort key of a source: most messages first, then address. */
export interface SourceKey {
  messages: number;
  sourceIp: string;
}

/**
 * Messages per sending IP address over whole days, from the daily rollups (the `aggregate_daily`
 * relation: every increment, folded or not), most messages first. Returns up to `limit` sources after `after`.
 */
export async function sourcesByIp(
  db: Kysely<DB>,
  orgId: number,
  filter: SourceFilter,
  page: { limit: number; after: SourceKey | null },
): Promise<SourceRow[]> {
  let perSource = db
    .selectFrom('aggregate_daily as d')
    .where('d.org_id', '=', orgId)
    .where('d.day', '>=', filter.fromDay)
    .where('d.day', '<=', filter.toDay)
    .groupBy('d.source_ip')
    .select([
      'd.source_ip',
      sql<number>`sum(d.messages)::bigint`.as('messages'),
      sql<number>`coalesce(sum(d.messages) filter (where d.dkim_eval = 'pass' or d.spf_eval = 'pass'), 0)::bigint`.as('dmarc_pass'),
      sql<number>`coalesce(sum(d.messages) filter (where d.disposition = 'none'), 0)::bigint`.as('none'),
      sql<number>`coalesce(sum(d.messages) filter (where d.disposition = 'quarantine'), 0)::bigint`.as('quarantine'),
      sql<number>`coalesce(sum(d.messages) filter (where d.disposition = 'reject'), 0)::bigint`.as('reject'),
      sql<string[]>`(array_agg(distinct d.header_from order by d.header_from))[1:20]`.as('header_from'),
      sql<string>`min(d.day)::text`.as('first_day'),
      sql<string>`max(d.day)::text`.as('last_day'),
    ]);
  if (filter.domain !== undefined) perSource = perSource.where('d.policy_domain', '=', normalizeDomain(filter.domain));

  let query = db.selectFrom(perSource.as('s')).selectAll();
  const after = page.after;
  if (after !== null) {
    query = query.where(sql<boolean>`(s.messages < ${after.messages}::bigint or (s.messages = ${after.messages}::bigint and s.source_ip > ${after.sourceIp}::inet))`);
  }
  const rows = await query.orderBy('s.messages', 'desc').orderBy('s.source_ip').limit(page.limit).execute();
  return rows.map((r) => {
    const messages = Number(r.messages);
    const dmarcPass = Number(r.dmarc_pass);
    const none = Number(r.none);
    const quarantine = Number(r.quarantine);
    const reject = Number(r.reject);
    return {
      sourceIp: String(r.source_ip),
      messages,
      dmarcPass,
      dmarcFail: messages - dmarcPass,
      dispositions: { none, quarantine, reject, other: messages - none - quarantine - reject },
      headerFrom: r.header_from,
      firstDay: r.first_day,
      lastDay: r.last_day,
    };
  });
}
