import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

const CHILD_TABLES = ['aggregate_record_reason', 'aggregate_record_spf', 'aggregate_record_dkim', 'aggregate_record'] as const;

/**
 * Deletes aggregate reports with their records (the record tables have no cascading foreign
 * keys, so this is the one way to remove a report). Rollups are left as they are: they describe
 * what was received. Call inside a transaction to make it atomic with other changes.
 */
export async function deleteAggregateReports(db: Kysely<DB>, orgId: number, reportIds: number[]): Promise<number> {
  if (reportIds.length === 0) return 0;
  const owned = await db
    .selectFrom('aggregate_report')
    .select('id')
    .where('org_id', '=', orgId)
    .where('id', 'in', reportIds)
    .execute();
  const ids = owned.map((r) => r.id);
  if (ids.length === 0) return 0;
  for (const table of CHILD_TABLES) await db.deleteFrom(table).where('report_id', 'in', ids).execute();
  await db.deleteFrom('aggregate_report').where('id', 'in', ids).execute();
  return ids.length;
}
