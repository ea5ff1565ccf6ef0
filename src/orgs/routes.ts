import { z } from 'zod';
import { orgRoute, userRoute, type SignedInCaller } from '../api/define.js';
import { ApiError, notFound } from '../api/errors.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../api/pagination.js';
import { idParam, iso, orgParams, roleSchema, timestamp } from '../api/schemas.js';
import { acceptInvitation, inviteMember, listPendingInvitations, revokeInvitation, type InvitationSummary } from '../auth/invitations.js';
import type { Role } from '../auth/roles.js';
import { normalizeEmail } from '../auth/users.js';
import { roleOfScope } from './access.js';
import { deleteOrganization } from './delete-organization.js';
import type { MemberActor } from './member-rules.js';
import { changeMemberRole, listMembers, removeMember, type Member } from './members.js';
import { organizationsOf } from './memberships.js';
import { createOrganization, getOrganization, renameOrganization, type Organization } from './organizations.js';
import { OrgRuleError } from './rule-error.js';

const STATUS = { not_found: 404, forbidden: 403, conflict: 409 } as const;

/** Runs a use case, answering its rule refusals with the API's error shape. */
async function underRules<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof OrgRuleError) throw new ApiError(STATUS[error.kind], error.code, error.message);
    throw error;
  }
}

function memberActor(role: Role, caller: SignedInCaller): MemberActor {
  return { role, userId: caller.kind === 'user' ? caller.userId : null };
}

// Printable text without line breaks or other control characters (names appear in mail subjects).
export const organizationName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[^\p{Cc}\p{Cf}\u2028\u2029]+$/u, 'no control characters')
  .describe('Shown to people; the slug is derived from it once, at creation.');

const organization = z.object({
  slug: z.string().describe('Stable identifier used in URLs; it does not change when the organisation is renamed.'),
  name: z.string(),
  role: roleSchema.describe("The caller's role here (an API key: the role its scope acts with)."),
  createdAt: timestamp,
});

function organizationOut(org: Pick<Organization, 'slug' | 'name' | 'createdAt'>, role: Role): z.input<typeof organization> {
  return { slug: org.slug, name: org.name, role, createdAt: iso(org.createdAt) };
}

const member = z.object({
  userId: z.number().int(),
  email: z.string(),
  role: roleSchema,
  joinedAt: timestamp,
});

function memberOut(m: Member): z.input<typeof member> {
  return { userId: m.userId, email: m.email, role: m.role, joinedAt: iso(m.joinedAt) };
}

const invitation = z.object({
  id: z.number().int(),
  email: z.string().describe('The only address that can accept it.'),
  role: roleSchema,
  invitedBy: z.number().int().nullable().describe('User id of the inviter; null when invited with an API key or the inviter is gone.'),
  createdAt: timestamp,
  expiresAt: timestamp,
});

function invitationOut(i: InvitationSummary): z.input<typeof invitation> {
  return { id: i.id, email: i.email, role: i.role, invitedBy: i.invitedBy, createdAt: iso(i.createdAt), expiresAt: iso(i.expiresAt) };
}

const memberParams = orgParams.extend({ user: idParam.describe("The member's user id.") });

export const orgsApi = [
  // ---- organisations -----------------------------------------------------------------------------
  userRoute({
    method: 'get',
    path: '/orgs',
    operationId: 'listOrganizations',
    summary: 'The organisations the caller belongs to (an API key: its own)',
    tag: 'Organisations',
    keys: true,
    response: z.object({ items: z.array(organization) }),
    handler: async ({ db, caller }) => {
      if (caller.kind === 'api_key') {
        const org = await getOrganization(db, caller.orgId);
        return { items: org ? [organizationOut(org, roleOfScope(caller.scope))] : [] };
      }
      const memberships = await organizationsOf(db, caller.userId);
      return { items: memberships.map((m) => organizationOut(m, m.role)) };
    },
  }),
  userRoute({
    method: 'post',
    path: '/orgs',
    operationId: 'createOrganization',
    summary: 'Create an organisation; you become its owner',
    description: 'The slug is made from the name (lower-case letters, digits and hyphens), with a number added when it is taken.',
    tag: 'Organisations',
    body: z.object({ name: organizationName }),
    status: 201,
    response: organization,
    handler: async ({ db, caller, body, actor, ip, now }) => {
      if (caller.kind !== 'user') throw notFound('Organisation');
      const org = await createOrganization(db, { name: body.name, ownerUserId: caller.userId, actor, ip, now });
      return organizationOut(org, 'owner');
    },
  }),
  orgRoute({
    method: 'get',
    path: '/orgs/{org}',
    operationId: 'getOrganization',
    summary: 'One organisation',
    tag: 'Organisations',
    permission: 'read',
    params: orgParams,
    response: organization,
    handler: async ({ db, org }) => {
      const found = await getOrganization(db, org.orgId);
      if (!found) throw notFound('Organisation');
      return organizationOut(found, org.role);
    },
  }),
  orgRoute({
    method: 'patch',
    path: '/orgs/{org}',
    operationId: 'renameOrganization',
    summary: 'Rename the organisation (the slug stays)',
    tag: 'Organisations',
    permission: 'admin',
    params: orgParams,
    body: z.object({ name: organizationName }),
    response: organization,
    handler: async ({ db, org, body, actor, ip }) => {
      const renamed = await renameOrganization(db, { orgId: org.orgId, name: body.name, actor, ip });
      if (!renamed) throw notFound('Organisation');
      return organizationOut(renamed, org.role);
    },
  }),
  orgRoute({
    method: 'delete',
    path: '/orgs/{org}',
    operationId: 'deleteOrganization',
    summary: 'Delete the organisation and everything it owns (owners only)',
    description:
      'Removes mailboxes, reports with their records and raw documents, rollups, the ingest log, domains, API keys, invitations and memberships, in batches. ' +
      'Cannot be undone. The audit trail stays (with an `organization.delete` event as its last entry) and can still be verified. ' +
      'The default organisation, which holds what the command line imports, cannot be deleted.',
    tag: 'Organisations',
    permission: 'admin',
    params: orgParams,
    response: null,
    errors: { 403: 'The caller is not an owner (API keys never are).', 409: 'The default organisation.' },
    handler: async ({ db, org, actor, ip }) => {
      if (org.role !== 'owner') {
        throw new ApiError(403, 'owner_only', 'Only an owner can delete the organisation' + (org.caller.kind === 'api_key' ? '; API keys cannot.' : '.'));
      }
      const deleted = await underRules(() => deleteOrganization(db, { orgId: org.orgId, actor, ip }));
      if (!deleted) throw notFound('Organisation');
    },
  }),

  // ---- members -----------------------------------------------------------------------------------
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/members',
    operationId: 'listMembers',
    summary: 'The members of the organisation, by address',
    tag: 'Members',
    permission: 'read',
    params: orgParams,
    query: pageQuery,
    response: pageOf(member),
    handler: async ({ db, org, query }) => {
      const after = decodeCursor(query.cursor, z.tuple([z.string(), z.number().int()]));
      const members = await listMembers(db, org.orgId, { limit: query.limit + 1, after });
      return toPage(members, query.limit, (m) => [m.email, m.userId], memberOut);
    },
  }),
  orgRoute({
    method: 'patch',
    path: '/orgs/{org}/members/{user}',
    operationId: 'changeMemberRole',
    summary: "Change a member's role",
    description:
      'Only an owner can make someone an owner or change an owner’s role; nobody can give a role above their own; the last owner cannot be demoted.',
    tag: 'Members',
    permission: 'admin',
    params: memberParams,
    body: z.object({ role: roleSchema }),
    response: member,
    errors: { 403: 'The change needs a higher role.', 409: 'It would leave the organisation without an owner.' },
    handler: async ({ db, org, params, body, caller, actor, ip }) => {
      const changed = await underRules(() => changeMemberRole(db, { orgId: org.orgId, userId: params.user, role: body.role, by: memberActor(org.role, caller), actor, ip }));
      return memberOut(changed);
    },
  }),
  orgRoute({
    method: 'delete',
    path: '/orgs/{org}/members/{user}',
    operationId: 'removeMember',
    summary: 'Remove a member, or leave (your own user id)',
    description: 'Admins remove others (only owners remove owners); anyone may leave, except the last owner.',
    tag: 'Members',
    permission: 'read',
    params: memberParams,
    response: null,
    errors: { 403: 'Removing someone else needs the admin role (an owner for an owner).', 409: 'The last owner cannot leave.' },
    handler: async ({ db, org, params, caller, actor, ip }) => {
      await underRules(() => removeMember(db, { orgId: org.orgId, userId: params.user, by: memberActor(org.role, caller), actor, ip }));
    },
  }),

  // ---- invitations -------------------------------------------------------------------------------
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/invitations',
    operationId: 'listInvitations',
    summary: 'Pending invitations, newest first',
    tag: 'Invitations',
    permission: 'admin',
    params: orgParams,
    query: pageQuery,
    response: pageOf(invitation),
    handler: async ({ db, org, query, now }) => {
      const before = decodeCursor(query.cursor, z.tuple([z.string(), z.number().int()]));
      const items = await listPendingInvitations(db, org.orgId, { limit: query.limit + 1, after: before, now });
      return toPage(items, query.limit, (i) => [i.createdAt.toISOString(), i.id], invitationOut);
    },
  }),
  orgRoute({
    method: 'post',
    path: '/orgs/{org}/invitations',
    operationId: 'createInvitation',
    summary: 'Invite an address; the invitation link is mailed to it',
    description:
      'The link works for 14 days, once, and only for the invited address (signing in with that address accepts it). ' +
      'Inviting an address again replaces its pending invitation.',
    tag: 'Invitations',
    permission: 'admin',
    params: orgParams,
    body: z.object({ email: z.string().max(320), role: roleSchema }),
    status: 201,
    response: z.object({ invitation, mailed: z.boolean().describe('False when the mail could not be sent; invite again to retry.') }),
    errors: { 403: 'The role is above the inviter’s own.', 409: 'The address is already a member.' },
    handler: async ({ deps, db, org, body, caller, actor, ip, now }) => {
      const email = normalizeEmail(body.email);
      if (!email) throw new ApiError(400, 'invalid_request', 'Invalid body field "email": expected an email address.', [{ in: 'body', path: 'email', message: 'expected an email address' }]);
      const result = await underRules(() => inviteMember({ db, mailer: deps.mailer, config: deps.config }, { orgId: org.orgId, email, role: body.role, by: memberActor(org.role, caller), actor, ip, now }));
      return { invitation: invitationOut(result.invitation), mailed: result.mailed };
    },
  }),
  orgRoute({
    method: 'delete',
    path: '/orgs/{org}/invitations/{invitation}',
    operationId: 'revokeInvitation',
    summary: 'Revoke a pending invitation (its link stops working)',
    tag: 'Invitations',
    permission: 'admin',
    params: orgParams.extend({ invitation: idParam }),
    response: null,
    handler: async ({ db, org, params, actor, ip, now }) => {
      if (!(await revokeInvitation(db, { orgId: org.orgId, invitationId: params.invitation, actor, ip, now }))) throw notFound('Invitation');
    },
  }),
  userRoute({
    method: 'post',
    path: '/invitations/accept',
    operationId: 'acceptInvitation',
    summary: 'Accept an invitation sent to your address',
    description: 'The token is the `token` parameter of the link in the invitation mail. An invitation for another address answers 404, as an unknown one does.',
    tag: 'Invitations',
    body: z.object({ token: z.string().max(128) }),
    response: z.object({
      organization: z.object({ slug: z.string(), name: z.string() }),
      role: roleSchema.describe('Your role there now (a member already keeps their role).'),
    }),
    handler: async ({ db, caller, body, ip, now }) => {
      if (caller.kind !== 'user') throw notFound('Invitation');
      const accepted = await acceptInvitation(db, { token: body.token, user: { id: caller.userId, email: caller.email }, ip, now });
      if (!accepted) throw notFound('Invitation');
      return { organization: { slug: accepted.organization.slug, name: accepted.organization.name }, role: accepted.role };
    },
  }),
];
