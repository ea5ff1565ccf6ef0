export type Role = 'owner' | 'admin' | 'member' | 'viewer';
export type ApiScope = 'read' | 'write' | 'admin';

/** Roles from the least to the most allowed (lists sort roles by this). */
export const ROLE_RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };

/** What an action needs: reading, ordinary writes, or administration (members, keys, billing, deletion). */
export type Permission = 'read' | 'write' | 'admin';

const ROLE_NEEDED: Record<Permission, Role> = { read: 'viewer', write: 'member', admin: 'admin' };
export const SCOPE_RANK: Record<ApiScope, number> = { read: 0, write: 1, admin: 2 };

export function roleAllows(role: Role, permission: Permission): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[ROLE_NEEDED[permission]];
}

export function scopeAllows(scope: ApiScope, permission: Permission): boolean {
  return SCOPE_RANK[scope] >= SCOPE_RANK[permission];
}

export function atLeast(role: Role, minimum: Role): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[minimum];
}
