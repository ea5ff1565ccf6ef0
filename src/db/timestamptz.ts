import pg from 'pg';
import { parseUtcTimestamp } from '../lib/iso-time.js';

const TIMESTAMPTZ = 1184;
const generic = pg.types.getTypeParser(TIMESTAMPTZ, 'text') as (text: string) => Date;

/**
 * A timestamptz in PostgreSQL's text form as a Date: the UTC form our sessions use read directly,
 * anything else (another offset, BC) by the driver's general parser.
 */
export function readTimestamptz(text: string): Date {
  return parseUtcTimestamp(text) ?? generic(text);
}
