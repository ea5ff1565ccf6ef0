/**
 * DMARC failure reports: ARF (RFC 5965) auth-failure reports (RFC 6591, RFC 9991), and the
 * plain-text reports some receivers send instead. Failure reports quote third parties' mail, so
 * only the reported message's header block is ever read into the result — never its body or
 * attachments — and with `keepHeaders: false` not even that.
 *
 * The MIME structure is read directly (bounded: header block and field sizes, part count and
 * nesting depth) because the parts that matter here, message/feedback-report and
 * text/rfc822-headers, are exactly the ones generic mail parsers treat as opaque attachments.
 */
import { asReportError, ReportError, type FailureReport } from '../types.js';
import { ipAddress } from './aggregate-fields.js';
import {
  decodeCharset,
  decodeTransfer,
  decodeWords,
  first,
  isFieldLine,
  MAX_HEADER_BLOCK,
  normaliseLineEndings,
  parseEntity,
  parseHeaders,
  parseMailDate,
  splitMultipart,
  utf8OrLatin1,
  type HeaderMap,
  type MimeEntity,
} from './mime-headers.js';

export interface FailureParseOptions {
  /** Keep the reported message's header block and the From/Subject/Message-ID read from it (default true). */
  keepHeaders?: boolean;
}

const MAX_DEPTH = 5;
const MAX_PARTS = 100;
const MAX_ORIGINAL_HEADERS = 128 * 1024;
/** Text read from a plain-text report's body. */
const MAX_TEXT = 256 * 1024;
const MAX_VALUE = 2048;
const MAX_URIS = 100;

const ORIGINAL_TYPES = new Set([
  'message/rfc822',
  'text/rfc822-headers',
  'message/rfc822-headers',
  'message/global',
  'message/global-headers',
]);

/** ARF field names (RFC 5965, RFC 6591, RFC 7489 §7.3), looked for in plain-text reports. */
const ARF_FIELDS = new Set([
  'feedback-type',
  'user-agent',
  'version',
  'arrival-date',
  'received-date',
  'source-ip',
  'source-port',
  'incidents',
  'reporting-mta',
  'reported-domain',
  'reported-uri',
  'auth-failure',
  'authentication-results',
  'identity-alignment',
  'delivery-result',
  'dkim-domain',
  'dkim-identity',
  'dkim-selector',
  'dkim-selector-dns',
  'dkim-adsp-dns',
  'dkim-canonicalized-header',
  'dkim-canonicalized-body',
  'spf-dns',
  'original-mail-from',
  'original-rcpt-to',
  'original-envelope-id',
]);

/** Headers a mail has; a block without any of them is not a mail. */
const MAIL_HEADERS = ['from', 'to', 'subject', 'date', 'message-id', 'received', 'content-type', 'mime-version', 'return-path', 'sender'];

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/g;

function clean(value: string | null | undefined, max = MAX_VALUE): string | null {
  if (value == null) return null;
  const text = value.replace(CONTROL, '').trim();
  return text ? text.slice(0, max) : null;
}

function lower(value: string | null): string | null {
  return value ? value.toLowerCase() : null;
}

/** A feedback field's value: first occurrence, RFC 6532 UTF-8 allowed, control characters removed. */
function field(fields: HeaderMap, name: string): string | null {
  return clean(utf8OrLatin1(first(fields, name) ?? ''));
}

function allFields(fields: HeaderMap, name: string, limit: number): string[] {
  return (fields.get(name) ?? [])
    .slice(0, limit)
    .map((v) => clean(utf8OrLatin1(v)))
    .filter((v): v is string => v !== null);
}

/** `<a@b>` → `a@b`; the null reverse-path `<>` stays as written. */
function address(value: string | null): string | null {
  if (!value) return null;
  const m = /^<([^<>]*)>$/.exec(value);
  if (!m) return value;
  return m[1] ? m[1].trim() : '<>';
}

/** `Source-IP: 192.0.2.1 (mx.example)`, `[192.0.2.1]`, `IPv6:2001:db8::1` → the canonical address, or null. */
function sourceIp(value: string | null): string | null {
  if (!value) return null;
  const token = value
    .replace(/\([^)]*\)/g, ' ')
    .trim()
    .split(/\s+/)[0]!
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/^ipv6:/i, '');
  return ipAddress(token);
}

function domain(value: string | null): string | null {
  const d = value?.trim().toLowerCase().replace(/\.$/, '');
  return d && /^[^\s@<>"]+$/.test(d) && d.length <= 253 ? d : null;
}

/** The domain of the (first) address in a From header value. */
function fromDomain(from: string | null): string | null {
  if (!from) return null;
  const m = /<[^<>@\s]*@([^<>\s]+)>/.exec(from) ?? /@([A-Za-z0-9.-]+)/.exec(from);
  return domain(m?.[1] ?? null);
}

interface Structure {
  top: MimeEntity;
  /** Leaf entities in document order; message/rfc822 parts are leaves (never descended). */
  leaves: MimeEntity[];
  /** A multipart whose parts could not be found (no boundary, or no delimiter line). */
  broken: boolean;
}

function collect(entity: MimeEntity, depth: number, out: Structure): void {
  const { type, params } = entity.contentType;
  if (!type.startsWith('multipart/')) {
    out.leaves.push(entity);
    return;
  }
  const parts = params.boundary ? splitMultipart(entity.body, params.boundary, MAX_PARTS - out.leaves.length) : null;
  if (!parts) {
    out.broken = true;
    return;
  }
  for (const part of parts) {
    if (out.leaves.length >= MAX_PARTS) return;
    const child = parseEntity(part);
    if (depth + 1 < MAX_DEPTH) collect(child, depth + 1, out);
    else out.leaves.push(child);
  }
}

/** A part's content with the transfer encoding undone and line endings normalised (latin1 string). */
function content(entity: MimeEntity, max = Infinity): string {
  const body = max === Infinity ? entity.body : entity.body.slice(0, max * 2);
  const decoded = decodeTransfer(first(entity.headers, 'content-transfer-encoding'), body).toString('latin1');
  return normaliseLineEndings(max === Infinity ? decoded : decoded.slice(0, max));
}

/**
 * The header block at the start of `text` (LF line endings): field lines and their continuations,
 * up to the first empty line or the first line that is neither — so body text can never leak in
 * even when the blank line separating it is missing. Bounded to MAX_ORIGINAL_HEADERS. Raw bytes
 * in, raw bytes out (latin1 strings).
 */
function headerBlock(text: string): string | null {
  let at = 0;
  while (text[at] === '\n') at++;
  if (text.startsWith('From ', at)) at = text.indexOf('\n', at) + 1 || text.length;
  const lines: string[] = [];
  let size = 0;
  let inField = false;
  while (at < text.length) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    const line = text.slice(at, end);
    at = end + 1;
    if (line.trim() === '') break;
    if (isFieldLine(line)) inField = true;
    else if (!(inField && (line[0] === ' ' || line[0] === '\t'))) break;
    if (size + line.length + 1 > MAX_ORIGINAL_HEADERS) break;
    lines.push(line.trimEnd());
    size += line.length + 1;
  }
  return lines.length ? lines.join('\n') : null;
}

/** Original headers quoted in a plain-text report's body: the first run of header lines that looks like a message's. */
function quotedHeaderBlock(text: string): string | null {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!isFieldLine(lines[i]!)) continue;
    const block = headerBlock(lines.slice(i, i + 2000).join('\n'));
    if (!block) continue;
    const names = [...parseHeaders(block).keys()];
    const arf = names.filter((n) => ARF_FIELDS.has(n)).length;
    const looksOriginal = names.includes('from') && names.some((n) => ['received', 'message-id', 'date', 'subject', 'to'].includes(n));
    // Back to raw UTF-8 bytes, like a header block read from an attached part.
    if (looksOriginal && names.length >= 3 && arf * 2 <= names.length) return Buffer.from(block, 'utf8').toString('latin1');
    i += block.split('\n').length - 1;
  }
  return null;
}

function textOf(leaves: MimeEntity[]): string {
  const plain = leaves.filter((l) => l.contentType.type === 'text/plain');
  const html = plain.length ? [] : leaves.filter((l) => l.contentType.type === 'text/html');
  let text = '';
  for (const leaf of [...plain, ...html]) {
    if (text.length >= MAX_TEXT) break;
    let part = decodeCharset(decodeTransfer(first(leaf.headers, 'content-transfer-encoding'), leaf.body.slice(0, MAX_TEXT * 2)), leaf.contentType.params.charset);
    if (leaf.contentType.type === 'text/html') {
      // `[^<>]` keeps every scan short: an unclosed `<` cannot make this quadratic.
      part = part
        .replace(/<br\s*\/?>|<\/(p|div|tr|li)>/gi, '\n')
        .replace(/<[^<>]*>/g, ' ')
        .replace(/&nbsp;/g, ' ')
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&amp;/g, '&');
    }
    text += `${normaliseLineEndings(part)}\n`;
  }
  return text.slice(0, MAX_TEXT);
}

/**
 * `Name: value` lines for known ARF fields in decoded text; `Source IP:` and `source_ip:`
 * spellings too. Values are stored as UTF-8 bytes in latin1 strings, like header values.
 */
function textFields(text: string): HeaderMap {
  const fields: HeaderMap = new Map();
  for (const line of text.split('\n')) {
    const m = /^[ \t]*([A-Za-z][A-Za-z _-]{1,30}?)[ \t]*:[ \t]*(\S.*)$/.exec(line);
    if (!m) continue;
    const name = m[1]!.toLowerCase().replace(/[ _]+/g, '-');
    if (!ARF_FIELDS.has(name)) continue;
    const list = fields.get(name) ?? [];
    if (list.length < MAX_URIS) list.push(Buffer.from(m[2]!.trim(), 'utf8').toString('latin1'));
    fields.set(name, list);
  }
  return fields;
}

const SENTENCE_IP = /\breceived\s+from\s+(?:the\s+)?IP(?:\s+address)?\s*:?\s*\[?([0-9A-Fa-f:.]{3,45})\]?/i;
const SENTENCE_DATE =
  /\bon\s+((?:[A-Za-z]{3},?\s+)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*(?:[+-]\d{4}|[A-Za-z]{1,5}\b))?)/;

type MailKind = 'bounce' | 'read receipt' | 'tls report' | 'auto-reply' | 'list' | 'ordinary';

const DESCRIPTIONS: Record<MailKind, string> = {
  bounce: 'a delivery status notification (bounce)',
  'read receipt': 'a read receipt (message disposition notification)',
  'tls report': 'an SMTP TLS report mail whose report could not be taken out of it',
  'auto-reply': 'an automatic reply',
  list: 'a newsletter or mailing-list message',
  ordinary: 'an ordinary mail',
};

/** What a mail without an ARF part is, judged from its structure and a few headers. */
function mailKind(top: MimeEntity, leaves: MimeEntity[], subject: string): MailKind {
  const reportType = (top.contentType.params['report-type'] ?? '').toLowerCase();
  const types = new Set(leaves.map((l) => l.contentType.type));
  const from = (first(top.headers, 'from') ?? '').toLowerCase();
  if (reportType === 'delivery-status' || types.has('message/delivery-status') || types.has('message/global-delivery-status')) return 'bounce';
  if (reportType === 'disposition-notification' || types.has('message/disposition-notification')) return 'read receipt';
  if (reportType === 'tlsrpt' || types.has('application/tlsrpt+json') || types.has('application/tlsrpt+gzip')) return 'tls report';
  if (/mailer-daemon|postmaster@/.test(from) && /undeliver|returned mail|delivery (status|failure)|failure notice/i.test(subject)) return 'bounce';
  if (/auto-replied/i.test(first(top.headers, 'auto-submitted') ?? '') || /^(automatic reply|auto(-|\s)?reply|out of (the )?office)/i.test(subject)) {
    return 'auto-reply';
  }
  if (top.headers.has('list-unsubscribe') || top.headers.has('list-id') || /^(bulk|list)$/i.test(first(top.headers, 'precedence') ?? '')) return 'list';
  return 'ordinary';
}

function notAReport(kind: MailKind, subject: string): ReportError {
  const quoted = subject ? ` ("${subject.length > 80 ? `${subject.slice(0, 77)}...` : subject}")` : '';
  return new ReportError('not_a_report', `This mail${quoted} appears to be ${DESCRIPTIONS[kind]}, not a DMARC report.`);
}

function feedbackLoop(type: string): ReportError {
  return new ReportError(
    'feedback_loop',
    `This is a feedback-loop complaint (Feedback-Type: ${type.slice(0, 40)}) forwarded by a mailbox provider, not a DMARC failure report. ` +
      'Feedback loops are set up with the provider and are not read here.',
  );
}

function parseMessage(text: string, keepHeaders: boolean, nesting: number): FailureReport {
  let start = 0;
  while (text[start] === '\n' || text[start] === ' ' || text[start] === '\t') start++;
  if (text.startsWith('From ', start)) start = text.indexOf('\n', start) + 1 || text.length;
  const firstLine = text.slice(start, text.indexOf('\n', start) < 0 ? text.length : text.indexOf('\n', start));
  if (!isFieldLine(firstLine)) {
    throw new ReportError('corrupt_mail', 'The data does not start with a mail header, so it cannot be read as a mail message.');
  }
  const top = parseEntity(text.slice(start));
  if (!MAIL_HEADERS.some((h) => top.headers.has(h))) {
    throw new ReportError('corrupt_mail', 'The header block has none of From, To, Subject, Date or Content-Type, so it cannot be read as a mail message.');
  }
  const subject = clean(decodeWords(first(top.headers, 'subject') ?? '')) ?? '';
  const reportDate = parseMailDate(first(top.headers, 'date'));

  const structure: Structure = { top, leaves: [], broken: false };
  collect(top, 0, structure);
  const { leaves } = structure;
  const isArfMail = top.contentType.type === 'multipart/report' && (top.contentType.params['report-type'] ?? '').toLowerCase() === 'feedback-report';
  if (structure.broken && isArfMail) {
    throw new ReportError('corrupt_mail', 'The mail says it is a feedback report, but its MIME parts cannot be found (missing or wrong boundary).');
  }

  const feedbackIndex = leaves.findIndex((l) => l.contentType.type === 'message/feedback-report');
  let fields: HeaderMap;
  let plainText = false;
  let originalPart: MimeEntity | undefined;
  let quoted: string | null = null;
  if (feedbackIndex >= 0) {
    fields = parseHeaders(content(leaves[feedbackIndex]!, MAX_HEADER_BLOCK));
    originalPart = leaves.slice(feedbackIndex + 1).find((l) => ORIGINAL_TYPES.has(l.contentType.type)) ?? leaves.find((l) => ORIGINAL_TYPES.has(l.contentType.type));
  } else {
    const kind = mailKind(top, leaves, subject);
    if (kind !== 'ordinary' && kind !== 'list' && !isArfMail) throw notAReport(kind, subject);
    // A report forwarded as an attachment: read the attached report itself.
    if (nesting === 0) {
      for (const leaf of leaves.filter((l) => l.contentType.type === 'message/rfc822').slice(0, 3)) {
        const inner = content(leaf);
        const innerTop = parseEntity(inner.replace(/^\n+/, ''));
        if (innerTop.contentType.type === 'multipart/report' && (innerTop.contentType.params['report-type'] ?? '').toLowerCase() === 'feedback-report') {
          return parseMessage(inner, keepHeaders, nesting + 1);
        }
      }
    }
    const text = textOf(leaves);
    fields = textFields(text);
    originalPart = leaves.find((l) => ORIGINAL_TYPES.has(l.contentType.type));
    const flat = text.replace(/\s+/g, ' ');
    const type = lower(field(fields, 'feedback-type'));
    const ip = sourceIp(field(fields, 'source-ip')) ?? sourceIp(SENTENCE_IP.exec(flat)?.[1] ?? null);
    quoted = originalPart ? null : quotedHeaderBlock(text);
    const subjectSays = /\b(dmarc|forensic)\b/i.test(subject) && /\b(fail(ure|ed)?|forensic)\b/i.test(subject);
    const textSays = /\bauthentication[- ]failure report\b/i.test(flat);
    const hasOriginal = originalPart !== undefined || quoted !== null;
    if (type && type !== 'auth-failure') throw feedbackLoop(type);
    const isReport = type === 'auth-failure' || ((textSays || subjectSays) && ip !== null) || (subjectSays && hasOriginal && fields.size > 0);
    if (!isReport && isArfMail) {
      throw new ReportError(
        'invalid_report',
        'The mail is labelled as a feedback report (ARF), but it has no message/feedback-report part and no report fields in its text.',
      );
    }
    if (!isReport) throw notAReport(kind, subject);
    plainText = true;
    if (!fields.has('source-ip') && ip) fields.set('source-ip', [ip]);
  }
  // OpenDMARC and others give the arrival time only in the human-readable sentence.
  if (!fields.has('arrival-date') && !fields.has('received-date')) {
    const flat = textOf(leaves).replace(/\s+/g, ' ');
    const received = /\breceived\s+from\s/i.exec(flat);
    const date = received ? SENTENCE_DATE.exec(flat.slice(received.index, received.index + 300))?.[1] : undefined;
    if (date) fields.set('arrival-date', [date]);
  }

  const declared = lower(field(fields, 'feedback-type'));
  const feedbackType = declared ?? (fields.has('auth-failure') || plainText ? 'auth-failure' : null);
  if (feedbackType === null) {
    throw new ReportError(
      'invalid_report',
      'The feedback report has no Feedback-Type field, so it cannot be told whether it is a DMARC failure report or a complaint.',
    );
  }
  if (feedbackType !== 'auth-failure') throw feedbackLoop(feedbackType);

  const block = originalPart ? headerBlock(content(originalPart, MAX_ORIGINAL_HEADERS * 2)) : quoted;
  const original = block ? parseHeaders(block) : new Map<string, string[]>();
  const originalField = (name: string): string | null => clean(decodeWords(first(original, name) ?? ''));
  const originalFrom = originalField('from');

  let reportedDomain = domain(field(fields, 'reported-domain'));
  if (!reportedDomain && plainText) reportedDomain = domain(/\bfor\s+(?:domain\s+)?([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)\b/i.exec(subject)?.[1] ?? null);
  if (!reportedDomain) reportedDomain = fromDomain(originalFrom);

  return {
    feedbackType,
    plainText,
    userAgent: field(fields, 'user-agent'),
    version: field(fields, 'version'),
    arrivalDate: parseMailDate(field(fields, 'arrival-date') ?? field(fields, 'received-date')),
    sourceIp: sourceIp(field(fields, 'source-ip')),
    reportedDomain,
    reportedUri: allFields(fields, 'reported-uri', MAX_URIS),
    authFailure: lower(field(fields, 'auth-failure')),
    identityAlignment: lower(field(fields, 'identity-alignment'))?.replace(/\s+/g, '') ?? null,
    deliveryResult: lower(field(fields, 'delivery-result')),
    dkimDomain: lower(field(fields, 'dkim-domain')),
    dkimIdentity: field(fields, 'dkim-identity'),
    dkimSelector: field(fields, 'dkim-selector'),
    spfDns: field(fields, 'spf-dns'),
    originalMailFrom: address(field(fields, 'original-mail-from')),
    originalRcptTo: allFields(fields, 'original-rcpt-to', MAX_URIS).map(address).join(', ') || null,
    originalEnvelopeId: field(fields, 'original-envelope-id'),
    originalHeaders: keepHeaders && block ? utf8OrLatin1(block).replace(/\0/g, '') : null,
    originalFrom: keepHeaders ? originalFrom : null,
    originalSubject: keepHeaders ? originalField('subject') : null,
    originalMessageId: keepHeaders ? originalField('message-id') : null,
    reportSubject: subject || null,
    reportDate,
  };
}

/**
 * Reads a DMARC failure report from a whole RFC 5322 message. Throws ReportError:
 * `feedback_loop` for ARF complaints (abuse, fraud, not-spam ...), `not_a_report` for other mail
 * (saying what it appears to be), `corrupt_mail` when it cannot be read as a mail at all.
 */
export async function parseFailureReport(mail: Uint8Array, options: FailureParseOptions = {}): Promise<FailureReport> {
  const text = normaliseLineEndings(Buffer.from(mail.buffer, mail.byteOffset, mail.byteLength).toString('latin1'));
  if (text.trim() === '') throw new ReportError('empty', 'The message is empty.');
  try {
    return await parseMessage(text, options.keepHeaders ?? true, 0);
  } catch (error) {
    throw asReportError(error);
  }
}
