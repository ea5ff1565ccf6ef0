import type { Kysely } from 'kysely';
import type { DayPeriod } from '../analytics/period.js';
import type { DB } from '../db/schema.js';
import { toSourceRecord, classifySources, type SourceView } from './classify-sources.js';
import { sourceHistory, type SourceHistory } from './source-daily.js';
import { periodBounds, sourceRecords, type StoredSourceRecord } from './source-records.js';

/** Records listed on a source's page (newest reports first). */
export const DETAIL_RECORDS = 200;

export interface SourceReport {
  id: number;
  reporter: string;
  reportId: string;
  domain: string;
  beginAt: Date;
  endAt: Date;
  messages: number;
}

export interface SourceRecordView extends StoredSourceRecord {
  dmarcPass: boolean;
  dkimAligned: boolean;
  spfAligned: boolean;
  /** The reporter's verdict differs from the recomputation, in words. */
  disagreement: string | null;
}

export interface SourceDetail {
  ip: string;
  history: SourceHistory;
  /** Null when the address sent nothing in the period. */
  source: SourceView | null;
  reports: SourceReport[];
  records: SourceRecordView[];
}

/**
 * Everything about one sending address over a period, across the organisation's domains: volume from
 * the rollups, classification from the stored evidence, and its newest records (a list, not what
 * the classification is computed from).
 */
export async function sourceDetail(db: Kysely<DB>, orgId: number, ip: string, period: DayPeriod, now: Date): Promise<SourceDetail> {
  const history = await sourceHistory(db, orgId, ip, period);
  const [views, stored] = await Promise.all([
    history.messages === 0
      ? Promise.resolve([])
      : classifySources(
          db,
          orgId,
          [
            {
              sourceIp: ip,
              messages: history.messages,
              dmarcPass: history.pass,
              dmarcFail: history.messages - history.pass,
              dispositions: { none: 0, quarantine: history.quarantine, reject: history.reject, other: 0 },
              headerFrom: [],
              firstDay: history.days.find((d) => d.messages > 0)?.day ?? period.fromDay,
              lastDay: [...history.days].reverse().find((d) => d.messages > 0)?.day ?? period.toDay,
            },
          ],
          { now },
        ),
    // Only the reports of the domains it sent as (the rollups say which): a record list, read by report.
    sourceRecords(db, orgId, { ips: [ip], ...periodBounds(period), domains: history.domains.map((d) => d.domain) }, DETAIL_RECORDS),
  ]);
  const reports = new Map<number, SourceReport>();
  for (const r of stored) {
    const report = reports.get(r.reportId) ?? { id: r.reportId, reporter: r.reporter, reportId: r.reportExternalId, domain: r.policyDomain, beginAt: r.beginAt, endAt: r.endAt, messages: 0 };
    report.messages += r.count;
    reports.set(r.reportId, report);
  }
  const records = stored.map((r) => {
    const { alignment } = toSourceRecord(r);
    return { ...r, dmarcPass: alignment.dmarcPass, dkimAligned: alignment.dkimAligned, spfAligned: alignment.spfAligned, disagreement: alignment.explanation };
  });
  return { ip, history, source: views[0] ?? null, reports: [...reports.values()], records };
}
