const DAY_MS = 86_400_000;
/** Ranges up to this long belong to a single day (receivers use 86399, 86400 and 86401 s). */
const SINGLE_DAY_MAX_MS = DAY_MS + 3_600_000;

export interface DayShare {
  day: string; // YYYY-MM-DD (UTC)
  weight: number; // seconds of the range falling on that day
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * The UTC days a report's range describes. A range of about a day is credited to the day holding
 * its midpoint (so a 16:00Z–16:00Z NetEase day lands on the day it mostly covers); a longer range
 * is spread over the days it overlaps, in proportion to the time on each.
 */
export function daysOfRange(begin: Date, end: Date): DayShare[] {
  const b = begin.getTime();
  const e = Math.max(end.getTime(), b);
  if (e - b <= SINGLE_DAY_MAX_MS) return [{ day: utcDay(b + (e - b) / 2), weight: 1 }];
  const shares: DayShare[] = [];
  for (let start = Math.floor(b / DAY_MS) * DAY_MS; start < e; start += DAY_MS) {
    const overlap = Math.min(e, start + DAY_MS) - Math.max(b, start);
    if (overlap > 0) shares.push({ day: utcDay(start), weight: overlap });
  }
  return shares;
}

/** Splits a whole count over shares by weight (largest remainder), so the parts always sum to the count. */
export function splitCount(count: number, shares: DayShare[]): number[] {
  if (shares.length === 1) return [count];
  const total = shares.reduce((sum, s) => sum + s.weight, 0);
  const exact = shares.map((s) => (count * s.weight) / total);
  const parts = exact.map(Math.floor);
  let left = count - parts.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left <= 0) break;
    parts[i]! += 1;
    left -= 1;
  }
  return parts;
}
