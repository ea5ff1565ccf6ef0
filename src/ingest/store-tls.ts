import type { Transaction } from 'kysely';
import type { DB } from '../db/schema.js';
import { insertColumns, type Column } from '../db/bulk.js';
import { parseTlsReport } from '../reports/parse/tlsrpt.js';
import type { ExtractedDocument, TlsReport } from '../reports/types.js';
import { claimDocument, recordDuplicateReport } from './documents.js';
import { writeIngestLog } from './ingest-log.js';
import { collectBytes, compressDocument } from './raw-archive.js';
import type { DocumentOutcome, IngestContext } from './types.js';

const FAILURE_COLUMNS: Column[] = [
  ['report_id', 'int8'],
  ['policy_ordinal', 'int4'],
  ['ordinal', 'int4'],
  ['org_id', 'int8'],
  ['result_type', 'text'],
  ['sending_mta_ip', 'text'],
  ['receiving_mx_hostname', 'text'],
  ['receiving_mx_helo', 'text'],
  ['receiving_ip', 'text'],
  ['failed_sessions', 'int8'],
  ['additional_information', 'text'],
  ['failure_reason_code', 'text'],
];

async function insertPolicies(trx: Transaction<DB>, orgId: number, reportId: number, report: TlsReport): Promise<void> {
  // Arrays of arrays do not survive unnest as text[] columns: insert policies row by row (there are few).
  for (const [ordinal, p] of report.policies.entries()) {
    await trx
      .insertInto('tls_report_policy')
      .values({
        report_id: reportId,
        ordinal,
        org_id: orgId,
        policy_type: p.policyType,
        policy_string: p.policyString,
        policy_domain: p.policyDomain,
        mx_host: p.mxHost,
        successful_sessions: p.successfulSessionCount,
        failed_sessions: p.failedSessionCount,
      })
      .execute();
  }
  const failures: unknown[][] = FAILURE_COLUMNS.map(() => []);
  report.policies.forEach((p, policyOrdinal) =>
    p.failureDetails.forEach((f, ordinal) =>
      [
        reportId,
        policyOrdinal,
        ordinal,
        orgId,
        f.resultType,
        f.sendingMtaIp,
        f.receivingMxHostname,
        f.receivingMxHelo,
        f.receivingIp,
        f.failedSessionCount,
        f.additionalInformation,
        f.failureReasonCode,
      ].forEach((value, i) => failures[i]!.push(value)),
    ),
  );
  await insertColumns(trx, 'tls_report_failure', FAILURE_COLUMNS, failures);
}

export async function storeTls(ctx: IngestContext, doc: ExtractedDocument, sha256: Uint8Array): Promise<DocumentOutcome> {
  const report = parseTlsReport(await collectBytes(doc.content.open()));
  const content = await compressDocument(doc.content.open());
  const reportRef = `${report.organizationName} ${report.reportId}`;
  const successful = report.policies.reduce((sum, p) => sum + p.successfulSessionCount, 0);
  const failed = report.policies.reduce((sum, p) => sum + p.failedSessionCount, 0);
  return ctx.db.transaction().execute(async (trx) => {
    const documentId = await claimDocument(trx, ctx.orgId, sha256, doc, 'stored', undefined, content);
    const row = await trx
      .insertInto('tls_report')
      .values({
        org_id: ctx.orgId,
        document_id: documentId,
        organization_name: report.organizationName,
        reporter_key: report.organizationName.trim().toLowerCase(),
        contact_info: report.contactInfo,
        external_id: report.reportId,
        begin_at: report.beginAt,
        end_at: report.endAt,
        successful_sessions: successful,
        failed_sessions: failed,
        warnings: report.warnings,
      })
      .onConflict((oc) => oc.doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!row) return recordDuplicateReport(trx, ctx, doc, sha256, documentId, 'tlsrpt', reportRef);
    await insertPolicies(trx, ctx.orgId, row.id, report);
    const outcome: DocumentOutcome = {
      item: doc.name,
      kind: 'tlsrpt',
      outcome: 'stored',
      seenBefore: false,
      problemCode: null,
      problem: report.warnings.length ? report.warnings.slice(0, 3).join('; ') : null,
      records: report.policies.length,
      reportRef,
    };
    await writeIngestLog(trx, { ...outcome, orgId: ctx.orgId, source: ctx.source, sha256, documentId });
    return outcome;
  });
}
