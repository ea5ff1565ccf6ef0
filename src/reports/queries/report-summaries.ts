/** What the report list shows of each kind of report (read by listReports in list-reports.ts). */
interface SummaryBase {
  id: number;
  beginAt: Date;
  endAt: Date;
  receivedAt: Date;
}

export interface AggregateSummary extends SummaryBase {
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

export interface TlsSummary extends SummaryBase {
  kind: 'tls';
  reporter: string;
  reportId: string;
  domains: string[];
  successfulSessions: number;
  failedSessions: number;
}

export interface FailureSummary extends SummaryBase {
  kind: 'failure';
  domain: string | null;
  sourceIp: string | null;
  feedbackType: string;
  authFailure: string | null;
  deliveryResult: string | null;
}

export type ReportSummary = AggregateSummary | TlsSummary | FailureSummary;
