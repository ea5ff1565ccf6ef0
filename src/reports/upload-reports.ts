import { recordAuditEvent } from '../audit/record.js';
import type { AuditInput } from '../audit/types.js';
import { ingestUpload, type UploadedDocumentOutcome, type UploadedFile, type UploadIngestContext, type UploadResult } from '../ingest/sources/upload.js';
import type { Outcome } from '../ingest/types.js';
import type { ReportKind } from './queries/kinds.js';
import { reportsOfDocuments } from './queries/reports-of-documents.js';

export interface UploadedReportDocument extends UploadedDocumentOutcome {
  /** The stored report the document is (new or already there); null when it is none. */
  report: { kind: ReportKind; id: number } | null;
}

export interface UploadedReportFile extends Omit<UploadResult, 'documents'> {
  documents: UploadedReportDocument[];
}

export interface UploadedReports {
  files: UploadedReportFile[];
  totals: Record<Outcome, number>;
}

/**
 * Uploaded files through the import pipeline, one after the other, with the report each document
 * became, and one audit event for the upload. Used by the API and the upload page alike.
 */
export async function uploadReports(ctx: UploadIngestContext, files: UploadedFile[], audit: { actor: AuditInput['actor']; ip: string | null }): Promise<UploadedReports> {
  const results: UploadResult[] = [];
  for (const file of files) results.push(await ingestUpload(ctx, file));

  const hashes = results.flatMap((r) => r.documents.map((d) => d.sha256).filter((h) => h !== null));
  const reports = await reportsOfDocuments(ctx.db, ctx.orgId, hashes);
  const totals: Record<Outcome, number> = { stored: 0, duplicate: 0, refused: 0, not_a_report: 0 };
  const out = results.map((file) => ({
    ...file,
    documents: file.documents.map((d) => {
      totals[d.outcome] += 1;
      const report = d.sha256 !== null && (d.outcome === 'stored' || d.outcome === 'duplicate') ? reports.get(d.sha256) : undefined;
      return { ...d, report: report ?? null };
    }),
  }));

  await recordAuditEvent(ctx.db, {
    orgId: ctx.orgId,
    actor: audit.actor,
    action: 'report.upload',
    summary: { files: results.slice(0, 20).map((r) => ({ name: r.name, size: r.size, sha256: r.sha256 })), fileCount: results.length, outcomes: totals },
    ip: audit.ip,
  });
  return { files: out, totals };
}
