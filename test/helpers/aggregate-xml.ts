import type { Kysely } from 'kysely';
import type { DB } from '../../src/db/schema.js';
import { ingestExtracted } from '../../src/ingest/ingest-extracted.js';
import { silentLogger } from '../../src/lib/logger.js';
import { extractBytes } from '../../src/reports/extract/index.js';
import { DEFAULT_LIMITS } from '../../src/reports/types.js';

export interface HandRecord {
  ip: string;
  count: number;
  disposition?: 'none' | 'quarantine' | 'reject';
  dkim: 'pass' | 'fail';
  spf: 'pass' | 'fail';
  headerFrom?: string;
  /** auth_results: DKIM signatures and SPF checks, as receivers report them. */
  dkimResults?: Array<{ domain: string; result: string; selector?: string }>;
  spfResults?: Array<{ domain: string; result: string; scope?: string }>;
  reasons?: Array<{ type: string; comment?: string }>;
}

export interface HandReport {
  domain: string;
  reporter?: string;
  reportId: string;
  /** UTC start; the report covers one day from it unless `end` is given. */
  begin: Date;
  end?: Date;
  p?: 'none' | 'quarantine' | 'reject';
  adkim?: 'r' | 's';
  aspf?: 'r' | 's';
  records: HandRecord[];
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A small RFC 7489 aggregate report with exactly the records given. */
export function aggregateXml(report: HandReport): string {
  const begin = Math.floor(report.begin.getTime() / 1000);
  const end = report.end ? Math.floor(report.end.getTime() / 1000) : begin + 86_399;
  const records = report.records
    .map((r) => {
      const dkim = (r.dkimResults ?? (r.dkim === 'pass' ? [{ domain: r.headerFrom ?? report.domain, result: 'pass', selector: 's1' }] : []))
        .map((d) => `<dkim><domain>${escape(d.domain)}</domain>${d.selector ? `<selector>${escape(d.selector)}</selector>` : ''}<result>${d.result}</result></dkim>`)
        .join('');
      const spf = (r.spfResults ?? [{ domain: r.headerFrom ?? report.domain, result: r.spf, scope: 'mfrom' }])
        .map((s) => `<spf><domain>${escape(s.domain)}</domain>${s.scope ? `<scope>${s.scope}</scope>` : ''}<result>${s.result}</result></spf>`)
        .join('');
      const reasons = (r.reasons ?? []).map((reason) => `<reason><type>${reason.type}</type>${reason.comment ? `<comment>${escape(reason.comment)}</comment>` : ''}</reason>`).join('');
      return `<record><row><source_ip>${r.ip}</source_ip><count>${r.count}</count><policy_evaluated><disposition>${r.disposition ?? 'none'}</disposition><dkim>${r.dkim}</dkim><spf>${r.spf}</spf>${reasons}</policy_evaluated></row><identifiers><header_from>${escape(r.headerFrom ?? report.domain)}</header_from></identifiers><auth_results>${dkim}${spf}</auth_results></record>`;
    })
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<feedback>
<report_metadata><org_name>${escape(report.reporter ?? 'google.com')}</org_name><email>noreply-dmarc-support@google.com</email><report_id>${escape(report.reportId)}</report_id><date_range><begin>${begin}</begin><end>${end}</end></date_range></report_metadata>
<policy_published><domain>${escape(report.domain)}</domain><adkim>${report.adkim ?? 'r'}</adkim><aspf>${report.aspf ?? 'r'}</aspf><p>${report.p ?? 'none'}</p><sp>${report.p ?? 'none'}</sp><pct>100</pct></policy_published>
${records}
</feedback>`;
}

/** Stores hand-made reports through the real pipeline (extract, parse, store) into an organisation. */
export async function storeReports(db: Kysely<DB>, orgId: number, reports: HandReport[]): Promise<void> {
  for (const report of reports) {
    const xml = aggregateXml(report);
    const extracted = await extractBytes(Buffer.from(xml), `${report.reportId}.xml`);
    const outcomes = await ingestExtracted({ db, orgId, source: `test:${report.reportId}`, limits: DEFAULT_LIMITS, keepFailureHeaders: true, logger: silentLogger }, extracted);
    if (!outcomes.every((o) => o.outcome === 'stored')) throw new Error(`report ${report.reportId} was not stored: ${JSON.stringify(outcomes)}`);
  }
}

/** Midnight UTC of the day `days` days before `from` (report ranges in tests start there). */
export function utcDayBefore(from: Date, days: number): Date {
  const d = new Date(from.getTime() - days * 86_400_000);
  d.setUTCHours(0, 0, 0, 0);
  return d;
}
