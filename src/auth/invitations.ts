import { sql, type Kysely } from 'kysely';
import { recordAuditEvent } from '../audit/record.js';
import type { AuditInput } from '../audit/types.js';
import type { Config } from '../config.js';
import { orderedAfter, rankOf, toMillisecond, type ListOrder, type SortCursor, type SortKey } from '../db/keyset.js';
import type { DB } from '../db/schema.js';
import { hashToken, randomToken } from '../lib/crypto/index.js';
import { invitationMail } from '../mail/invitation-mail.js';
import type { Mailer } from '../mail/mailer.js';
import { checkInvitationRole, type MemberActor } from '../orgs/member-rules.js';
import { addMember, currentActor } from '../orgs/members.js';
import { lockOrganization } from '../orgs/organizations.js';
import { OrgRuleError } from '../orgs/rule-error.js';
import { ROLE_RANK, type Role } from './roles.js';

export const INVITATION_TTL_MS = 14 * 24 * 60 * 60_000;

/** Tokens are 32 random bytes in unpadded base64url. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export interface InvitationSummary {
  id: number;
  email: string;
  role: Role;
  invitedBy: number | null;
  createdAt: Date;
  expiresAt: Date;
}

interface InvitationRow {
  id: number;
  email: string;
  role: string;
  invited_by: number | null;
  created_at: Date;
  expires_at: Date;
}

function toSummary(row: InvitationRow): InvitationSummary {
  return {
    id: row.id,
    email: row.email,
    role: row.role as Role,
    invitedBy: row.invited_by,
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
  };
}

/** The link in the invitation mail. */
export function invitationLink(publicUrl: string, token: string): string {
  return `${publicUrl}/invitations/accept?token=${token}`;
}

export interface InviteDeps {
  db: Kysely<DB>;
  mailer: Mailer;
  config: Pick<Config, 'publicUrl'>;
}

/**
 * Invites an address into the organisation with a role (no higher than the inviter's own) and mails
 * it the link. The token is 32 random bytes, stored only as its SHA-256, valid 14 days, and only
 * for that address. A pending invitation of the same address is replaced (its link stops working).
 * `mailed` is false when the mail could not be sent (the mailer has logged why); the invitation
 * stands and can be sent again by inviting once more. Throws OrgRuleError.
 */
export async function inviteMember(
  deps: InviteDeps,
  input: { orgId: number; email: string; role: Role; by: MemberActor; actor: AuditInput['actor']; ip: string | null; now: Date },
): Promise<{ invitation: InvitationSummary; mailed: boolean }> {
  const email = input.email.toLowerCase();
  const token = randomToken('', 32);
  const created = await deps.db.transaction().execute(async (trx) => {
    if (!(await lockOrganization(trx, input.orgId))) throw new OrgRuleError('not_found', 'not_found', 'Organisation not found.');
    checkInvitationRole(await currentActor(trx, input.orgId, input.by), input.role);
    const member = await trx
      .selectFrom('membership as m')
      .innerJoin('user_account as u', 'u.id', 'm.user_id')
      .select('u.id')
      .where('m.org_id', '=', input.orgId)
      .where(sql<string>`lower(u.email)`, '=', email)
      .executeTakeFirst();
    if (member) throw new OrgRuleError('conflict', 'already_member', `${email} is already a member of this organisation.`);
    const replaced = await trx
      .updateTable('invitation')
      .set({ revoked_at: input.now })
      .where('org_id', '=', input.orgId)
      .where(sql<string>`lower(email)`, '=', email)
      .where('accepted_at', 'is', null)
      .where('revoked_at', 'is', null)
      .returning('id')
      .execute();
    const row = await trx
      .insertInto('invitation')
      .values({
        org_id: input.orgId,
        email,
        role: input.role,
        token_hash: hashToken(token),
        invited_by: input.actor.type === 'user' ? input.actor.id : null,
        created_at: input.now,
        expires_at: new Date(input.now.getTime() + INVITATION_TTL_MS),
      })
      .returning(['id', 'email', 'role', 'invited_by', 'created_at', 'expires_at'])
      .executeTakeFirstOrThrow();
    const org = await trx.selectFrom('organization').select('name').where('id', '=', input.orgId).executeTakeFirstOrThrow();
    const inviter = row.invited_by === null ? undefined : await trx.selectFrom('user_account').select('email').where('id', '=', row.invited_by).executeTakeFirst();
    await recordAuditEvent(trx, {
      orgId: input.orgId,
      actor: input.actor,
      action: 'invitation.create',
      target: { type: 'invitation', id: row.id },
      summary: { email, role: input.role, expiresAt: new Date(row.expires_at).toISOString(), ...(replaced.length > 0 ? { replaces: replaced.map((r) => r.id) } : {}) },
      ip: input.ip,
    });
    return { invitation: toSummary(row), organization: org.name, invitedBy: inviter?.email ?? null };
  });

  let mailed = true;
  try {
    await deps.mailer.sendMail(
      invitationMail({
        to: email,
        organization: created.organization,
        role: input.role,
        invitedBy: created.invitedBy,
        link: invitationLink(deps.config.publicUrl, token),
        origin: deps.config.publicUrl,
        validDays: INVITATION_TTL_MS / 86_400_000,
      }),
    );
  } catch {
    mailed = false;
  }
  return { invitation: created.invitation, mailed };
}

/** What the pending invitations can be sorted by (the page's column keys); newest first by default. */
export const INVITATION_SORT: Record<'email' | 'role' | 'sent' | 'expires', SortKey<InvitationSummary>> = {
  email: { sql: sql.ref('email'), type: 'text', of: (i) => i.email },
  role: { sql: rankOf(sql.ref('role'), ROLE_RANK), type: 'number', of: (i) => ROLE_RANK[i.role] },
  sent: { sql: toMillisecond(sql.ref('created_at')), type: 'time', of: (i) => i.createdAt },
  expires: { sql: toMillisecond(sql.ref('expires_at')), type: 'time', of: (i) => i.expiresAt },
};
export type InvitationSort = keyof typeof INVITATION_SORT;

/** The organisation's invitations not yet accepted, revoked or expired, after the cursor's (sort value, id): newest first unless another order is asked for. */
export async function listPendingInvitations(
  db: Kysely<DB>,
  orgId: number,
  page: { limit: number; after: SortCursor | null; now: Date; order?: ListOrder<InvitationSort> },
): Promise<InvitationSummary[]> {
  const order = page.order ?? { by: 'sent', dir: 'desc' };
  const query = db
    .selectFrom('invitation')
    .select(['id', 'email', 'role', 'invited_by', 'created_at', 'expires_at'])
    .where('org_id', '=', orgId)
    .where('accepted_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', page.now);
  const rows = await orderedAfter(query, INVITATION_SORT[order.by], order.dir, sql.ref('id'), page.after).limit(page.limit).execute();
  return rows.map(toSummary);
}

/** Revokes a pending invitation of the organisation; false when there is none with that id. */
export async function revokeInvitation(db: Kysely<DB>, input: { orgId: number; invitationId: number; actor: AuditInput['actor']; ip: string | null; now: Date }): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('invitation')
      .set({ revoked_at: input.now })
      .where('id', '=', input.invitationId)
      .where('org_id', '=', input.orgId)
      .where('accepted_at', 'is', null)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', input.now)
      .returning(['id', 'email', 'role'])
      .executeTakeFirst();
    if (!row) return false;
    await recordAuditEvent(trx, {
      orgId: input.orgId,
      actor: input.actor,
      action: 'invitation.revoke',
      target: { type: 'invitation', id: row.id },
      summary: { email: row.email, role: row.role },
      ip: input.ip,
    });
    return true;
  });
}

export interface PendingInvitation {
  id: number;
  email: string;
  role: Role;
  expiresAt: Date;
  organization: { id: number; slug: string; name: string };
}

/** The pending invitation a token belongs to. Reads only: opening the link changes nothing. */
export async function peekInvitation(db: Kysely<DB>, token: string, now: Date): Promise<PendingInvitation | null> {
  if (!TOKEN_SHAPE.test(token)) return null;
  const row = await db
    .selectFrom('invitation as i')
    .innerJoin('organization as o', 'o.id', 'i.org_id')
    .select(['i.id', 'i.email', 'i.role', 'i.expires_at', 'o.id as org_id', 'o.slug', 'o.name'])
    .where('i.token_hash', '=', hashToken(token))
    .where('i.accepted_at', 'is', null)
    .where('i.revoked_at', 'is', null)
    .where('i.expires_at', '>', now)
    .executeTakeFirst();
  if (!row) return null;
  return { id: row.id, email: row.email, role: row.role as Role, expiresAt: new Date(row.expires_at), organization: { id: row.org_id, slug: row.slug, name: row.name } };
}

export interface AcceptedInvitation {
  organization: { id: number; slug: string; name: string };
  /** The role the person has in the organisation now (an existing member keeps theirs). */
  role: Role;
  joined: boolean;
}

/** Marks invitations accepted and makes the person a member of each organisation. Inside a transaction. */
async function acceptRows(
  trx: Kysely<DB>,
  rows: Array<{ id: number; org_id: number; role: string }>,
  user: { id: number },
  context: { ip: string | null; now: Date; via: 'link' | 'sign_in' },
): Promise<AcceptedInvitation[]> {
  const accepted: AcceptedInvitation[] = [];
  for (const row of [...rows].sort((a, b) => a.org_id - b.org_id)) {
    const actor = { type: 'user' as const, id: user.id };
    const joined = await addMember(trx, { orgId: row.org_id, userId: user.id, role: row.role as Role, actor, ip: context.ip, now: context.now, via: { invitation: row.id } });
    await recordAuditEvent(trx, {
      orgId: row.org_id,
      actor,
      action: 'invitation.accept',
      target: { type: 'invitation', id: row.id },
      summary: { user: user.id, role: row.role, via: context.via, alreadyMember: !joined },
      ip: context.ip,
    });
    const member = await trx
      .selectFrom('membership as m')
      .innerJoin('organization as o', 'o.id', 'm.org_id')
      .select(['o.id', 'o.slug', 'o.name', 'm.role'])
      .where('m.org_id', '=', row.org_id)
      .where('m.user_id', '=', user.id)
      .executeTakeFirstOrThrow();
    accepted.push({ organization: { id: member.id, slug: member.slug, name: member.name }, role: member.role as Role, joined });
  }
  return accepted;
}

/**
 * Accepts the invitation a token belongs to for a signed-in person whose address is the invited
 * one. Null — exactly as for an unknown token — when it is not pending or is for another address,
 * which leaves it untouched. A token works once.
 */
export async function acceptInvitation(
  db: Kysely<DB>,
  input: { token: string; user: { id: number; email: string }; ip: string | null; now: Date },
): Promise<AcceptedInvitation | null> {
  if (!TOKEN_SHAPE.test(input.token)) return null;
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('invitation')
      .set({ accepted_at: input.now })
      .where('token_hash', '=', hashToken(input.token))
      .where(sql<string>`lower(email)`, '=', input.user.email.toLowerCase())
      .where('accepted_at', 'is', null)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', input.now)
      .returning(['id', 'org_id', 'role'])
      .executeTakeFirst();
    if (!row) return null;
    const [accepted] = await acceptRows(trx, [row], input.user, { ip: input.ip, now: input.now, via: 'link' });
    return accepted ?? null;
  });
}

/**
 * Accepts every pending invitation of an address that has just proved it receives mail (a
 * sign-in link confirmed): the invitation was sent to that address, so signing in with it is
 * accepting. Call inside the sign-in transaction; each invitation is accepted once.
 */
export async function acceptPendingInvitations(
  trx: Kysely<DB>,
  input: { user: { id: number; email: string }; ip: string | null; now: Date },
): Promise<AcceptedInvitation[]> {
  const rows = await trx
    .updateTable('invitation')
    .set({ accepted_at: input.now })
    .where(sql<string>`lower(email)`, '=', input.user.email.toLowerCase())
    .where('accepted_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', input.now)
    .returning(['id', 'org_id', 'role'])
    .execute();
  if (rows.length === 0) return [];
  return acceptRows(trx, rows, input.user, { ip: input.ip, now: input.now, via: 'sign_in' });
}
