/** Minimal, bounded MIME reading for failure reports: header blocks, parameters, top-level parts. */

const MAX_HEADER_BLOCK = 256 * 1024;

export type HeaderMap = Map<string, string[]>;

/** Splits a message into its header block and body at the first empty line (CRLF, LF or CR endings). */
export function splitHeaderBody(text: string): { head: string; body: string } {
  const match = /\r\n\r\n|\n\n|\r\r/.exec(text);
  if (!match) return { head: text.slice(0, MAX_HEADER_BLOCK), body: '' };
  return { head: text.slice(0, Math.min(match.index, MAX_HEADER_BLOCK)), body: text.slice(match.index + match[0].length) };
}

/** Parses `Name: value` lines with folding; names are lower-cased, repeated fields kept in order. */
export function parseHeaders(head: string): HeaderMap {
  const headers: HeaderMap = new Map();
  const lines = head.split(/\r\n|\n|\r/);
  let current: { name: string; value: string } | null = null;
  const flush = () => {
    if (!current) return;
    const list = headers.get(current.name) ?? [];
    list.push(current.value.trim());
    headers.set(current.name, list);
  };
  for (const line of lines) {
    if (/^[ \t]/.test(line) && current) {
      current.value += ` ${line.trim()}`;
      continue;
    }
    flush();
    const colon = line.indexOf(':');
    current = colon > 0 && !/\s/.test(line.slice(0, colon)) ? { name: line.slice(0, colon).toLowerCase(), value: line.slice(colon + 1) } : null;
  }
  flush();
  return headers;
}

export function first(headers: HeaderMap, name: string): string | null {
  return headers.get(name)?.[0] ?? null;
}

/** `type/subtype; a=b; c="d"` → { type: 'type/subtype', params: { a: 'b', c: 'd' } }. */
export function parseContentType(value: string | null): { type: string; params: Record<string, string> } {
  if (!value) return { type: 'text/plain', params: {} };
  const [type = '', ...rest] = value.split(';');
  const params: Record<string, string> = {};
  for (const part of rest) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    params[key] = part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return { type: type.trim().toLowerCase(), params };
}

/** Decodes RFC 2047 encoded words (`=?utf-8?B?…?=`, `=?iso-8859-1?Q?…?=`). */
export function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=/g, (whole, charset: string, encoding: string, text: string) => {
      try {
        const bytes =
          encoding.toUpperCase() === 'B'
            ? Buffer.from(text, 'base64')
            : Buffer.from(
                text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
                'latin1',
              );
        return new TextDecoder(charset.split('*')[0]!.toLowerCase(), { fatal: false }).decode(bytes);
      } catch {
        return whole;
      }
    });
}

function decodeQuotedPrintable(text: string): Buffer {
  const joined = text.replace(/=\r?\n/g, '');
  return Buffer.from(joined.replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
}

export interface MimePart {
  headers: HeaderMap;
  contentType: { type: string; params: Record<string, string> };
  /** Body after transfer decoding. */
  body: Buffer;
}

export function decodeBody(headers: HeaderMap, body: string): Buffer {
  const encoding = (first(headers, 'content-transfer-encoding') ?? '7bit').toLowerCase();
  if (encoding === 'base64') return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(body);
  return Buffer.from(body, 'latin1');
}

/** The direct parts of a multipart body (not recursive), at most `limit` of them. */
export function splitMultipart(body: string, boundary: string, limit = 50): MimePart[] {
  const delimiter = `--${boundary}`;
  const parts: MimePart[] = [];
  const chunks = body.split(delimiter);
  for (const chunk of chunks.slice(1)) {
    if (chunk.startsWith('--') || parts.length >= limit) break;
    const content = chunk.replace(/^[ \t]*\r?\n/, '').replace(/\r?\n$/, '');
    const { head, body: partBody } = splitHeaderBody(content);
    const headers = parseHeaders(head);
    parts.push({ headers, contentType: parseContentType(first(headers, 'content-type')), body: decodeBody(headers, partBody) });
  }
  return parts;
}
