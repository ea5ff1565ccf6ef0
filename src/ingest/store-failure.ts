import { parseFailureReport } from '../reports/parse/failure.js';
import type { ExtractedDocument } from '../reports/types.js';
import { claimDocument } from './documents.js';
import { writeIngestLog } from './ingest-log.js';
import { collectBytes } from './raw-archive.js';
import type { DocumentOutcome, IngestContext } from './types.js';

/**
 * Failure reports carry third parties' mail: only the parsed fields and the original headers are
 * kept, never the raw message (raw_document keeps its hash for de-duplication, not its bytes).
 */
export async function storeFailure(ctx: IngestContext, doc: ExtractedDocument, sha256: Uint8Array): Promise<DocumentOutcome> {
  const r = await parseFailureReport(await collectBytes(doc.content.open()), { keepHeaders: ctx.keepFailureHeaders });
  const reportRef = `${r.reportedDomain ?? 'unknown domain'} from ${r.sourceIp ?? 'unknown IP'}`;
  return ctx.db.transaction().execute(async (trx) => {
    const documentId = await claimDocument(trx, ctx.orgId, sha256, doc, 'stored');
    await trx
      .insertInto('failure_report')
      .values({
        org_id: ctx.orgId,
        document_id: documentId,
        feedback_type: r.feedbackType,
        plain_text: r.plainText,
        user_agent: r.userAgent,
        version: r.version,
        arrival_at: r.arrivalDate,
        source_ip: r.sourceIp,
        reported_domain: r.reportedDomain,
        reported_uri: r.reportedUri,
        auth_failure: r.authFailure,
        identity_alignment: r.identityAlignment,
        delivery_result: r.deliveryResult,
        dkim_domain: r.dkimDomain,
        dkim_identity: r.dkimIdentity,
        dkim_selector: r.dkimSelector,
        spf_dns: r.spfDns,
        original_mail_from: r.originalMailFrom,
        original_rcpt_to: r.originalRcptTo,
        original_envelope_id: r.originalEnvelopeId,
        original_headers: r.originalHeaders,
        original_from: r.originalFrom,
        original_subject: r.originalSubject,
        original_message_id: r.originalMessageId,
        report_subject: r.reportSubject,
        report_date: r.reportDate,
      })
      .execute();
    const outcome: DocumentOutcome = {
      item: doc.name,
      kind: 'failure',
      outcome: 'stored',
      seenBefore: false,
      problemCode: null,
      problem: null,
      records: 1,
      reportRef,
    };
    await writeIngestLog(trx, { ...outcome, orgId: ctx.orgId, source: ctx.source, sha256, documentId });
    return outcome;
  });
}
