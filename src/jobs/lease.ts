import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/**
 * Takes (or renews) the lease on a named job for `ttlMs`. Exactly one holder wins while the lease
 * lives: the insert succeeds for the first, the conditional update only for the holder itself or
 * once the previous lease has expired.
 */
export async function acquireLease(db: Kysely<DB>, name: string, holder: string, ttlMs: number): Promise<boolean> {
  const expires = sql<Date>`now() + ${`${Math.ceil(ttlMs)} milliseconds`}::interval`;
  const row = await db
    .insertInto('job_lease')
    .values({ name, holder, expires_at: expires })
    .onConflict((oc) =>
      oc
        .column('name')
        .doUpdateSet({
          holder: (eb) => eb.ref('excluded.holder'),
          expires_at: (eb) => eb.ref('excluded.expires_at'),
          acquired_at: sql`case when job_lease.holder = excluded.holder then job_lease.acquired_at else now() end`,
        })
        .where((eb) => eb.or([eb('job_lease.expires_at', '<', sql<Date>`now()`), eb('job_lease.holder', '=', holder)])),
    )
    .returning('holder')
    .executeTakeFirst();
  return row?.holder === holder;
}

export async function releaseLease(db: Kysely<DB>, name: string, holder: string): Promise<void> {
  await db.deleteFrom('job_lease').where('name', '=', name).where('holder', '=', holder).execute();
}
