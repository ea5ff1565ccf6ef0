/** A period of whole UTC days, both ends included, as the daily rollups count them. */
export interface DayPeriod {
  fromDay: string;
  toDay: string;
}

const DAY_MS = 86_400_000;

export function dayOf(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export function addDays(day: string, days: number): string {
  return dayOf(new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS));
}

/** The `days` days ending with the day of `now`. */
export function lastDays(now: Date, days: number): DayPeriod {
  const toDay = dayOf(now);
  return { fromDay: addDays(toDay, -(days - 1)), toDay };
}

export function daysIn(period: DayPeriod): number {
  return Math.round((Date.parse(`${period.toDay}T00:00:00Z`) - Date.parse(`${period.fromDay}T00:00:00Z`)) / DAY_MS) + 1;
}

/** Every day of the period, in order. */
export function eachDay(period: DayPeriod): string[] {
  const n = daysIn(period);
  return Array.from({ length: Math.max(0, n) }, (_, i) => addDays(period.fromDay, i));
}

/** The period of the same length just before this one. */
export function previousPeriod(period: DayPeriod): DayPeriod {
  const n = daysIn(period);
  return { fromDay: addDays(period.fromDay, -n), toDay: addDays(period.fromDay, -1) };
}

/** `YYYY-MM-DD`, or null when the text is not a real date. */
export function parseDay(text: string | undefined): string | null {
  if (text === undefined || !/^\d{4}-\d{2}-\d{2}$/.test(text)) return null;
  const time = Date.parse(`${text}T00:00:00Z`);
  return Number.isNaN(time) || dayOf(new Date(time)) !== text ? null : text;
}
