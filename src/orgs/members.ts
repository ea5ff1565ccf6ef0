import { sql, type Kysely } from 'kysely';
import { recordAuditEvent } from '../audit/record.js';
import type { AuditInput } from '../audit/types.js';
import { ROLE_RANK, type Role } from '../auth/roles.js';
import { orderedAfter, rankOf, toMillisecond, type ListOrder, type SortCursor, type SortKey } from '../db/keyset.js';
import type { DB } from '../db/schema.js';
import { checkRemoval, checkRoleChange, type MemberActor } from './member-rules.js';
import { lockOrganization } from './organizations.js';
import { OrgRuleError } from './rule-error.js';

export interface Member {
  userId: number;
  email: string;
  role: Role;
  joinedAt: Date;
}

interface ChangeContext {
  orgId: number;
  actor: AuditInput['actor'];
  /** The caller's role in the organisation and account, for the rules. */
  by: MemberActor;
  ip: string | null;
}

/** What the members list can be sorted by (the page's column keys); by address by default. */
export const MEMBER_SORT: Record<'email' | 'role' | 'joined', SortKey<Member>> = {
  email: { sql: sql.ref('u.email'), type: 'text', of: (m) => m.email },
  role: { sql: rankOf(sql.ref('m.role'), ROLE_RANK), type: 'number', of: (m) => ROLE_RANK[m.role] },
  joined: { sql: toMillisecond(sql.ref('m.created_at')), type: 'time', of: (m) => m.joinedAt },
};
export type MemberSort = keyof typeof MEMBER_SORT;

/** The organisation's members, `limit` of them after the cursor's (sort value, user id): by address unless another order is asked for. */
export async function listMembers(db: Kysely<DB>, orgId: number, page: { limit: number; after: SortCursor | null; order?: ListOrder<MemberSort> }): Promise<Member[]> {
  const order = page.order ?? { by: 'email', dir: 'asc' };
  const query = db
    .selectFrom('membership as m')
    .innerJoin('user_account as u', 'u.id', 'm.user_id')
    .select(['u.id', 'u.email', 'm.role', 'm.created_at'])
    .where('m.org_id', '=', orgId);
  const rows = await orderedAfter(query, MEMBER_SORT[order.by], order.dir, sql.ref('u.id'), page.after).limit(page.limit).execute();
  return rows.map((row) => ({ userId: row.id, email: row.email, role: row.role as Role, joinedAt: new Date(row.created_at) }));
}

async function memberFor(trx: Kysely<DB>, orgId: number, userId: number): Promise<Member | null> {
  const row = await trx
    .selectFrom('membership as m')
    .innerJoin('user_account as u', 'u.id', 'm.user_id')
    .select(['u.id', 'u.email', 'm.role', 'm.created_at'])
    .where('m.org_id', '=', orgId)
    .where('m.user_id', '=', userId)
    .executeTakeFirst();
  return row ? { userId: row.id, email: row.email, role: row.role as Role, joinedAt: new Date(row.created_at) } : null;
}

/**
 * The caller's role as it is now, under the organisation's lock: the role the request started with
 * may have changed meanwhile. An API key keeps the role of its scope.
 */
export async function currentActor(trx: Kysely<DB>, orgId: number, by: MemberActor): Promise<MemberActor> {
  if (by.userId === null) return by;
  const row = await trx.selectFrom('membership').select('role').where('org_id', '=', orgId).where('user_id', '=', by.userId).executeTakeFirst();
  if (!row) throw new OrgRuleError('not_found', 'not_found', 'Organisation not found.');
  return { role: row.role as Role, userId: by.userId };
}

export async function countOwners(trx: Kysely<DB>, orgId: number): Promise<number> {
  const row = await trx
    .selectFrom('membership')
    .select(sql<number>`count(*)::int`.as('owners'))
    .where('org_id', '=', orgId)
    .where('role', '=', 'owner')
    .executeTakeFirstOrThrow();
  return Number(row.owners);
}

/** Gives a member another role, within the rules (see checkRoleChange). Throws OrgRuleError. */
export async function changeMemberRole(db: Kysely<DB>, input: ChangeContext & { userId: number; role: Role }): Promise<Member> {
  return db.transaction().execute(async (trx) => {
    if (!(await lockOrganization(trx, input.orgId))) throw new OrgRuleError('not_found', 'not_found', 'Member not found.');
    const target = await memberFor(trx, input.orgId, input.userId);
    if (!target) throw new OrgRuleError('not_found', 'not_found', 'Member not found.');
    checkRoleChange(await currentActor(trx, input.orgId, input.by), target, input.role, await countOwners(trx, input.orgId));
    if (target.role === input.role) return target;
    await trx.updateTable('membership').set({ role: input.role }).where('org_id', '=', input.orgId).where('user_id', '=', input.userId).execute();
    await recordAuditEvent(trx, {
      orgId: input.orgId,
      actor: input.actor,
      action: 'member.role_change',
      target: { type: 'user', id: input.userId },
      summary: { before: { role: target.role }, after: { role: input.role } },
      ip: input.ip,
    });
    return { ...target, role: input.role };
  });
}

/** Removes a member (or lets one leave), within the rules (see checkRemoval). Throws OrgRuleError. */
export async function removeMember(db: Kysely<DB>, input: ChangeContext & { userId: number }): Promise<void> {
  await db.transaction().execute(async (trx) => {
    if (!(await lockOrganization(trx, input.orgId))) throw new OrgRuleError('not_found', 'not_found', 'Member not found.');
    const target = await memberFor(trx, input.orgId, input.userId);
    if (!target) throw new OrgRuleError('not_found', 'not_found', 'Member not found.');
    checkRemoval(await currentActor(trx, input.orgId, input.by), target, await countOwners(trx, input.orgId));
    await trx.deleteFrom('membership').where('org_id', '=', input.orgId).where('user_id', '=', input.userId).execute();
    await recordAuditEvent(trx, {
      orgId: input.orgId,
      actor: input.actor,
      action: input.by.userId === input.userId ? 'member.leave' : 'member.remove',
      target: { type: 'user', id: input.userId },
      summary: { before: { role: target.role } },
      ip: input.ip,
    });
  });
}

/**
 * Makes someone a member with `role` unless they already are one (then their role stays). Call
 * inside the transaction of what grants it (an invitation accepted, the first account); the audit
 * event says how. True when a membership was created.
 */
export async function addMember(
  trx: Kysely<DB>,
  input: { orgId: number; userId: number; role: Role; actor: AuditInput['actor']; ip: string | null; now: Date; via: Record<string, unknown> },
): Promise<boolean> {
  const added = await trx
    .insertInto('membership')
    .values({ org_id: input.orgId, user_id: input.userId, role: input.role, created_at: input.now })
    .onConflict((oc) => oc.columns(['org_id', 'user_id']).doNothing())
    .returning('user_id')
    .executeTakeFirst();
  if (!added) return false;
  await recordAuditEvent(trx, {
    orgId: input.orgId,
    actor: input.actor,
    action: 'member.add',
    target: { type: 'user', id: input.userId },
    summary: { after: { role: input.role }, ...input.via },
    ip: input.ip,
  });
  return true;
}
