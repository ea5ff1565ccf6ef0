import { sql, type Kysely } from 'kysely';
import { recordAuditEvent } from '../audit/record.js';
import type { DB } from '../db/schema.js';
import type { Role } from './roles.js';
import { describeUserAgent } from './sessions.js';

const date = (value: Date | null): string | null => (value === null ? null : new Date(value).toISOString());
const dateOf = (value: Date): string => new Date(value).toISOString();

/**
 * Everything stored about a person, as one JSON document: the account, memberships, sessions,
 * sign-in requests, API keys they created (never a key or a hash), invitations sent to them or by
 * them, and every audit event they caused. The export itself is audited. Null when there is no
 * such account.
 */
export async function exportAccount(db: Kysely<DB>, input: { userId: number; ip: string | null; now: Date }) {
  return db.transaction().execute(async (trx) => {
    const user = await trx.selectFrom('user_account').selectAll().where('id', '=', input.userId).executeTakeFirst();
    if (!user) return null;
    const email = user.email.toLowerCase();

    const memberships = await trx
      .selectFrom('membership as m')
      .innerJoin('organization as o', 'o.id', 'm.org_id')
      .select(['o.slug', 'o.name', 'm.role', 'm.created_at'])
      .where('m.user_id', '=', user.id)
      .orderBy('o.name')
      .execute();
    const sessions = await trx
      .selectFrom('user_session')
      .select(['id', 'ip', 'user_agent', 'created_at', 'last_seen_at', 'idle_expires_at', 'absolute_expires_at', 'revoked_at'])
      .where('user_id', '=', user.id)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    const signInLinks = await trx
      .selectFrom('magic_link')
      .select(['requested_ip', 'created_at', 'expires_at', 'used_at'])
      .where(sql<string>`lower(email)`, '=', email)
      .orderBy('created_at')
      .execute();
    const recoveryCodes = await trx
      .selectFrom('recovery_code')
      .select(sql<number>`count(*) filter (where used_at is null)::int`.as('unused'))
      .where('user_id', '=', user.id)
      .executeTakeFirstOrThrow();
    const apiKeys = await trx
      .selectFrom('api_key as k')
      .innerJoin('organization as o', 'o.id', 'k.org_id')
      .select(['k.id', 'o.slug', 'k.name', 'k.prefix', 'k.scope', 'k.created_at', 'k.expires_at', 'k.last_used_at', 'k.revoked_at'])
      .where('k.created_by', '=', user.id)
      .orderBy('k.created_at')
      .orderBy('k.id')
      .execute();
    const invitationColumns = ['i.id', 'o.slug', 'i.email', 'i.role', 'i.created_at', 'i.expires_at', 'i.accepted_at', 'i.revoked_at'] as const;
    const received = await trx
      .selectFrom('invitation as i')
      .innerJoin('organization as o', 'o.id', 'i.org_id')
      .select(invitationColumns)
      .where(sql<string>`lower(i.email)`, '=', email)
      .orderBy('i.created_at')
      .execute();
    const sent = await trx
      .selectFrom('invitation as i')
      .innerJoin('organization as o', 'o.id', 'i.org_id')
      .select(invitationColumns)
      .where('i.invited_by', '=', user.id)
      .orderBy('i.created_at')
      .execute();
    const events = await trx
      .selectFrom('audit_event')
      .select(['chain', 'seq', 'action', 'target_type', 'target_id', 'summary', 'ip', 'created_at'])
      .where('actor_type', '=', 'user')
      .where('actor_id', '=', String(user.id))
      .orderBy('created_at')
      .orderBy('id')
      .execute();

    await recordAuditEvent(trx, { orgId: null, actor: { type: 'user', id: user.id }, action: 'user.export', target: { type: 'user', id: user.id }, ip: input.ip });

    const invitation = (row: (typeof received)[number]) => ({
      id: row.id,
      organization: row.slug,
      email: row.email,
      role: row.role as Role,
      createdAt: dateOf(row.created_at),
      expiresAt: dateOf(row.expires_at),
      acceptedAt: date(row.accepted_at),
      revokedAt: date(row.revoked_at),
    });
    return {
      exportedAt: input.now.toISOString(),
      account: {
        id: user.id,
        email: user.email,
        displayName: user.display_name,
        instanceAdmin: user.instance_admin,
        twoFactor: user.totp_enabled_at !== null,
        twoFactorSince: date(user.totp_enabled_at),
        unusedRecoveryCodes: Number(recoveryCodes.unused),
        createdAt: dateOf(user.created_at),
        lastSignInAt: date(user.last_sign_in_at),
      },
      memberships: memberships.map((m) => ({ organization: { slug: m.slug, name: m.name }, role: m.role as Role, joinedAt: dateOf(m.created_at) })),
      sessions: sessions.map((s) => ({
        id: s.id,
        device: describeUserAgent(s.user_agent),
        userAgent: s.user_agent,
        ip: s.ip,
        createdAt: dateOf(s.created_at),
        lastSeenAt: dateOf(s.last_seen_at),
        idleExpiresAt: dateOf(s.idle_expires_at),
        absoluteExpiresAt: dateOf(s.absolute_expires_at),
        revokedAt: date(s.revoked_at),
      })),
      signInLinks: signInLinks.map((l) => ({ requestedIp: l.requested_ip, createdAt: dateOf(l.created_at), expiresAt: dateOf(l.expires_at), usedAt: date(l.used_at) })),
      apiKeys: apiKeys.map((k) => ({
        id: k.id,
        organization: k.slug,
        name: k.name,
        prefix: k.prefix,
        scope: k.scope as 'read' | 'write' | 'admin',
        createdAt: dateOf(k.created_at),
        expiresAt: date(k.expires_at),
        lastUsedAt: date(k.last_used_at),
        revokedAt: date(k.revoked_at),
      })),
      invitations: { received: received.map(invitation), sent: sent.map(invitation) },
      auditEvents: events.map((e) => ({
        chain: e.chain,
        seq: Number(e.seq),
        action: e.action,
        target: e.target_type === null ? null : { type: e.target_type, id: e.target_id },
        summary: e.summary as Record<string, unknown>,
        ip: e.ip,
        createdAt: dateOf(e.created_at),
      })),
    };
  });
}

export type AccountExport = NonNullable<Awaited<ReturnType<typeof exportAccount>>>;
