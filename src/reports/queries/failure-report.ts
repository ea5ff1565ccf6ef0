import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';

export interface FailureReportDetail {
  id: number;
  receivedAt: Date;
  feedbackType: string;
  plainText: boolean;
  userAgent: string | null;
  version: string | null;
  arrivalAt: Date | null;
  sourceIp: string | null;
  reportedDomain: string | null;
  reportedUri: string[];
  authFailure: string | null;
  identityAlignment: string | null;
  deliveryResult: string | null;
  dkimDomain: string | null;
  dkimIdentity: string | null;
  dkimSelector: string | null;
  spfDns: string | null;
  originalMailFrom: string | null;
  originalRcptTo: string | null;
  originalEnvelopeId: string | null;
  originalFrom: string | null;
  originalSubject: string | null;
  originalMessageId: string | null;
  /** The failed message's headers as the report carried them; null when not kept (DMARCWATCH_KEEP_FAILURE_HEADERS). */
  originalHeaders: string | null;
  reportSubject: string | null;
  reportDate: Date | null;
}

/** A failure report's ARF fields and stored headers; undefined when not the organisation's. */
export async function failureReport(db: Kysely<DB>, orgId: number, id: number): Promise<FailureReportDetail | undefined> {
  const r = await db.selectFrom('failure_report').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
  if (!r) return undefined;
  return {
    id: r.id,
    receivedAt: r.created_at,
    feedbackType: r.feedback_type,
    plainText: r.plain_text,
    userAgent: r.user_agent,
    version: r.version,
    arrivalAt: r.arrival_at,
    sourceIp: r.source_ip,
    reportedDomain: r.reported_domain,
    reportedUri: r.reported_uri,
    authFailure: r.auth_failure,
    identityAlignment: r.identity_alignment,
    deliveryResult: r.delivery_result,
    dkimDomain: r.dkim_domain,
    dkimIdentity: r.dkim_identity,
    dkimSelector: r.dkim_selector,
    spfDns: r.spf_dns,
    originalMailFrom: r.original_mail_from,
    originalRcptTo: r.original_rcpt_to,
    originalEnvelopeId: r.original_envelope_id,
    originalFrom: r.original_from,
    originalSubject: r.original_subject,
    originalMessageId: r.original_message_id,
    originalHeaders: r.original_headers,
    reportSubject: r.report_subject,
    reportDate: r.report_date,
  };
}
