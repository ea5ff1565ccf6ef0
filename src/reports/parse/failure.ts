import { ReportError, type FailureReport } from '../types.js';
import {
  decodeBody,
  decodeWords,
  first,
  parseContentType,
  parseHeaders,
  splitHeaderBody,
  splitMultipart,
  type HeaderMap,
  type MimePart,
} from './mime-headers.js';

const MAX_ORIGINAL_HEADERS = 64 * 1024;
const ORIGINAL_TYPES = new Set(['message/rfc822', 'text/rfc822-headers', 'message/rfc822-headers', 'message/global', 'message/global-headers']);
const NOT_DMARC_FEEDBACK = new Set(['abuse', 'fraud', 'virus', 'other', 'not-spam', 'opt-out', 'dkim']);

/** Header text was read byte-for-byte (latin1); RFC 6532 allows UTF-8 there, so re-read it as such. */
function utf8(text: string): string {
  return Buffer.from(text, 'latin1').toString('utf8');
}

function field(fields: HeaderMap, name: string): string | null {
  const value = first(fields, name);
  return value ? utf8(value).trim() || null : null;
}

function lower(value: string | null): string | null {
  return value ? value.toLowerCase() : null;
}

function parseDate(value: string | null): Date | null {
  if (!value) return null;
  const parsed = new Date(value.replace(/\s*\([^)]*\)\s*$/, ''));
  return Number.isNaN(parsed.getTime()) ? null : parsed;
}

function stripAngles(value: string | null): string | null {
  return value ? value.replace(/^<(.*)>$/, '$1') : null;
}

function originalHeaderBlock(part: MimePart | undefined): string | null {
  if (!part) return null;
  const text = part.body.toString('latin1');
  const { head } = splitHeaderBody(text);
  const block = utf8(head).slice(0, MAX_ORIGINAL_HEADERS).trim();
  return block || null;
}

function describeNonReport(type: string, params: Record<string, string>, subject: string): string {
  const reportType = (params['report-type'] ?? '').toLowerCase();
  if (type === 'multipart/report' && reportType === 'delivery-status') {
    return 'This is a delivery status notification (a bounce), not a DMARC report.';
  }
  if (type === 'multipart/report' && reportType === 'disposition-notification') {
    return 'This is a read receipt (message disposition notification), not a DMARC report.';
  }
  return `This mail ("${subject.slice(0, 80)}") has no DMARC aggregate, TLS or failure report in it.`;
}

/** Fields of a plain-text failure report: `Name: value` lines in the text body. */
function looksLikePlainFailureReport(subject: string, fields: HeaderMap): boolean {
  const hasFields = fields.has('source-ip') && (fields.has('reported-domain') || fields.has('auth-failure'));
  const feedback = lower(first(fields, 'feedback-type'));
  if (feedback === 'auth-failure') return true;
  return hasFields && /(dmarc|forensic|failure|authentication)/i.test(subject);
}

function textBodies(parts: MimePart[]): string {
  return parts
    .filter((p) => p.contentType.type.startsWith('text/plain'))
    .map((p) => p.body.toString('latin1'))
    .join('\n');
}

/**
 * Reads a DMARC failure report: ARF (RFC 5965/6591/9991) or a plain-text one. Keeps the reported
 * message's header block only — its body and attachments are never read into the result.
 */
export async function parseFailureReport(mail: Uint8Array, options: { keepHeaders?: boolean } = {}): Promise<FailureReport> {
  const keepHeaders = options.keepHeaders ?? true;
  const text = Buffer.from(mail.buffer, mail.byteOffset, mail.byteLength).toString('latin1');
  const { head, body } = splitHeaderBody(text);
  const headers = parseHeaders(head);
  if (headers.size === 0) throw new ReportError('corrupt_mail', 'The message has no readable header, so it cannot be read as a mail.');
  const subject = decodeWords(utf8(first(headers, 'subject') ?? ''));
  const contentType = parseContentType(first(headers, 'content-type'));
  const parts = contentType.type.startsWith('multipart/') && contentType.params.boundary
    ? splitMultipart(body, contentType.params.boundary)
    : [{ headers, contentType, body: decodeBody(headers, body) }];

  const feedbackPart = parts.find((p) => p.contentType.type === 'message/feedback-report');
  const originalPart = parts.find((p) => ORIGINAL_TYPES.has(p.contentType.type));
  let fields: HeaderMap;
  let plainText = false;
  if (feedbackPart) {
    fields = parseHeaders(feedbackPart.body.toString('latin1'));
  } else {
    fields = parseHeaders(textBodies(parts).replace(/^[ \t]*\r?\n/gm, '\n'));
    if (!looksLikePlainFailureReport(subject, fields)) {
      throw new ReportError('not_a_report', describeNonReport(contentType.type, contentType.params, subject));
    }
    plainText = true;
  }

  const feedbackType = lower(field(fields, 'feedback-type')) ?? (fields.has('auth-failure') ? 'auth-failure' : null);
  if (feedbackType !== 'auth-failure') {
    if (feedbackType && NOT_DMARC_FEEDBACK.has(feedbackType)) {
      throw new ReportError(
        'feedback_loop',
        `This is a feedback-loop report (Feedback-Type: ${feedbackType}) — a recipient complaint forwarded by a mailbox provider, not a DMARC failure report.`,
      );
    }
    throw new ReportError('not_a_report', `This ARF report has Feedback-Type "${feedbackType ?? 'missing'}", not auth-failure, so it is not a DMARC failure report.`);
  }

  const originalHeaders = originalHeaderBlock(originalPart);
  const original = originalHeaders ? parseHeaders(originalHeaders) : new Map<string, string[]>();
  return {
    feedbackType,
    plainText,
    userAgent: field(fields, 'user-agent'),
    version: field(fields, 'version'),
    arrivalDate: parseDate(field(fields, 'arrival-date') ?? field(fields, 'received-date')),
    sourceIp: field(fields, 'source-ip'),
    reportedDomain: lower(field(fields, 'reported-domain')),
    reportedUri: (fields.get('reported-uri') ?? []).map((v) => utf8(v).trim()).filter(Boolean),
    authFailure: lower(field(fields, 'auth-failure')),
    identityAlignment: lower(field(fields, 'identity-alignment')),
    deliveryResult: lower(field(fields, 'delivery-result')),
    dkimDomain: lower(field(fields, 'dkim-domain')),
    dkimIdentity: field(fields, 'dkim-identity'),
    dkimSelector: field(fields, 'dkim-selector'),
    spfDns: field(fields, 'spf-dns'),
    originalMailFrom: stripAngles(field(fields, 'original-mail-from')),
    originalRcptTo: stripAngles(field(fields, 'original-rcpt-to')),
    originalEnvelopeId: field(fields, 'original-envelope-id'),
    originalHeaders: keepHeaders ? originalHeaders : null,
    originalFrom: keepHeaders ? (first(original, 'from') ? decodeWords(first(original, 'from')!) : null) : null,
    originalSubject: keepHeaders ? (first(original, 'subject') ? decodeWords(first(original, 'subject')!) : null) : null,
    originalMessageId: first(original, 'message-id'),
    reportSubject: subject || null,
    reportDate: parseDate(first(headers, 'date')),
  };
}
