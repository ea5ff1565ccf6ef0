import type { ReportKind as IngestReportKind } from '../../ingest/types.js';

/** The kinds of report as the API and the pages name them. */
export const REPORT_KINDS = ['aggregate', 'tls', 'failure'] as const;
export type ReportKind = (typeof REPORT_KINDS)[number];

/** The ingest pipeline calls SMTP TLS reports `tlsrpt`. */
export function reportKindOf(kind: IngestReportKind): ReportKind {
  return kind === 'tlsrpt' ? 'tls' : kind;
}

/** A domain as reports store it: lower case, without a trailing dot. */
export function normalizeDomain(domain: string): string {
  return domain.trim().toLowerCase().replace(/\.$/, '');
}
