import { z } from 'zod';
import { orgRoute, userRoute } from '../api/define.js';
import { badRequest, notFound } from '../api/errors.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../api/pagination.js';
import { idParam, iso, orgParams, roleSchema, scopeSchema, timestamp } from '../api/schemas.js';
import { organizationsOf } from '../orgs/memberships.js';
import { createApiKey, listApiKeys, revokeApiKey, type ApiKeySummary } from './api-keys.js';
import { listSessions, revokeAllSessions, revokeSession } from './sessions.js';
import { totpStatus } from './totp.js';

const me = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('user'),
    id: z.number().int(),
    email: z.string(),
    instanceAdmin: z.boolean(),
    twoFactor: z.boolean(),
    organizations: z.array(z.object({ slug: z.string(), name: z.string(), role: roleSchema })),
  }),
  z.object({ kind: z.literal('api_key'), id: z.number().int(), scope: scopeSchema, organization: z.string() }),
]);

const session = z.object({
  id: z.number().int(),
  device: z.string().describe('Browser and system, from the User-Agent.'),
  ip: z.string().nullable(),
  createdAt: timestamp,
  lastSeenAt: timestamp,
  current: z.boolean().describe('The session making this request.'),
});

const apiKey = z.object({
  id: z.number().int(),
  name: z.string(),
  prefix: z.string().describe('The first characters of the key, to tell keys apart.'),
  scope: scopeSchema,
  createdAt: timestamp,
  expiresAt: timestamp.nullable(),
  lastUsedAt: timestamp.nullable().describe('Updated at most once a minute.'),
  revokedAt: timestamp.nullable(),
});

function apiKeyOut(key: ApiKeySummary): z.input<typeof apiKey> {
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    scope: key.scope,
    createdAt: iso(key.createdAt),
    expiresAt: iso(key.expiresAt),
    lastUsedAt: iso(key.lastUsedAt),
    revokedAt: iso(key.revokedAt),
  };
}

export const accountApi = [
  userRoute({
    method: 'get',
    path: '/me',
    operationId: 'getMe',
    summary: 'Who is calling: the signed-in person and their organisations, or the API key',
    tag: 'Account',
    keys: true,
    response: me,
    handler: async ({ db, caller }) => {
      if (caller.kind === 'api_key') return { kind: 'api_key' as const, id: caller.apiKeyId, scope: caller.scope, organization: caller.orgSlug };
      const [organizations, totp] = await Promise.all([organizationsOf(db, caller.userId), totpStatus(db, caller.userId)]);
      return {
        kind: 'user' as const,
        id: caller.userId,
        email: caller.email,
        instanceAdmin: caller.instanceAdmin,
        twoFactor: totp.enabled,
        organizations: organizations.map(({ slug, name, role }) => ({ slug, name, role })),
      };
    },
  }),
  userRoute({
    method: 'get',
    path: '/me/sessions',
    operationId: 'listSessions',
    summary: "The signed-in person's active sessions",
    tag: 'Account',
    response: z.object({ items: z.array(session) }),
    handler: async ({ db, caller, now }) => {
      if (caller.kind !== 'user') throw notFound('Session');
      const sessions = await listSessions(db, caller.userId, now);
      return {
        items: sessions.map((s) => ({ id: s.id, device: s.device, ip: s.ip, createdAt: iso(s.createdAt), lastSeenAt: iso(s.lastSeenAt), current: s.id === caller.sessionId })),
      };
    },
  }),
  userRoute({
    method: 'delete',
    path: '/me/sessions/{session}',
    operationId: 'revokeSession',
    summary: 'Sign one of your sessions out',
    tag: 'Account',
    params: z.object({ session: idParam }),
    response: null,
    handler: async ({ db, caller, params, ip, now }) => {
      if (caller.kind !== 'user') throw notFound('Session');
      const done = await revokeSession(db, { userId: caller.userId, sessionId: params.session, ip, now });
      if (!done) throw notFound('Session');
    },
  }),
  userRoute({
    method: 'post',
    path: '/me/sessions/revoke-all',
    operationId: 'revokeAllSessions',
    summary: 'Sign out everywhere, this session included',
    tag: 'Account',
    response: z.object({ revoked: z.number().int() }),
    handler: async ({ db, caller, ip, now }) => {
      if (caller.kind !== 'user') throw notFound('Session');
      return { revoked: await revokeAllSessions(db, { userId: caller.userId, ip, now }) };
    },
  }),

  orgRoute({
    method: 'get',
    path: '/orgs/{org}/api-keys',
    operationId: 'listApiKeys',
    summary: "The organisation's API keys, newest first (revoked ones included)",
    tag: 'API keys',
    permission: 'admin',
    params: orgParams,
    query: pageQuery,
    response: pageOf(apiKey),
    handler: async ({ db, org, query }) => {
      const before = decodeCursor(query.cursor, z.tuple([z.string(), z.number().int()]));
      const keys = await listApiKeys(db, org.orgId, { limit: query.limit + 1, after: before });
      return toPage(keys, query.limit, (k) => [k.createdAt.toISOString(), k.id], apiKeyOut);
    },
  }),
  orgRoute({
    method: 'post',
    path: '/orgs/{org}/api-keys',
    operationId: 'createApiKey',
    summary: 'Create an API key; the key itself is in this response only',
    tag: 'API keys',
    permission: 'admin',
    params: orgParams,
    body: z.object({
      name: z.string().trim().min(1).max(100),
      scope: scopeSchema,
      expiresAt: z.iso.datetime({ offset: true }).optional().describe('When the key stops working; never when left out.'),
    }),
    status: 201,
    response: z.object({ key: z.string().describe('`dmw_…`: store it now; it cannot be shown again.'), apiKey }),
    errors: { 400: 'The expiry is not in the future.' },
    handler: async ({ db, org, body, actor, ip, now }) => {
      const expiresAt = body.expiresAt === undefined ? null : new Date(body.expiresAt);
      if (expiresAt !== null && expiresAt <= now) {
        throw badRequest('expiresAt must be in the future.');
      }
      const created = await createApiKey(db, { orgId: org.orgId, actor, ip, now, name: body.name, scope: body.scope, expiresAt });
      return { key: created.key, apiKey: apiKeyOut(created.summary) };
    },
  }),
  orgRoute({
    method: 'delete',
    path: '/orgs/{org}/api-keys/{apiKey}',
    operationId: 'revokeApiKey',
    summary: 'Revoke an API key at once',
    tag: 'API keys',
    permission: 'admin',
    params: orgParams.extend({ apiKey: idParam }),
    response: null,
    handler: async ({ db, org, params, actor, ip, now }) => {
      if (!(await revokeApiKey(db, { orgId: org.orgId, apiKeyId: params.apiKey, actor, ip, now }))) throw notFound('API key');
    },
  }),
];
