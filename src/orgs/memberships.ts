import type { Kysely } from 'kysely';
import type { Role } from '../auth/roles.js';
import type { DB } from '../db/schema.js';

export interface OrganizationMembership {
  id: number;
  slug: string;
  name: string;
  role: Role;
  createdAt: Date;
}

/** The organisations a person belongs to, by name. */
export async function organizationsOf(db: Kysely<DB>, userId: number): Promise<OrganizationMembership[]> {
  const rows = await db
    .selectFrom('membership as m')
    .innerJoin('organization as o', 'o.id', 'm.org_id')
    .select(['o.id', 'o.slug', 'o.name', 'm.role', 'o.created_at'])
    .where('m.user_id', '=', userId)
    .orderBy('o.name')
    .orderBy('o.id')
    .execute();
  return rows.map((row) => ({ id: row.id, slug: row.slug, name: row.name, role: row.role as Role, createdAt: new Date(row.created_at) }));
}
