import { ReportError, type TlsFailureDetail, type TlsPolicyResult, type TlsReport } from '../types.js';

const MAX_POLICIES = 10_000;
const MAX_DETAILS = 10_000;
const MAX_COUNT = 2 ** 40;

type Json = Record<string, unknown>;

function decode(bytes: Uint8Array): string {
  let text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return text;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    if (error instanceof RangeError) {
      throw new ReportError('malformed_json', 'The JSON is nested too deeply to be a TLS report.');
    }
    const detail = error instanceof Error ? error.message : String(error);
    throw new ReportError('malformed_json', `The TLS report is not valid JSON (${detail}); the file may be truncated.`);
  }
}

function str(value: unknown): string | null {
  if (typeof value === 'string') return value.trim() || null;
  if (typeof value === 'number') return String(value);
  return null;
}

function strList(value: unknown): string[] {
  const list = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
  return list.map(str).filter((s): s is string => s !== null);
}

function count(value: unknown, field: string, warnings: string[]): number {
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (n === undefined || n === null) return 0;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_COUNT) {
    warnings.push(`${field} ${JSON.stringify(value)} is not a session count; counted as 0`);
    return 0;
  }
  return n;
}

/** RFC 3339; Microsoft omits the zone, which is read as UTC (with a warning). */
function date(value: unknown, field: string, warnings: string[]): Date | null {
  const text = str(value);
  if (!text) return null;
  const hasZone = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(text);
  const parsed = new Date(hasZone ? text : `${text}Z`);
  if (Number.isNaN(parsed.getTime())) return null;
  if (!hasZone) warnings.push(`${field} "${text}" has no time zone; read as UTC`);
  return parsed;
}

function detail(raw: unknown, warnings: string[]): TlsFailureDetail | null {
  if (!raw || typeof raw !== 'object') return null;
  const d = raw as Json;
  const resultType = str(d['result-type']);
  if (!resultType) {
    warnings.push('a failure detail without result-type was dropped');
    return null;
  }
  return {
    resultType: resultType.toLowerCase(),
    sendingMtaIp: str(d['sending-mta-ip']),
    receivingMxHostname: str(d['receiving-mx-hostname'])?.toLowerCase().replace(/\.$/, '') ?? null,
    receivingMxHelo: str(d['receiving-mx-helo']),
    receivingIp: str(d['receiving-ip']),
    failedSessionCount: count(d['failed-session-count'], 'failed-session-count', warnings),
    additionalInformation: str(d['additional-information']),
    failureReasonCode: str(d['failure-reason-code']),
  };
}

function policy(raw: unknown, index: number, warnings: string[]): TlsPolicyResult | null {
  if (!raw || typeof raw !== 'object') {
    warnings.push(`policy ${index + 1} is not an object; dropped`);
    return null;
  }
  const entry = raw as Json;
  const p = (entry.policy ?? {}) as Json;
  const summary = (entry.summary ?? {}) as Json;
  const domain = str(p['policy-domain'])?.toLowerCase().replace(/\.$/, '') ?? '';
  // Kept without a domain rather than dropped: its session counts still matter.
  if (!domain) warnings.push(`policy ${index + 1} has no policy-domain`);
  const rawDetails = Array.isArray(entry['failure-details']) ? entry['failure-details'] : [];
  if (rawDetails.length > MAX_DETAILS) warnings.push(`policy ${domain || index + 1}: only the first ${MAX_DETAILS} failure details were kept`);
  const details = rawDetails
    .slice(0, MAX_DETAILS)
    .map((d) => detail(d, warnings))
    .filter((d): d is TlsFailureDetail => d !== null);
  return {
    policyType: (str(p['policy-type']) ?? 'no-policy-found').toLowerCase(),
    policyString: strList(p['policy-string']),
    policyDomain: domain,
    mxHost: strList(p['mx-host']).map((h) => h.toLowerCase()),
    successfulSessionCount: count(summary['total-successful-session-count'], 'total-successful-session-count', warnings),
    failedSessionCount: count(summary['total-failure-session-count'], 'total-failure-session-count', warnings),
    failureDetails: details,
  };
}

/** Parses an SMTP TLS report (RFC 8460) from its JSON bytes. */
export function parseTlsReport(bytes: Uint8Array): TlsReport {
  const value = parseJson(decode(bytes));
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new ReportError('not_a_report', 'The JSON is not an SMTP TLS report (expected an object with organization-name and policies).');
  }
  const json = value as Json;
  const looksLikeTls = 'policies' in json || 'organization-name' in json || 'report-id' in json;
  if (!looksLikeTls) {
    throw new ReportError('not_a_report', 'The JSON has none of the SMTP TLS report fields (organization-name, report-id, policies).');
  }
  const warnings: string[] = [];
  const range = (json['date-range'] ?? {}) as Json;
  const organizationName = str(json['organization-name']);
  const reportId = str(json['report-id']);
  const beginAt = date(range['start-datetime'], 'start-datetime', warnings);
  const endAt = date(range['end-datetime'], 'end-datetime', warnings);
  const missing = [
    !organizationName && 'organization-name',
    !reportId && 'report-id',
    !beginAt && 'date-range.start-datetime',
    !endAt && 'date-range.end-datetime',
  ].filter(Boolean);
  if (missing.length) {
    throw new ReportError('missing_identity', `The TLS report lacks ${missing.join(', ')}, so it cannot be identified or de-duplicated.`);
  }
  if (endAt! < beginAt!) throw new ReportError('invalid_report', 'The TLS report ends before it begins.');
  const rawPolicies = Array.isArray(json.policies) ? json.policies : [];
  if (rawPolicies.length > MAX_POLICIES) warnings.push(`only the first ${MAX_POLICIES} policies were kept`);
  const policies = rawPolicies
    .slice(0, MAX_POLICIES)
    .map((p, i) => policy(p, i, warnings))
    .filter((p): p is TlsPolicyResult => p !== null);
  return {
    organizationName: organizationName!,
    contactInfo: str(json['contact-info']),
    reportId: reportId!,
    beginAt: beginAt!,
    endAt: endAt!,
    policies,
    warnings,
  };
}
