/**
 * SMTP TLS reports (RFC 8460 §4): the JSON document, already taken out of its gzip/mail wrappers.
 *
 * Tolerance, and what is refused:
 * - JSON that does not parse → `malformed_json`, with line, column and character position.
 * - Not a TLS report at all → `not_a_report`; a TLS report without organization-name, report-id
 *   or a date range → `missing_identity`, naming what is missing; dates that cannot be read,
 *   a range that ends before it begins, or identity values too long to index → `invalid_report`.
 * - Dates: RFC 3339. Microsoft leaves out the time zone: read as UTC, with a warning.
 * - Counts: non-negative integers, or strings of digits. Absent → 0. Anything else → 0 with a
 *   warning; a failure detail with an unusable count is kept (its result type and hosts still
 *   say what failed), counted as 0.
 * - A policy without policy-domain is kept with an empty domain (its session counts still
 *   count), with a warning. A failure detail without result-type is dropped, with a warning.
 * - Domains and host names are lower-cased without a trailing dot; IP addresses canonicalised
 *   (a value that is not an IP address becomes null, with a warning); strings trimmed.
 * - Hostile sizes: at most MAX_POLICIES policies, MAX_DETAILS failure details per policy and
 *   MAX_TOTAL_DETAILS per report, MAX_LIST entries in policy-string/mx-host, MAX_STRING
 *   characters in free-text values; anything beyond is left out, with a warning. Nothing walks
 *   the parsed value recursively, so nesting depth cannot exhaust the stack.
 */
import { asReportError, ReportError, type TlsFailureDetail, type TlsPolicyResult, type TlsReport } from '../types.js';
import { ipAddress } from './aggregate-fields.js';

const MAX_POLICIES = 10_000;
const MAX_DETAILS = 10_000;
const MAX_TOTAL_DETAILS = 100_000;
const MAX_LIST = 1_000;
const MAX_STRING = 4_096;
/** Longest organization-name / report-id (UTF-8 bytes): together they must fit a database index entry. */
const MAX_IDENTITY_BYTES = 1_000;
const MAX_COUNT = Number.MAX_SAFE_INTEGER;
/** Examples quoted per kind of repeated warning. */
const EXAMPLES = 3;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Repeated problems are counted per kind and reported once with a few examples. */
class Warnings {
  private readonly once: string[] = [];
  private readonly tallies = new Map<string, { message: string; count: number; examples: string[] }>();

  add(message: string): void {
    this.once.push(message);
  }

  tally(kind: string, message: string, example: string): void {
    let t = this.tallies.get(kind);
    if (!t) {
      t = { message, count: 0, examples: [] };
      this.tallies.set(kind, t);
    }
    t.count++;
    if (t.examples.length < EXAMPLES) t.examples.push(example);
  }

  list(): string[] {
    const out = [...this.once];
    for (const t of this.tallies.values()) {
      const more = t.count > t.examples.length ? `; ${t.count - t.examples.length} more` : '';
      out.push(`${t.message}: ${t.count} in all (${t.examples.join('; ')}${more}).`);
    }
    return out;
  }
}

/** A short, safe rendering of any JSON value for a warning (never recursive). */
function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function decode(bytes: Uint8Array, warnings: Warnings): string {
  let encoding = 'utf-8';
  let skip = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) skip = 3;
  else if (bytes[0] === 0xff && bytes[1] === 0xfe) [encoding, skip] = ['utf-16le', 2];
  else if (bytes[0] === 0xfe && bytes[1] === 0xff) [encoding, skip] = ['utf-16be', 2];
  if (encoding !== 'utf-8') warnings.add(`The report is encoded in ${encoding.toUpperCase()}, not UTF-8 as RFC 8460 requires; it was read anyway.`);
  const body = bytes.subarray(skip);
  try {
    return new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(body);
  } catch {
    warnings.add(`The report has bytes that are not valid ${encoding.toUpperCase()}; they were replaced with U+FFFD.`);
    return new TextDecoder(encoding, { fatal: false, ignoreBOM: true }).decode(body);
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
// eslint-disable-next-line no-control-regex
const STRING_RUN = /[^"\\\u0000-\u001f]*/y;
const ESCAPE = /\\(?:["\\/bfnrt]|u[0-9A-Fa-f]{4})/y;

/** Where JSON text first stops being valid JSON (text.length for a truncated document), or -1. */
function jsonErrorOffset(text: string): number {
  const stack: ('[' | '{')[] = [];
  const n = text.length;
  let i = 0;
  let expect: 'value' | 'value-or-]' | 'key' | 'key-or-}' | 'colon' | 'after' = 'value';
  const string = (): number => {
    i++;
    for (;;) {
      STRING_RUN.lastIndex = i;
      STRING_RUN.exec(text);
      i = STRING_RUN.lastIndex;
      if (i >= n) return n;
      const c = text[i];
      if (c === '"') {
        i++;
        return -1;
      }
      if (c !== '\\') return i;
      ESCAPE.lastIndex = i;
      if (!ESCAPE.test(text)) return i + 1 >= n ? n : i;
      i = ESCAPE.lastIndex;
    }
  };
  for (;;) {
    while (i < n && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
    if (i >= n) return expect === 'after' && stack.length === 0 ? -1 : n;
    const c = text[i]!;
    switch (expect) {
      case 'value':
      case 'value-or-]':
        if (c === ']' && expect === 'value-or-]') {
          stack.pop();
          i++;
          expect = 'after';
        } else if (c === '[' || c === '{') {
          stack.push(c);
          i++;
          expect = c === '[' ? 'value-or-]' : 'key-or-}';
        } else if (c === '"') {
          const error = string();
          if (error >= 0) return error;
          expect = 'after';
        } else {
          NUMBER.lastIndex = i;
          if (!NUMBER.test(text)) return i;
          i = NUMBER.lastIndex;
          expect = 'after';
        }
        break;
      case 'key':
      case 'key-or-}':
        if (c === '}' && expect === 'key-or-}') {
          stack.pop();
          i++;
          expect = 'after';
        } else {
          if (c !== '"') return i;
          const error = string();
          if (error >= 0) return error;
          expect = 'colon';
        }
        break;
      case 'colon':
        if (c !== ':') return i;
        i++;
        expect = 'value';
        break;
      case 'after': {
        const top = stack[stack.length - 1];
        if (top === undefined) return i;
        if (c === ',') expect = top === '[' ? 'value' : 'key';
        else if (c === (top === '[' ? ']' : '}')) {
          stack.pop();
          expect = 'after';
        } else return i;
        i++;
        break;
      }
    }
  }
}

function jsonError(text: string, error: unknown): ReportError {
  const offset = jsonErrorOffset(text);
  if (offset < 0) {
    const detail = error instanceof Error ? error.message.slice(0, 200) : String(error);
    return new ReportError('malformed_json', `The TLS report could not be read as JSON (${detail}).`);
  }
  const before = text.slice(0, offset);
  const line = (before.match(/\n/g)?.length ?? 0) + 1;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  const where = `line ${line}, column ${column} (character ${offset})`;
  if (offset >= text.length) {
    return new ReportError('malformed_json', `The TLS report is not valid JSON: it ends unexpectedly at ${where}; the file is probably truncated.`);
  }
  const found = JSON.stringify(text.slice(offset, offset + 12));
  return new ReportError('malformed_json', `The TLS report is not valid JSON: unexpected ${found} at ${where}.`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw jsonError(text, error);
  }
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

/** A trimmed string (numbers accepted as their decimal text), or null when empty or not scalar. */
function text(value: unknown, max = MAX_STRING): string | null {
  let s: string;
  if (typeof value === 'string') s = value;
  else if (typeof value === 'number' && Number.isFinite(value)) s = String(value);
  else return null;
  s = s.replace(CONTROL, '').trim();
  if (!s) return null;
  return s.length > max ? s.slice(0, max) : s;
}

/** A lower-cased domain or host name without its trailing dot; null when absent or too long to be one. */
function hostName(value: unknown): string | null {
  const s = text(value, 1024)?.toLowerCase().replace(/\.$/, '');
  return s && s.length <= 253 ? s : null;
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

class ReportReader {
  readonly warnings = new Warnings();
  private totalDetails = 0;

  count(value: unknown, where: string): number {
    if (value === undefined || value === null) return 0;
    let n: number | undefined;
    if (typeof value === 'number') n = value;
    else if (typeof value === 'string' && /^\s*\d{1,16}\s*$/.test(value)) n = Number(value);
    if (n === undefined || !Number.isInteger(n) || n < 0 || n > MAX_COUNT) {
      this.warnings.tally(`count ${where}`, `Values of ${where} that are not non-negative integers were counted as 0`, show(value));
      return 0;
    }
    return n;
  }

  ip(value: unknown, name: string): string | null {
    const s = text(value, 64);
    if (s === null) return null;
    const ip = ipAddress(s.replace(/^\[(.*)\]$/, '$1'));
    if (ip === null) this.warnings.tally(`ip ${name}`, `Values of ${name} that are not IP addresses were left out`, show(value));
    return ip;
  }

  list(value: unknown, name: string, where: string): string[] {
    const raw = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
    if (raw.length > MAX_LIST) this.warnings.add(`${where}: only the first ${MAX_LIST} of ${raw.length} ${name} entries were kept.`);
    const out: string[] = [];
    for (const item of raw.slice(0, MAX_LIST)) {
      const s = text(item);
      if (s !== null) out.push(s);
      else if (item !== null && item !== '') this.warnings.tally(`list ${name}`, `Entries of ${name} that are not strings were left out`, show(item));
    }
    return out;
  }

  mxHosts(value: unknown, where: string): string[] {
    return this.list(value, 'mx-host', where).map((h) => {
      // Seen in the wild: the policy line copied verbatim, `mx: mx.example.com`.
      const host = h.replace(/^mx:\s*/i, '');
      return host.toLowerCase().replace(/\.$/, '');
    });
  }

  detail(raw: unknown, where: string): TlsFailureDetail | null {
    if (!isObject(raw)) {
      this.warnings.tally('detail shape', 'Failure details that are not objects were dropped', `${where}: ${show(raw)}`);
      return null;
    }
    const resultType = text(raw['result-type'], 255);
    if (!resultType) {
      this.warnings.tally('detail type', 'Failure details without result-type were dropped', where);
      return null;
    }
    return {
      resultType: resultType.toLowerCase(),
      sendingMtaIp: this.ip(raw['sending-mta-ip'], 'sending-mta-ip'),
      receivingMxHostname: hostName(raw['receiving-mx-hostname']),
      receivingMxHelo: text(raw['receiving-mx-helo'], 255),
      receivingIp: this.ip(raw['receiving-ip'], 'receiving-ip'),
      failedSessionCount: this.count(raw['failed-session-count'], 'failed-session-count'),
      additionalInformation: text(raw['additional-information']),
      failureReasonCode: text(raw['failure-reason-code'], 255),
    };
  }

  policy(raw: unknown, index: number): TlsPolicyResult | null {
    const where = `policy ${index + 1}`;
    if (!isObject(raw)) {
      this.warnings.tally('policy shape', 'Policies that are not objects were dropped', `${where}: ${show(raw)}`);
      return null;
    }
    const p = isObject(raw.policy) ? raw.policy : {};
    const summary = isObject(raw.summary) ? raw.summary : {};
    const policyDomain = hostName(p['policy-domain']) ?? '';
    if (!policyDomain) this.warnings.tally('policy domain', 'Policies without policy-domain were kept with an empty domain', where);
    const label = policyDomain ? `${where} (${policyDomain})` : where;
    let policyType = text(p['policy-type'], 255)?.toLowerCase();
    if (!policyType) {
      this.warnings.tally('policy type', 'Policies without policy-type were read as no-policy-found', label);
      policyType = 'no-policy-found';
    }

    const rawDetails = raw['failure-details'];
    const details: TlsFailureDetail[] = [];
    if (Array.isArray(rawDetails)) {
      const room = Math.min(MAX_DETAILS, MAX_TOTAL_DETAILS - this.totalDetails);
      if (rawDetails.length > room) {
        this.warnings.add(`${label}: only the first ${Math.max(room, 0)} of ${rawDetails.length} failure details were kept.`);
      }
      for (const [i, d] of rawDetails.slice(0, Math.max(room, 0)).entries()) {
        const detail = this.detail(d, `${label} detail ${i + 1}`);
        if (detail) details.push(detail);
      }
      this.totalDetails += details.length;
    } else if (rawDetails !== undefined && rawDetails !== null) {
      this.warnings.add(`${label}: failure-details is ${show(rawDetails)}, not a list; it was ignored.`);
    }

    return {
      policyType,
      policyString: this.list(p['policy-string'], 'policy-string', label),
      policyDomain,
      mxHost: this.mxHosts(p['mx-host'], label),
      successfulSessionCount: this.count(summary['total-successful-session-count'], 'total-successful-session-count'),
      failedSessionCount: this.count(summary['total-failure-session-count'], 'total-failure-session-count'),
      failureDetails: details,
    };
  }
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?\s*(?:([Zz])|([+-])(\d{2}):?(\d{2}))?)?$/;

/**
 * An RFC 3339 date-time. A missing zone (Microsoft) is read as UTC, a bare date as its midnight
 * UTC, each with a warning. Returns undefined when the value is present but not a date.
 */
function dateTime(value: unknown, name: string, warnings: Warnings): Date | null | undefined {
  const s = text(value, 64);
  if (s === null) return null;
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [hour, minute, second] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  if (year < 1000 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const ms = Math.floor(Number(`0${m[7] ?? ''}`) * 1000);
  let t = Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59), ms);
  if (new Date(t).getUTCDate() !== day) return undefined;
  if (m[9]) t -= (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11])) * 60_000;
  if (m[4] === undefined) warnings.add(`date-range ${name} ${JSON.stringify(s)} has no time; read as midnight UTC.`);
  else if (!m[8] && !m[9]) warnings.add(`date-range ${name} ${JSON.stringify(s)} has no time zone; read as UTC.`);
  return new Date(t);
}

/** Parses an SMTP TLS report (RFC 8460) from its JSON bytes (UTF-8, BOM allowed). */
export function parseTlsReport(bytes: Uint8Array): TlsReport {
  try {
    return readTlsReport(bytes);
  } catch (error) {
    throw asReportError(error);
  }
}

function readTlsReport(bytes: Uint8Array): TlsReport {
  const reader = new ReportReader();
  const { warnings } = reader;
  const source = decode(bytes, warnings);
  if (source.trim() === '') throw new ReportError('empty', 'The TLS report is empty.');
  const json = parseJson(source);
  if (!isObject(json)) {
    throw new ReportError(
      'not_a_report',
      `The JSON document is ${show(json)}, not an object, so it is not an SMTP TLS report (RFC 8460).`,
    );
  }
  const known = ['organization-name', 'report-id', 'date-range', 'policies', 'contact-info'].filter((k) => k in json);
  if (known.length === 0) {
    const keys = Object.keys(json).slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40)));
    throw new ReportError(
      'not_a_report',
      `The JSON document has none of the SMTP TLS report fields (organization-name, report-id, date-range, policies)` +
        (keys.length ? `; its fields are ${keys.join(', ')}.` : '; it is an empty object.'),
    );
  }

  const organizationName = text(json['organization-name'], Infinity);
  const reportId = text(json['report-id'], Infinity);
  const range = isObject(json['date-range']) ? json['date-range'] : {};
  const beginAt = dateTime(range['start-datetime'], 'start-datetime', warnings);
  const endAt = dateTime(range['end-datetime'], 'end-datetime', warnings);
  const missing = [
    organizationName === null && 'organization-name',
    reportId === null && 'report-id',
    beginAt === null && 'date-range.start-datetime',
    endAt === null && 'date-range.end-datetime',
  ].filter((m): m is string => typeof m === 'string');
  if (missing.length) {
    throw new ReportError(
      'missing_identity',
      `The TLS report has no ${missing.join(', ')}. Without them it cannot be told apart from other reports, so it was not stored.`,
    );
  }
  if (beginAt === undefined || endAt === undefined) {
    const which = beginAt === undefined ? 'start-datetime' : 'end-datetime';
    throw new ReportError('invalid_report', `date-range ${which} ${show(range[which])} is not an RFC 3339 date-time.`);
  }
  if (endAt! < beginAt!) {
    throw new ReportError('invalid_report', `The TLS report's date range ends (${endAt!.toISOString()}) before it begins (${beginAt!.toISOString()}).`);
  }
  for (const [name, value] of [['organization-name', organizationName!], ['report-id', reportId!]] as const) {
    if (utf8Length(value) > MAX_IDENTITY_BYTES) {
      throw new ReportError('invalid_report', `The TLS report's ${name} is ${utf8Length(value)} bytes long; more than ${MAX_IDENTITY_BYTES} is not a real identifier.`);
    }
  }

  const rawPolicies = json.policies;
  const policies: TlsPolicyResult[] = [];
  if (Array.isArray(rawPolicies)) {
    if (rawPolicies.length === 0) warnings.add('The report lists no policies.');
    if (rawPolicies.length > MAX_POLICIES) warnings.add(`Only the first ${MAX_POLICIES} of ${rawPolicies.length} policies were kept.`);
    for (const [i, raw] of rawPolicies.slice(0, MAX_POLICIES).entries()) {
      const policy = reader.policy(raw, i);
      if (policy) policies.push(policy);
    }
  } else if (isObject(rawPolicies)) {
    warnings.add('policies is a single object instead of a list; it was read as one policy.');
    const policy = reader.policy(rawPolicies, 0);
    if (policy) policies.push(policy);
  } else {
    warnings.add(rawPolicies === undefined ? 'The report has no policies field.' : `policies is ${show(rawPolicies)}, not a list; it was ignored.`);
  }

  return {
    organizationName: organizationName!,
    contactInfo: text(json['contact-info']),
    reportId: reportId!,
    beginAt: beginAt!,
    endAt: endAt!,
    policies,
    warnings: warnings.list(),
  };
}
