/**
 * What the report list shows of each kind of report (read by listReports in list-reports.ts):
 * with Dates for the pages, with ISO 8601 strings as the API writes them.
 */
interface SummaryBase<Time> {
  id: number;
  beginAt: Time;
  endAt: Time;
  receivedAt: Time;
}

export interface AggregateSummary<Time = Date> extends SummaryBase<Time> {
  kind: 'aggregate';
  reporter: string;
  reporterEmail: string | null;
  reportId: string;
  domain: string;
  policy: string | null;
  messages: number;
  records: number;
  warnings: number;
}

export interface TlsSummary<Time = Date> extends SummaryBase<Time> {
  kind: 'tls';
  reporter: string;
  reportId: string;
  domains: string[];
  successfulSessions: number;
  failedSessions: number;
}

export interface FailureSummary<Time = Date> extends SummaryBase<Time> {
  kind: 'failure';
  domain: string | null;
  sourceIp: string | null;
  feedbackType: string;
  authFailure: string | null;
  deliveryResult: string | null;
}

export type ReportSummary<Time = Date> = AggregateSummary<Time> | TlsSummary<Time> | FailureSummary<Time>;
