import type { Context } from 'hono';
import { lastDays, type DayPeriod } from '../../analytics/period.js';
import type { WebEnv } from '../../http/env.js';
import { withQuery } from './data-table.js';

/** The periods a dashboard page offers, in days. */
export const PERIODS = [7, 30, 90, 365] as const;

/** The period asked for in `?days=` (one of PERIODS; 30 otherwise). */
export function periodOf(c: Context<WebEnv>, now: Date): { days: number; period: DayPeriod } {
  const asked = Number(c.req.query('days'));
  const days = (PERIODS as readonly number[]).includes(asked) ? asked : 30;
  return { days, period: lastDays(now, days) };
}

/**
 * Links to the other periods. A period change starts the page's list again from the top; a page
 * with one sorted table also drops its sort (`resetSort`), a page of several keeps theirs.
 */
export function PeriodPicker(props: { c: Context<WebEnv>; days: number; resetSort?: boolean }) {
  const reset = props.resetSort ? { cursor: undefined, sort: undefined, dir: undefined } : { cursor: undefined };
  return (
    <nav class="table-nav" aria-label="Period">
      {PERIODS.map((days) =>
        days === props.days ? (
          <strong aria-current="true">Last {days} days</strong>
        ) : (
          <a href={withQuery(props.c, { ...reset, days: String(days) })}>Last {days} days</a>
        ),
      )}
    </nav>
  );
}
