import { z } from 'zod';
import { userRoute } from '../api/define.js';
import { ApiError, notFound } from '../api/errors.js';
import { roleSchema, scopeSchema, timestamp } from '../api/schemas.js';
import { deleteAccount } from './account-deletion.js';
import { exportAccount } from './account-export.js';
import { sessionCookie } from './sessions.js';

const invitationRecord = z.object({
  id: z.number().int(),
  organization: z.string().describe("The organisation's slug."),
  email: z.string(),
  role: roleSchema,
  createdAt: timestamp,
  expiresAt: timestamp,
  acceptedAt: timestamp.nullable(),
  revokedAt: timestamp.nullable(),
});

const accountExport = z.object({
  exportedAt: timestamp,
  account: z.object({
    id: z.number().int(),
    email: z.string(),
    displayName: z.string().nullable(),
    instanceAdmin: z.boolean(),
    twoFactor: z.boolean(),
    twoFactorSince: timestamp.nullable(),
    unusedRecoveryCodes: z.number().int(),
    createdAt: timestamp,
    lastSignInAt: timestamp.nullable(),
  }),
  memberships: z.array(z.object({ organization: z.object({ slug: z.string(), name: z.string() }), role: roleSchema, joinedAt: timestamp })),
  sessions: z.array(
    z.object({
      id: z.number().int(),
      device: z.string(),
      userAgent: z.string().nullable(),
      ip: z.string().nullable(),
      createdAt: timestamp,
      lastSeenAt: timestamp,
      idleExpiresAt: timestamp,
      absoluteExpiresAt: timestamp,
      revokedAt: timestamp.nullable(),
    }),
  ),
  signInLinks: z
    .array(z.object({ requestedIp: z.string().nullable(), createdAt: timestamp, expiresAt: timestamp, usedAt: timestamp.nullable() }))
    .describe('Sign-in links mailed to your address (never the links themselves).'),
  apiKeys: z
    .array(
      z.object({
        id: z.number().int(),
        organization: z.string(),
        name: z.string(),
        prefix: z.string(),
        scope: scopeSchema,
        createdAt: timestamp,
        expiresAt: timestamp.nullable(),
        lastUsedAt: timestamp.nullable(),
        revokedAt: timestamp.nullable(),
      }),
    )
    .describe('Keys you created (never the keys themselves).'),
  invitations: z.object({ received: z.array(invitationRecord), sent: z.array(invitationRecord) }),
  auditEvents: z
    .array(
      z.object({
        chain: z.string(),
        seq: z.number().int(),
        action: z.string(),
        target: z.object({ type: z.string(), id: z.string().nullable() }).nullable(),
        summary: z.record(z.string(), z.unknown()),
        ip: z.string().nullable(),
        createdAt: timestamp,
      }),
    )
    .describe('Every audit event you caused, in any organisation.'),
});

/** The person's own data: export and deletion. */
export const accountDataApi = [
  userRoute({
    method: 'get',
    path: '/me/export',
    operationId: 'exportMyData',
    summary: 'Everything stored about you, as one JSON document',
    description: 'Your account, memberships, sessions, sign-in requests, the API keys you created (no secrets), invitations and every audit event you caused.',
    tag: 'Account',
    response: accountExport,
    handler: async ({ db, caller, c, ip, now }) => {
      if (caller.kind !== 'user') throw notFound('Account');
      const data = await exportAccount(db, { userId: caller.userId, ip, now });
      if (!data) throw notFound('Account');
      c.header('Content-Disposition', `attachment; filename="dmarcwatch-account-${caller.userId}.json"`);
      return data;
    },
  }),
  userRoute({
    method: 'delete',
    path: '/me',
    operationId: 'deleteMyAccount',
    summary: 'Delete your account',
    description:
      'Ends every session and deletes the account. Organisations where you are the only member are deleted with everything they own. ' +
      'Refused (409) while you are the last owner of an organisation that has other members: make one of them owner, or delete the organisation, first. ' +
      'Cannot be undone.',
    tag: 'Account',
    response: null,
    errors: { 409: 'You are the last owner of an organisation with other members (`details.organizations` lists them).' },
    handler: async ({ deps, db, caller, c, ip, now }) => {
      if (caller.kind !== 'user') throw notFound('Account');
      const result = await deleteAccount(db, { userId: caller.userId, ip, now });
      if (!result.deleted) {
        const names = result.lastOwnerOf.map((o) => `${o.name} (${o.slug})`).join(', ');
        throw new ApiError(
          409,
          'last_owner',
          `You are the last owner of ${names}, which still has other members. Make one of them an owner, or delete the organisation, before deleting your account.`,
          { organizations: result.lastOwnerOf.map((o) => o.slug) },
        );
      }
      c.header('Set-Cookie', sessionCookie(deps.config.publicUrl).clear(), { append: true });
    },
  }),
];
