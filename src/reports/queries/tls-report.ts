import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';

export interface TlsFailureDetail {
  resultType: string;
  sendingMtaIp: string | null;
  receivingMxHostname: string | null;
  receivingMxHelo: string | null;
  receivingIp: string | null;
  failedSessions: number;
  additionalInformation: string | null;
  failureReasonCode: string | null;
}

export interface TlsPolicyDetail {
  policyType: string;
  policyString: string[];
  policyDomain: string;
  mxHost: string[];
  successfulSessions: number;
  failedSessions: number;
  failures: TlsFailureDetail[];
}

export interface TlsReportDetail {
  id: number;
  reporter: string;
  contactInfo: string | null;
  reportId: string;
  beginAt: Date;
  endAt: Date;
  receivedAt: Date;
  successfulSessions: number;
  failedSessions: number;
  warnings: string[];
  policies: TlsPolicyDetail[];
}

/** An SMTP TLS report with its policies, their session summaries and failure details; undefined when not the organisation's. */
export async function tlsReport(db: Kysely<DB>, orgId: number, id: number): Promise<TlsReportDetail | undefined> {
  const r = await db.selectFrom('tls_report').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
  if (!r) return undefined;
  const [policies, failures] = await Promise.all([
    db.selectFrom('tls_report_policy').selectAll().where('org_id', '=', orgId).where('report_id', '=', id).orderBy('ordinal').execute(),
    db.selectFrom('tls_report_failure').selectAll().where('org_id', '=', orgId).where('report_id', '=', id).orderBy('policy_ordinal').orderBy('ordinal').execute(),
  ]);
  const byPolicy = new Map<number, TlsFailureDetail[]>();
  for (const f of failures) {
    const list = byPolicy.get(f.policy_ordinal) ?? [];
    list.push({
      resultType: f.result_type,
      sendingMtaIp: f.sending_mta_ip,
      receivingMxHostname: f.receiving_mx_hostname,
      receivingMxHelo: f.receiving_mx_helo,
      receivingIp: f.receiving_ip,
      failedSessions: Number(f.failed_sessions),
      additionalInformation: f.additional_information,
      failureReasonCode: f.failure_reason_code,
    });
    byPolicy.set(f.policy_ordinal, list);
  }
  return {
    id: r.id,
    reporter: r.organization_name,
    contactInfo: r.contact_info,
    reportId: r.external_id,
    beginAt: r.begin_at,
    endAt: r.end_at,
    receivedAt: r.created_at,
    successfulSessions: Number(r.successful_sessions),
    failedSessions: Number(r.failed_sessions),
    warnings: r.warnings,
    policies: policies.map((p) => ({
      policyType: p.policy_type,
      policyString: p.policy_string,
      policyDomain: p.policy_domain,
      mxHost: p.mx_host,
      successfulSessions: Number(p.successful_sessions),
      failedSessions: Number(p.failed_sessions),
      failures: byPolicy.get(p.ordinal) ?? [],
    })),
  };
}
