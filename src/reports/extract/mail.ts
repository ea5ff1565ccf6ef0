import { simpleParser, type MailParserOptions, type StructuredHeader } from 'mailparser';
import { ReportError } from '../types.js';

/** One non-text part of a message (an attachment, or a single-part body such as Google's application/zip). */
export interface MailPart {
  /** File name, or `part N` when the part has none. */
  label: string;
  contentType: string;
  filename: string | null;
  content: Buffer;
}

export interface ParsedMail {
  /** `report-type` of a top-level multipart/report, lower-cased. */
  reportType: string | null;
  parts: MailPart[];
}

const PARSER_OPTIONS = {
  skipHtmlToText: true,
  skipTextToHtml: true,
  skipTextLinks: true,
  skipImageLinks: true,
  // forwarded messages come out whole (as message/rfc822 parts) so they can be read as mails of their own
  ignoreEmbedded: true,
} as MailParserOptions;

const LF = Buffer.from([0x0a]);

/**
 * Mail whose lines end in a lone CR (old Mac tools) is rewritten with CRLF, which the MIME
 * parser needs. Judged on the header block: lone CRs and no LF.
 */
export function normalizeLineEndings(raw: Buffer): Buffer {
  const blankLine = raw.indexOf('\r\r');
  const header = raw.subarray(0, blankLine >= 0 ? blankLine : 64 * 1024);
  if (header.includes(0x0a) || !header.includes(0x0d)) return raw;
  const parts: Buffer[] = [];
  let start = 0;
  for (let cr = raw.indexOf(0x0d); cr >= 0; cr = raw.indexOf(0x0d, cr + 1)) {
    if (raw[cr + 1] === 0x0a) continue;
    parts.push(raw.subarray(start, cr + 1), LF);
    start = cr + 1;
  }
  parts.push(raw.subarray(start));
  return Buffer.concat(parts);
}

/** Parses a message and returns its non-text parts, decoded. Fails with `corrupt_mail`. */
export async function parseMail(raw: Buffer): Promise<ParsedMail> {
  let parsed;
  try {
    parsed = await simpleParser(raw, PARSER_OPTIONS);
  } catch (error) {
    throw new ReportError('corrupt_mail', `the message cannot be parsed (${(error as Error).message})`);
  }
  const contentType = parsed.headers.get('content-type') as StructuredHeader | undefined;
  // Broken headers can leave the parser's fields unset or of another type: read them as text or not at all.
  const reportType =
    textOf(contentType?.value)?.toLowerCase() === 'multipart/report' ? (textOf(contentType?.params['report-type'])?.toLowerCase() ?? null) : null;
  const parts = parsed.attachments.map((attachment, index): MailPart => {
    const filename = textOf(attachment.filename)?.trim() || null;
    return {
      label: filename ?? `part ${attachment.partId ?? index + 1}`,
      contentType: textOf(attachment.contentType)?.toLowerCase() ?? 'application/octet-stream',
      filename,
      content: attachment.content,
    };
  });
  return { reportType, parts };
}

function textOf(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** An ARF message: the whole mail is the report. */
export function isFeedbackReport(mail: ParsedMail): boolean {
  return mail.reportType === 'feedback-report' || mail.parts.some((part) => part.contentType === 'message/feedback-report');
}

const ZIP_TYPES = new Set(['application/zip', 'application/x-zip-compressed', 'application/x-zip', 'multipart/x-zip']);
const GZIP_TYPES = new Set(['application/gzip', 'application/x-gzip', 'application/tlsrpt+gzip', 'application/gzip-compressed']);
const REPORT_TYPES = new Set(['application/xml', 'text/xml', 'application/json', 'application/tlsrpt+json', 'application/tlsrpt']);

/**
 * What a part claims to be. Only used to word the problem for a part whose bytes turned out
 * to be nothing readable: a part declared as a report is worth a problem, a logo is not.
 */
export function declaredKind(part: MailPart): 'zip' | 'gzip' | 'report' | null {
  const name = part.filename?.toLowerCase() ?? '';
  if (ZIP_TYPES.has(part.contentType) || name.endsWith('.zip')) return 'zip';
  if (GZIP_TYPES.has(part.contentType) || /\.(gz|gzip)$/.test(name)) return 'gzip';
  if (REPORT_TYPES.has(part.contentType) || /\.(xml|json)$/.test(name)) return 'report';
  return null;
}
