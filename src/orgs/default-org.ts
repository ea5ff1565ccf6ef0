import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/** The organisation that owns data on an instance without accounts (created by the first migration). */
export async function defaultOrgId(db: Kysely<DB>): Promise<number> {
  const row = await db.selectFrom('organization').select('id').where('slug', '=', 'default').executeTakeFirst();
  if (!row) throw new Error('The default organisation is missing: run `dmarcwatch migrate`.');
  return row.id;
}
