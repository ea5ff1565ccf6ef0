/**
 * Timestamps between the database's text form, Dates and ISO 8601, without the engine's general
 * date parser and formatter: lists convert a few hundred timestamps per request, and these took a
 * tenth of its CPU time. Anything outside the common shape goes to the engine.
 */

const digit = (text: string, at: number) => text.charCodeAt(at) - 48;
const two = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const three = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);

/**
 * `date.toISOString()`, e.g. `2026-11-23T13:22:42.016Z`. Years outside 1000–9999 and invalid
 * dates take the engine's path (extended years, RangeError).
 */
export function isoString(date: Date): string {
  const year = date.getUTCFullYear();
  if (!(year >= 1000 && year <= 9999)) return date.toISOString();
  return `${year}-${two(date.getUTCMonth() + 1)}-${two(date.getUTCDate())}T${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}.${three(date.getUTCMilliseconds())}Z`;
}

function isDigits(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * Whether this is a timestamptz as PostgreSQL writes it in a UTC session: `2026-11-22 23:59:59+00`
 * or with 1–6 fraction digits (`2026-11-22 23:59:59.123456+00`), a year from 1000, a real date.
 */
function isUtcTimestampText(text: string): boolean {
  const n = text.length;
  if (n < 22 || n > 29 || n === 23) return false;
  if (text.charCodeAt(n - 3) !== 43 || text.charCodeAt(n - 2) !== 48 || text.charCodeAt(n - 1) !== 48) return false;
  if (text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 32 || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return false;
  if (!isDigits(text, 0, 4) || !isDigits(text, 5, 7) || !isDigits(text, 8, 10) || !isDigits(text, 11, 13) || !isDigits(text, 14, 16) || !isDigits(text, 17, 19)) return false;
  if (n > 22 && (text.charCodeAt(19) !== 46 || !isDigits(text, 20, n - 3))) return false;
  const year = digit(text, 0) * 1000 + digit(text, 1) * 100 + digit(text, 2) * 10 + digit(text, 3);
  const month = digit(text, 5) * 10 + digit(text, 6);
  const day = digit(text, 8) * 10 + digit(text, 9);
  return year >= 1000 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) && two10(text, 11) <= 23 && two10(text, 14) <= 59 && two10(text, 17) <= 59;
}

const two10 = (text: string, at: number) => digit(text, at) * 10 + digit(text, at + 1);

/** Milliseconds of the fraction of a valid timestamp text (truncated, as the engine's parser does). */
function millisecondsOf(text: string): number {
  const n = text.length;
  if (n === 22) return 0;
  return digit(text, 20) * 100 + (n > 24 ? digit(text, 21) * 10 : 0) + (n > 25 ? digit(text, 22) : 0);
}

/**
 * A timestamptz as PostgreSQL writes it in UTC, to the millisecond as JavaScript keeps it; null for
 * any other shape (other offsets, infinity, BC), which the caller parses the general way.
 */
export function parseUtcTimestamp(text: string): Date | null {
  if (!isUtcTimestampText(text)) return null;
  const year = digit(text, 0) * 1000 + digit(text, 1) * 100 + digit(text, 2) * 10 + digit(text, 3);
  return new Date(Date.UTC(year, two10(text, 5) - 1, two10(text, 8), two10(text, 11), two10(text, 14), two10(text, 17), millisecondsOf(text)));
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  if (month !== 2) return DAYS_IN_MONTH[month - 1]!;
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
}
