import pg from 'pg';
import { isoString, parseUtcTimestamp, utcTimestampIso } from '../lib/iso-time.js';

const TIMESTAMPTZ = 1184;
const generic = pg.types.getTypeParser(TIMESTAMPTZ, 'text') as (text: string) => Date;

/**
 * A timestamptz in PostgreSQL's text form as a Date: the UTC form our sessions use read directly,
 * anything else (another offset, BC) by the driver's general parser.
 */
export function readTimestamptz(text: string): Date {
  return parseUtcTimestamp(text) ?? generic(text);
}

/** A timestamptz in PostgreSQL's text form as the API writes times (`2026-11-22T23:59:59.123Z`). */
export function timestamptzIso(text: string): string {
  return utcTimestampIso(text) ?? isoString(readTimestamptz(text));
}
