import type { Kysely } from 'kysely';
import type { Role, ApiScope } from '../auth/roles.js';
import type { DB } from '../db/schema.js';
import type { Caller, OrgAccess } from '../http/auth-context.js';

/** The role an API key acts with: its scope, as the member role that may do the same. */
const SCOPE_ROLE: Record<ApiScope, Role> = { read: 'viewer', write: 'member', admin: 'admin' };

export function roleOfScope(scope: ApiScope): Role {
  return SCOPE_ROLE[scope];
}

/**
 * The caller's access to the organisation with this slug, or null when it has none — a member of
 * it, or one of its own API keys. Callers without access cannot tell it from one that does not exist.
 */
export async function orgAccessFor(db: Kysely<DB>, caller: Exclude<Caller, { kind: 'anonymous' }>, slug: string): Promise<(OrgAccess & { slug: string }) | null> {
  if (caller.kind === 'api_key') {
    if (caller.orgSlug !== slug) return null;
    return { orgId: caller.orgId, slug, role: roleOfScope(caller.scope), caller };
  }
  const row = await db
    .selectFrom('organization as o')
    .innerJoin('membership as m', 'm.org_id', 'o.id')
    .select(['o.id', 'm.role'])
    .where('o.slug', '=', slug)
    .where('m.user_id', '=', caller.userId)
    .executeTakeFirst();
  return row ? { orgId: row.id, slug, role: row.role as Role, caller } : null;
}
