/**
 * Minimal, bounded MIME reading for failure reports: header blocks, parameters and the parts of
 * multipart bodies. Text is handled as latin1 strings (one char per byte) with line breaks
 * normalised to LF, so byte offsets never matter and nothing here can fail on odd bytes.
 */

/** Largest header block read from one entity; the rest of an oversized block is ignored. */
export const MAX_HEADER_BLOCK = 256 * 1024;
/** Header fields read from one block. */
const MAX_FIELDS = 1000;
/** Longest unfolded field value kept. */
const MAX_FIELD_VALUE = 64 * 1024;

export type HeaderMap = Map<string, string[]>;

/** `Name:` at the start of a line: RFC 5322 ftext, tolerating blanks before the colon. */
const FIELD_LINE = /^([!-9;-~]+)[ \t]*:/;

export function isFieldLine(line: string): boolean {
  return FIELD_LINE.test(line);
}

/** CRLF, CR-only and LF line endings all become LF. */
export function normaliseLineEndings(text: string): string {
  return text.indexOf('\r') === -1 ? text : text.replace(/\r\n?/g, '\n');
}

/** Splits an entity (LF line endings) into its header block and body at the first empty line. */
export function splitHeaderBody(text: string): { head: string; body: string } {
  const blank = text.startsWith('\n') ? 0 : text.indexOf('\n\n');
  if (blank < 0) return { head: text.slice(0, MAX_HEADER_BLOCK), body: '' };
  const bodyStart = blank === 0 ? 1 : blank + 2;
  return { head: text.slice(0, Math.min(blank, MAX_HEADER_BLOCK)), body: text.slice(bodyStart) };
}

/**
 * Parses `Name: value` lines with folding (LF line endings). Names are lower-cased, repeated
 * fields kept in order, values unfolded and trimmed. Lines that are neither a field nor a
 * continuation end the current field and are skipped.
 */
export function parseHeaders(head: string): HeaderMap {
  const headers: HeaderMap = new Map();
  let fields = 0;
  let name: string | null = null;
  let value = '';
  const flush = () => {
    if (name === null) return;
    const list = headers.get(name);
    const v = value.trim();
    if (list) list.push(v);
    else headers.set(name, [v]);
    fields++;
    name = null;
  };
  let start = 0;
  while (start <= head.length && fields < MAX_FIELDS) {
    let end = head.indexOf('\n', start);
    if (end < 0) end = head.length;
    const line = head.slice(start, end);
    start = end + 1;
    const c = line.charCodeAt(0);
    if (c === 0x20 || c === 0x09) {
      if (name !== null && value.length < MAX_FIELD_VALUE) value += ` ${line.trim()}`.slice(0, MAX_FIELD_VALUE - value.length);
      continue;
    }
    flush();
    const match = FIELD_LINE.exec(line);
    if (match) {
      name = match[1]!.toLowerCase();
      value = line.slice(match[0].length, match[0].length + MAX_FIELD_VALUE);
    }
  }
  flush();
  return headers;
}

export function first(headers: HeaderMap, name: string): string | null {
  return headers.get(name)?.[0] ?? null;
}

export interface ContentType {
  type: string;
  params: Record<string, string>;
}

/** `type/subtype; a=b; c="d;e"` → { type: 'type/subtype', params: { a: 'b', c: 'd;e' } }; text/plain when absent or unreadable. */
export function parseContentType(value: string | null): ContentType {
  const params: Record<string, string> = {};
  if (!value) return { type: 'text/plain', params };
  const text = value;
  const semi = text.indexOf(';');
  const type = (semi < 0 ? text : text.slice(0, semi))
    .replace(/\([^()]*\)/g, '')
    .trim()
    .toLowerCase();
  const re = /;\s*([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const key = m[1]!.toLowerCase();
    if (!(key in params)) params[key] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
  }
  return { type: /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type) ? type : 'text/plain', params };
}

/** Bytes held in a latin1 string, read as UTF-8 when they are valid UTF-8 (RFC 6532), else as latin1. */
export function utf8OrLatin1(text: string): string {
  if (!/[\x80-\xff]/.test(text)) return text;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(text, 'latin1'));
  } catch {
    return text;
  }
}

/** Decodes bytes in `charset`, falling back to UTF-8/latin1 when the charset is unknown. */
export function decodeCharset(bytes: Buffer, charset: string | undefined): string {
  const label = (charset ?? '').trim().toLowerCase();
  if (label && label !== 'us-ascii' && label !== 'utf-8' && label !== 'utf8') {
    try {
      return new TextDecoder(label).decode(bytes);
    } catch {
      // unknown label: fall through
    }
  }
  return utf8OrLatin1(bytes.toString('latin1'));
}

const ENCODED_WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;

function wordBytes(encoding: string, text: string): Buffer {
  if (encoding.toUpperCase() === 'B') return Buffer.from(text, 'base64');
  return Buffer.from(
    text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
    'latin1',
  );
}

/**
 * Decodes RFC 2047 encoded words in a header value whose raw bytes are held in a latin1 string.
 * Adjacent words in the same charset are joined before decoding (a multi-byte character may be
 * split across them); text outside encoded words is read as UTF-8 when valid (RFC 6532).
 */
export function decodeWords(value: string): string {
  let out = '';
  let last = 0;
  let charset = '';
  let bytes: Buffer[] = [];
  const flush = (): string => (bytes.length ? decodeCharset(Buffer.concat(bytes), charset.split('*')[0]) : '');
  for (const m of value.matchAll(ENCODED_WORD)) {
    const between = value.slice(last, m.index);
    const wordCharset = m[1]!.toLowerCase();
    // Blanks between two encoded words are not part of the text (RFC 2047 §6.2).
    const adjacent = bytes.length > 0 && between.trim() === '';
    if (!adjacent || wordCharset !== charset) {
      out += flush();
      bytes = [];
      if (!adjacent) out += utf8OrLatin1(between);
    }
    charset = wordCharset;
    bytes.push(wordBytes(m[2]!, m[3]!));
    last = m.index + m[0].length;
  }
  return out + flush() + utf8OrLatin1(value.slice(last));
}

function decodeQuotedPrintable(text: string): Buffer {
  const joined = text.replace(/=[ \t]*\n/g, '');
  return Buffer.from(
    joined.replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
    'latin1',
  );
}

/** Undoes the Content-Transfer-Encoding of a body held as a latin1 string. */
export function decodeTransfer(encoding: string | null, body: string): Buffer {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    default:
      return Buffer.from(body, 'latin1');
  }
}

export interface MimeEntity {
  headers: HeaderMap;
  contentType: ContentType;
  /** Raw body, still transfer-encoded, LF line endings. */
  body: string;
}

export function parseEntity(text: string): MimeEntity {
  const { head, body } = splitHeaderBody(text);
  const headers = parseHeaders(head);
  return { headers, contentType: parseContentType(first(headers, 'content-type')), body };
}

/** Whether `body[at..]` is a delimiter line: `--boundary` then blanks, `--`, or the end of the line. */
function delimiterEnd(body: string, at: number, delimiter: string): { close: boolean; next: number } | null {
  let i = at + delimiter.length;
  const close = body.startsWith('--', i);
  if (close) i += 2;
  while (i < body.length && (body[i] === ' ' || body[i] === '\t')) i++;
  if (i < body.length && body[i] !== '\n') return null;
  return { close, next: i + 1 };
}

/**
 * The direct parts of a multipart body (LF line endings), at most `limit` of them. Returns null
 * when no delimiter line is found. A missing close delimiter ends the last part at the end of
 * the body.
 */
export function splitMultipart(body: string, boundary: string, limit: number): string[] | null {
  const delimiter = `--${boundary}`;
  const find = (from: number): { at: number; close: boolean; next: number } | null => {
    let at = from === 0 && body.startsWith(delimiter) ? 0 : body.indexOf(`\n${delimiter}`, Math.max(0, from - 1));
    while (at >= 0) {
      const start = body[at] === '\n' ? at + 1 : at;
      const end = delimiterEnd(body, start, delimiter);
      if (end) return { at, ...end };
      at = body.indexOf(`\n${delimiter}`, start + 1);
    }
    return null;
  };
  let current = find(0);
  if (!current) return null;
  const parts: string[] = [];
  while (current && !current.close && parts.length < limit) {
    const next = find(current.next);
    parts.push(body.slice(current.next, next ? next.at : body.length));
    current = next;
  }
  return parts;
}

const MONTHS: Record<string, number> = { jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11 };
/** RFC 5322 §4.3 obsolete zones; any other alphabetic zone means "unknown", read as UTC. */
const ZONES: Record<string, number> = { ut: 0, utc: 0, gmt: 0, z: 0, est: -300, edt: -240, cst: -360, cdt: -300, mst: -420, mdt: -360, pst: -480, pdt: -420 };

const RFC5322_DATE =
  /^(?:[A-Za-z]{2,},?\s*)?(\d{1,2})[\s-]+([A-Za-z]{3})[A-Za-z]*\.?[\s-]+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*(?:([+-])(\d{2}):?(\d{2})|([A-Za-z]{1,5})\b)?/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/;

function utcDate(year: number, month: number, day: number, hour: number, minute: number, second: number, offsetMinutes: number): Date | null {
  if (year < 1000 || month < 0 || month > 11 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
  const ms = Date.UTC(year, month, day, hour, minute, Math.min(second, 59));
  if (new Date(ms).getUTCDate() !== day) return null; // 31 April and the like
  return new Date(ms - offsetMinutes * 60_000);
}

/**
 * An RFC 5322 date-time (obsolete forms included: two-digit years, named zones, comments), or an
 * ISO 8601 one as some reporters write; null when it is neither. Never guesses like `Date.parse`.
 */
export function parseMailDate(value: string | null | undefined): Date | null {
  if (!value) return null;
  const text = value.trim();
  const m = RFC5322_DATE.exec(text);
  if (m) {
    const month = MONTHS[m[2]!.toLowerCase()];
    if (month === undefined) return null;
    let year = Number(m[3]);
    if (m[3]!.length === 2) year += year < 50 ? 2000 : 1900;
    else if (m[3]!.length === 3) year += 1900;
    let offset = 0;
    if (m[7]) offset = (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9]));
    else if (m[10]) offset = ZONES[m[10].toLowerCase()] ?? 0;
    return utcDate(year, month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0), offset);
  }
  const iso = ISO_DATE.exec(text);
  if (iso) {
    const offset = iso[8] ? (iso[8] === '-' ? -1 : 1) * (Number(iso[9]) * 60 + Number(iso[10])) : 0;
    return utcDate(Number(iso[1]), Number(iso[2]) - 1, Number(iso[3]), Number(iso[4]), Number(iso[5]), Number(iso[6] ?? 0), offset);
  }
  return null;
}
