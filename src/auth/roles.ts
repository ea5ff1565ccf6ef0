export type Role = 'owner' | 'admin' | 'member' | 'viewer';
export type ApiScope = 'read' | 'write' | 'admin';

const RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };

/** What an action needs: reading, ordinary writes, or administration (members, keys, billing, deletion). */
export type Permission = 'read' | 'write' | 'admin';

const ROLE_NEEDED: Record<Permission, Role> = { read: 'viewer', write: 'member', admin: 'admin' };
const SCOPE_RANK: Record<ApiScope, number> = { read: 0, write: 1, admin: 2 };

export function roleAllows(role: Role, permission: Permission): boolean {
  return RANK[role] >= RANK[ROLE_NEEDED[permission]];
}

export function scopeAllows(scope: ApiScope, permission: Permission): boolean {
  return SCOPE_RANK[scope] >= SCOPE_RANK[permission];
}

export function atLeast(role: Role, minimum: Role): boolean {
  return RANK[role] >= RANK[minimum];
}
