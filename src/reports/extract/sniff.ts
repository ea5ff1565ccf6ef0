/** What a run of bytes is, judged from its first bytes only. */
export type Sniffed = 'empty' | 'gzip' | 'zip' | 'xml' | 'json' | 'mail' | 'mbox' | 'unknown';

/** How many leading bytes `sniff` looks at. */
export const SNIFF_BYTES = 8192;

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * Classifies bytes by their magic numbers and leading text, never by name or MIME type.
 * `head` is the start of the input (at most SNIFF_BYTES); `complete` says it is the whole input.
 */
export function sniff(head: Uint8Array, complete = head.length < SNIFF_BYTES): Sniffed {
  if (head.length === 0) return 'empty';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (isZip(head)) return 'zip';
  const first = firstSignificantChar(head);
  if (first === '<') return 'xml';
  if (first === '{') return 'json';
  return sniffMail(head, complete);
}

function isZip(head: Uint8Array): boolean {
  if (head[0] !== 0x50 || head[1] !== 0x4b) return false;
  const [c, d] = [head[2], head[3]];
  return (
    (c === 0x03 && d === 0x04) || // local file header
    (c === 0x05 && d === 0x06) || // end of central directory: an empty archive
    (c === 0x07 && d === 0x08) || // spanned archive marker
    (c === 0x30 && d === 0x30) // "PK00": a spanned archive that fitted in one segment
  );
}

/** The first non-whitespace character after an optional byte order mark, in UTF-8 or UTF-16. */
function firstSignificantChar(head: Uint8Array): string | null {
  let i = 0;
  let unit = 1;
  let bigEndian = false;
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) {
    i = 3;
  } else if (head[0] === 0xff && head[1] === 0xfe) {
    i = 2;
    unit = 2;
  } else if (head[0] === 0xfe && head[1] === 0xff) {
    i = 2;
    unit = 2;
    bigEndian = true;
  } else if (head[0] === 0x00 && head[1] !== 0x00 && head[1] !== undefined) {
    unit = 2;
    bigEndian = true;
  } else if (head[0] !== 0x00 && head[1] === 0x00) {
    unit = 2;
  }
  for (; i + unit <= head.length; i += unit) {
    const code = unit === 1 ? head[i]! : bigEndian ? (head[i]! << 8) | head[i + 1]! : head[i]! | (head[i + 1]! << 8);
    if (!WHITESPACE.has(code)) return code < 0x80 ? String.fromCharCode(code) : null;
  }
  return null;
}

// RFC 5322 field name (printable ASCII except ':'), optional obsolete whitespace, then ':'.
const HEADER_LINE = /^[\x21-\x39\x3b-\x7e]+[ \t]*:/;
const CONTINUATION = /^[ \t]/;
const MAX_HEADER_LINES_CHECKED = 40;

/**
 * RFC 5322 mail: the input opens with a header block (`Name: value` lines and folded
 * continuations). A first line `From ` followed by headers is an mbox. Lines may end in
 * CRLF, LF or a lone CR.
 */
function sniffMail(head: Uint8Array, complete: boolean): Sniffed {
  const text = Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('latin1');
  const lines = text.split(/\r\n|\n|\r/);
  // the last line may be cut off by the end of the head
  if (!complete && lines.length > 1) lines.pop();
  let kind: Sniffed = 'mail';
  if (lines[0]?.startsWith('From ')) {
    kind = 'mbox';
    lines.shift();
  }
  const first = lines[0];
  if (first === undefined || !HEADER_LINE.test(first)) return 'unknown';
  for (const line of lines.slice(1, MAX_HEADER_LINES_CHECKED)) {
    if (line === '') break;
    if (!HEADER_LINE.test(line) && !CONTINUATION.test(line)) return 'unknown';
  }
  return kind;
}

const KNOWN_FORMATS: { magic: number[]; what: string; compression?: true }[] = [
  { magic: [0x89, 0x50, 0x4e, 0x47], what: 'a PNG image' },
  { magic: [0xff, 0xd8, 0xff], what: 'a JPEG image' },
  { magic: [0x47, 0x49, 0x46, 0x38], what: 'a GIF image' },
  { magic: [0x25, 0x50, 0x44, 0x46], what: 'a PDF document' },
  { magic: [0x42, 0x5a, 0x68], what: 'bzip2-compressed data', compression: true },
  { magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], what: 'xz-compressed data', compression: true },
  { magic: [0x28, 0xb5, 0x2f, 0xfd], what: 'zstd-compressed data', compression: true },
  { magic: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], what: 'a 7-Zip archive', compression: true },
  { magic: [0x52, 0x61, 0x72, 0x21, 0x1a, 0x07], what: 'a RAR archive', compression: true },
];

/** Names a few common non-report formats, for a clearer problem message. */
export function describeUnknown(head: Uint8Array): { what: string; compression: boolean } {
  for (const format of KNOWN_FORMATS) {
    if (format.magic.every((byte, i) => head[i] === byte)) return { what: format.what, compression: !!format.compression };
  }
  return { what: 'neither XML, JSON, gzip, zip nor a mail message', compression: false };
}
