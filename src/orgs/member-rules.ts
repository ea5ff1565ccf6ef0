import { atLeast, type Role } from '../auth/roles.js';
import { OrgRuleError } from './rule-error.js';

/** Who asks for a change to the members: their role here, and their account (null for an API key). */
export interface MemberActor {
  role: Role;
  userId: number | null;
}

export interface MemberTarget {
  userId: number;
  role: Role;
}

const LAST_OWNER = 'An organisation always keeps an owner: make someone else owner first, or delete the organisation.';

/** Refuses a role change the rules do not allow; `owners` is the organisation's number of owners now. */
export function checkRoleChange(actor: MemberActor, target: MemberTarget, role: Role, owners: number): void {
  if (role === target.role) return;
  if ((target.role === 'owner' || role === 'owner') && actor.role !== 'owner') {
    throw new OrgRuleError('forbidden', 'owner_only', "Only an owner can make someone an owner or change an owner's role.");
  }
  if (!atLeast(actor.role, role)) {
    throw new OrgRuleError('forbidden', 'above_own_role', `You cannot give a role above your own (${actor.role}).`);
  }
  if (target.role === 'owner' && owners <= 1) {
    throw new OrgRuleError('conflict', 'last_owner', `This is the last owner. ${LAST_OWNER}`);
  }
}

/** Refuses a removal the rules do not allow: anyone may leave, admins remove others, only owners remove owners. */
export function checkRemoval(actor: MemberActor, target: MemberTarget, owners: number): void {
  const leaving = actor.userId === target.userId;
  if (!leaving) {
    if (!atLeast(actor.role, 'admin')) {
      throw new OrgRuleError('forbidden', 'forbidden', `Removing someone else needs the admin role or higher (you are ${actor.role === 'admin' ? 'an' : 'a'} ${actor.role}).`);
    }
    if (target.role === 'owner' && actor.role !== 'owner') {
      throw new OrgRuleError('forbidden', 'owner_only', 'Only an owner can remove an owner.');
    }
  }
  if (target.role === 'owner' && owners <= 1) {
    throw new OrgRuleError('conflict', 'last_owner', leaving ? `You are the last owner. ${LAST_OWNER}` : `This is the last owner. ${LAST_OWNER}`);
  }
}

/** Refuses an invitation to a role above the inviter's own. */
export function checkInvitationRole(actor: MemberActor, role: Role): void {
  if (role === 'owner' && actor.role !== 'owner') {
    throw new OrgRuleError('forbidden', 'owner_only', 'Only an owner can invite an owner.');
  }
  if (!atLeast(actor.role, role)) {
    throw new OrgRuleError('forbidden', 'above_own_role', `You cannot invite with a role above your own (${actor.role}).`);
  }
}
