import type { Migration } from 'kysely/migration';
import * as m0001 from './0001_reports.js';

/** Static index: migrations run in key order; a name, once shipped, never changes. */
export const migrations: Record<string, Migration> = {
  '0001_reports': m0001,
};
