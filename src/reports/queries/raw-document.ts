import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';
import type { ReportKind } from './kinds.js';

export interface RawReportDocument {
  format: 'xml' | 'json' | 'arf';
  /** The document compressed with gzip; null when it is not kept (failure reports carry other people's mail). */
  contentGzip: Uint8Array | null;
  sha256: string;
  size: number;
  /** The parts of the conventional file name: `reporter!domain!begin!end[!id]`. */
  naming: { reporter: string; domain: string | null; beginAt: Date; endAt: Date; reportId: string | null };
}

/** The archived original of a report of the organisation, or undefined when it has no such report. */
export async function rawReportDocument(db: Kysely<DB>, orgId: number, kind: ReportKind, id: number): Promise<RawReportDocument | undefined> {
  const document = db.selectFrom('raw_document as d').where('d.org_id', '=', orgId).select(['d.format', 'd.content_gzip', 'd.sha256', 'd.size_bytes']);
  let row;
  switch (kind) {
    case 'aggregate':
      row = await document
        .innerJoin('aggregate_report as r', 'r.document_id', 'd.id')
        .where('r.org_id', '=', orgId)
        .where('r.id', '=', id)
        .select(['r.reporter_org as reporter', 'r.policy_domain as domain', 'r.begin_at', 'r.end_at', 'r.external_id as report_id'])
        .executeTakeFirst();
      break;
    case 'tls':
      row = await document
        .innerJoin('tls_report as r', 'r.document_id', 'd.id')
        .where('r.org_id', '=', orgId)
        .where('r.id', '=', id)
        .select([
          'r.organization_name as reporter',
          sql<string | null>`(select p.policy_domain from tls_report_policy p where p.report_id = r.id and p.org_id = r.org_id order by p.ordinal limit 1)`.as('domain'),
          'r.begin_at',
          'r.end_at',
          'r.external_id as report_id',
        ])
        .executeTakeFirst();
      break;
    case 'failure':
      row = await document
        .innerJoin('failure_report as r', 'r.document_id', 'd.id')
        .where('r.org_id', '=', orgId)
        .where('r.id', '=', id)
        .select([
          sql<string>`coalesce(r.user_agent, 'failure')`.as('reporter'),
          'r.reported_domain as domain',
          sql<Date>`coalesce(r.arrival_at, r.created_at)`.as('begin_at'),
          sql<Date>`coalesce(r.arrival_at, r.created_at)`.as('end_at'),
          sql<string>`r.id::text`.as('report_id'),
        ])
        .executeTakeFirst();
      break;
  }
  if (!row) return undefined;
  return {
    format: row.format as RawReportDocument['format'],
    contentGzip: row.content_gzip,
    sha256: Buffer.from(row.sha256).toString('hex'),
    size: Number(row.size_bytes),
    naming: { reporter: row.reporter, domain: row.domain, beginAt: new Date(row.begin_at), endAt: new Date(row.end_at), reportId: row.report_id },
  };
}
