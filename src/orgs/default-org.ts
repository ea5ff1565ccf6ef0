import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/** The slug of the organisation that holds what the command line imports and adds; it is never deleted. */
export const DEFAULT_ORG_SLUG = 'default';

/** The organisation that owns data on an instance without accounts (created by the first migration). */
export async function defaultOrgId(db: Kysely<DB>): Promise<number> {
  const row = await db.selectFrom('organization').select('id').where('slug', '=', DEFAULT_ORG_SLUG).executeTakeFirst();
  if (!row) throw new Error('The default organisation is missing: run `dmarcwatch migrate`.');
  return row.id;
}
