/** Value normalisation for aggregate reports, and the warnings kept on a report. */

/**
 * Largest `<count>` accepted for one record. A single source IP sending more than 2^31 − 1
 * messages in one reporting period is not plausible; such values come from corrupted or
 * hand-edited reports, and accepting them would swamp every total they are added to.
 */
export const MAX_RECORD_COUNT = 2_147_483_647;

/** Trimmed text, or null when nothing is left. */
export function text(raw: string | null | undefined): string | null {
  if (raw == null) return null;
  const t = raw.trim();
  return t.length === 0 ? null : t;
}

/** Trimmed, lower-cased text (enumerated values, domains), or null when empty. */
export function lower(raw: string | null | undefined): string | null {
  if (raw == null) return null;
  const t = raw.trim();
  return t.length === 0 ? null : t.toLowerCase();
}

/** `<email>` without the angle brackets some reporters put around it (`<dmarc@x>`, `Name <dmarc@x>`). */
export function email(raw: string | null | undefined): string | null {
  const t = text(raw);
  if (t === null) return null;
  const open = t.lastIndexOf('<');
  if (open === -1) return t;
  const close = t.indexOf('>', open);
  const inner = t.slice(open + 1, close === -1 ? t.length : close).trim();
  return inner.length === 0 ? null : inner;
}

/** Domain as written by SPF verifiers; `NULL` (old AOL, null reverse-path) means none. */
export function spfDomain(raw: string | null | undefined): string {
  const d = lower(raw);
  return d === null || d === 'null' ? '' : d;
}

/** Canonical text of an IPv4 or IPv6 address, or null when `raw` is not one. */
export function ipAddress(raw: string | null | undefined): string | null {
  if (raw == null || raw.length === 0) return null;
  let s = raw;
  if (isSpace(s.charCodeAt(0)) || isSpace(s.charCodeAt(s.length - 1))) s = s.trim();
  if (s.indexOf(':') === -1) return ipv4Value(s, 0, s.length) >= 0 ? s : null;
  return canonicalIPv6(s);
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/**
 * The 32-bit value of the dotted quad s[from, to), or -1. Leading zeros are refused: some tools
 * read them as octal, others as decimal.
 */
function ipv4Value(s: string, from: number, to: number): number {
  if (to - from < 7 || to - from > 15) return -1;
  let parts = 0;
  let octet = 0;
  let digits = 0;
  let value = 0;
  for (let i = from; i <= to; i++) {
    const c = i === to ? 0x2e : s.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || octet > 255 || (digits > 1 && s.charCodeAt(i - digits) === 0x30)) return -1;
      value = value * 256 + octet;
      parts++;
      octet = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39 && digits < 3) {
      octet = octet * 10 + (c - 0x30);
      digits++;
    } else {
      return -1;
    }
  }
  return parts === 4 ? value : -1;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

const GROUPS = [0, 0, 0, 0, 0, 0, 0, 0];

/**
 * RFC 5952 text form of an IPv6 address (lower case, no leading zeros, the longest run of zero
 * groups as `::`, IPv4-mapped addresses with a dotted quad), or null when `s` is not one.
 * Zone identifiers (`%eth0`) are refused: they mean nothing outside the reporter's host.
 */
export function canonicalIPv6(s: string): string | null {
  const groups = GROUPS; // every slot is written below before it is read
  let canonical = true; // whether s is already in RFC 5952 form (the usual case: no new string)
  let n = 0; // groups parsed
  let gap = -1; // index in groups where `::` stands
  let i = 0;
  const end = s.length;
  if (end < 2 || end > 45) return null;
  if (s.charCodeAt(0) === 0x3a) {
    if (s.charCodeAt(1) !== 0x3a) return null;
    gap = 0;
    i = 2;
    if (i === end) return '::';
  }
  for (;;) {
    if (n === 8) return null;
    let value = 0;
    let digits = 0;
    const start = i;
    while (i < end && digits < 5) {
      const c = s.charCodeAt(i);
      const d = hexDigit(c);
      if (d < 0) break;
      if (c >= 0x41 && c <= 0x46) canonical = false;
      value = value * 16 + d;
      digits++;
      i++;
    }
    if (i < end && s.charCodeAt(i) === 0x2e) {
      // dotted quad in the last 32 bits
      if (n > 6) return null;
      const v4 = ipv4Value(s, start, end);
      if (v4 < 0) return null;
      groups[n++] = Math.floor(v4 / 65536);
      groups[n++] = v4 % 65536;
      canonical = false;
      break;
    }
    if (digits === 0 || digits > 4) return null;
    if (digits > 1 && s.charCodeAt(start) === 0x30) canonical = false;
    groups[n++] = value;
    if (i === end) break;
    if (s.charCodeAt(i) !== 0x3a) return null;
    i++;
    if (i < end && s.charCodeAt(i) === 0x3a) {
      if (gap !== -1) return null;
      gap = n;
      i++;
      if (i === end) break;
    } else if (i === end) {
      return null;
    }
  }
  if (gap === -1) {
    if (n !== 8) return null;
  } else {
    if (n > 7) return null;
    const shift = 8 - n;
    for (let k = n - 1; k >= gap; k--) groups[k + shift] = groups[k]!;
    for (let k = gap; k < gap + shift; k++) groups[k] = 0;
  }
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    const hi = groups[6]!;
    const lo = groups[7]!;
    return `::ffff:${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let k = 0; k < 8; ) {
    if (groups[k] !== 0) {
      k++;
      continue;
    }
    let j = k;
    while (j < 8 && groups[j] === 0) j++;
    if (j - k > bestLength) {
      bestStart = k;
      bestLength = j - k;
    }
    k = j;
  }
  if (canonical && (gap === -1 ? bestStart === -1 : bestStart === gap && bestLength === 8 - n)) return s;
  let out = '';
  for (let k = 0; k < 8; k++) {
    if (k === bestStart) {
      out += '::';
      k += bestLength - 1;
      continue;
    }
    if (out.length > 0 && out.charCodeAt(out.length - 1) !== 0x3a) out += ':';
    out += groups[k]!.toString(16);
  }
  return out;
}

/**
 * `<count>`: a whole number (a `.0` fraction and surrounding whitespace are tolerated).
 * Returns -1 when it is not one, or is negative or above MAX_RECORD_COUNT.
 */
export function recordCount(raw: string | null | undefined): number {
  if (raw == null) return -1;
  const n = raw.length;
  if (n > 0 && n <= 9) {
    let value = 0;
    let i = 0;
    for (; i < n; i++) {
      const c = raw.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      value = value * 10 + (c - 0x30);
    }
    if (i === n) return value;
  }
  const t = raw.trim();
  if (!/^\d+(\.0*)?$/.test(t)) return -1;
  const value = Number(t);
  return value <= MAX_RECORD_COUNT ? value : -1;
}

/** Seconds since the epoch, as integer or float text (`1337270400.0`). NaN when not a number. */
export function epochSeconds(raw: string | null | undefined): number {
  if (raw == null) return NaN;
  const t = raw.trim();
  if (!/^\d+(\.\d*)?$/.test(t)) return NaN;
  return Math.floor(Number(t));
}

/** `<pct>`: an integer from 0 to 100, or null. */
export function percentage(raw: string | null | undefined): number | null | undefined {
  const t = text(raw);
  if (t === null) return null;
  if (!/^\d+(\.0*)?$/.test(t)) return undefined;
  const value = Number(t);
  return value <= 100 ? value : undefined;
}

interface Tally {
  count: number;
  examples: string[];
}

const EXAMPLES = 3;

/**
 * Warnings about one report. Record-level problems are counted per kind and reported once with
 * a few examples, so a report with a million bad records still has a handful of warnings.
 */
export class ReportWarnings {
  private readonly once: string[] = [];
  private readonly tallies = new Map<string, Tally>();

  add(message: string): void {
    this.once.push(message);
  }

  /** Counts one occurrence of `kind`; `example` is kept for the first few. */
  tally(kind: string, example: string): void {
    let t = this.tallies.get(kind);
    if (t === undefined) {
      t = { count: 0, examples: [] };
      this.tallies.set(kind, t);
    }
    t.count++;
    if (t.examples.length < EXAMPLES) t.examples.push(example);
  }

  count(kind: string): number {
    return this.tallies.get(kind)?.count ?? 0;
  }

  /** Final text: one line per message, tallies formatted by `describe(kind, count, examples)`. */
  list(describe: (kind: string, count: number, examples: string) => string): string[] {
    const out = [...this.once];
    for (const [kind, t] of this.tallies) {
      const more = t.count > t.examples.length ? `; ${t.count - t.examples.length} more` : '';
      out.push(describe(kind, t.count, `${t.examples.join('; ')}${more}`));
    }
    return out;
  }
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
