import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { serviceEntrySchema, type ServiceEntry } from '../enrich/services.js';

/** The organisation's own service entries (matched before the catalogue); entries that no longer parse are left out. */
export async function orgServiceEntries(db: Kysely<DB>, orgId: number): Promise<ServiceEntry[]> {
  const rows = await db.selectFrom('org_service').select(['entry']).where('org_id', '=', orgId).orderBy('service_id').execute();
  return rows.flatMap((r) => {
    const parsed = serviceEntrySchema.safeParse(typeof r.entry === 'string' ? JSON.parse(r.entry) : r.entry);
    return parsed.success ? [parsed.data] : [];
  });
}
