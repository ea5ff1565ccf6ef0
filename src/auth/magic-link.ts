import type { Kysely } from 'kysely';
import { recordAuditEvent } from '../audit/record.js';
import type { Config } from '../config.js';
import type { DB } from '../db/schema.js';
import { hashToken, randomToken } from '../lib/crypto/index.js';
import type { Logger } from '../lib/logger.js';
import type { Mailer } from '../mail/mailer.js';
import { signInMail } from '../mail/sign-in-mail.js';
import { acceptPendingInvitations } from './invitations.js';
import { createSession, endSessionQuietly, type NewSession, type SessionState } from './sessions.js';
import { accountForSignIn, type SignUpPolicy } from './users.js';

export const MAGIC_LINK_TTL_MS = 15 * 60_000;

/** Tokens are 32 random bytes in unpadded base64url. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export interface MagicLinkDeps {
  db: Kysely<DB>;
  config: Pick<Config, 'publicUrl' | 'signup' | 'adminEmail'>;
  mailer: Mailer;
  logger: Logger;
}

/**
 * Creates a sign-in link for `email` and mails it. Exactly the same work for every address —
 * nothing here asks whether an account exists, so neither the response nor its timing can tell;
 * the sign-up policy is applied when the link is confirmed. A mail that cannot be sent is logged
 * and otherwise ignored, for the same reason.
 */
export async function requestMagicLink(deps: MagicLinkDeps, input: { email: string; ip: string | null; now: Date }): Promise<void> {
  const token = randomToken('', 32);
  await deps.db
    .insertInto('magic_link')
    .values({
      email: input.email,
      token_hash: hashToken(token),
      requested_ip: input.ip,
      created_at: input.now,
      expires_at: new Date(input.now.getTime() + MAGIC_LINK_TTL_MS),
    })
    .execute();
  const link = `${deps.config.publicUrl}/auth/confirm?token=${token}`;
  try {
    await deps.mailer.sendMail(signInMail({ to: input.email, link, origin: deps.config.publicUrl, validMinutes: MAGIC_LINK_TTL_MS / 60_000 }));
  } catch {
    // Already logged by the mailer.
  }
}

/** The address a link was sent to, if it can still be used. Reads only: opening the link changes nothing. */
export async function peekMagicLink(db: Kysely<DB>, token: string, now: Date): Promise<{ email: string } | null> {
  if (!TOKEN_SHAPE.test(token)) return null;
  const row = await db
    .selectFrom('magic_link')
    .select('email')
    .where('token_hash', '=', hashToken(token))
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return row ?? null;
}

/**
 * Uses a link up: one atomic update, so of two concurrent confirmations exactly one gets the row.
 * Null when the token is unknown, used or expired.
 */
export async function consumeMagicLink(
  db: Kysely<DB>,
  token: string,
  now: Date,
): Promise<{ id: number; email: string; invitationId: number | null } | null> {
  if (!TOKEN_SHAPE.test(token)) return null;
  const row = await db
    .updateTable('magic_link')
    .set({ used_at: now })
    .where('token_hash', '=', hashToken(token))
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returning(['id', 'email', 'invitation_id'])
    .executeTakeFirst();
  return row ? { id: row.id, email: row.email, invitationId: row.invitation_id } : null;
}

export type MagicLinkSignIn =
  | { outcome: 'signed_in'; userId: number; session: NewSession; secondFactorPending: boolean; created: boolean }
  | { outcome: 'invalid' }
  | { outcome: 'refused'; policy: SignUpPolicy };

/**
 * Confirms a sign-in link: uses it up, finds or (policy permitting) creates the account of the
 * address it was sent to, accepts the invitations pending for that address, and starts a
 * brand-new session. A session the browser already had is ended, never reused. With a second factor, the new session only allows entering the code.
 */
export async function signInWithMagicLink(
  deps: MagicLinkDeps,
  input: { token: string; ip: string | null; userAgent: string | null; previous: SessionState | null; now: Date },
): Promise<MagicLinkSignIn> {
  return deps.db.transaction().execute(async (trx): Promise<MagicLinkSignIn> => {
    const link = await consumeMagicLink(trx, input.token, input.now);
    if (!link) return { outcome: 'invalid' };
    const account = await accountForSignIn(trx, {
      email: link.email,
      policy: deps.config.signup,
      adminEmail: deps.config.adminEmail,
      now: input.now,
      ip: input.ip,
    });
    if (account.status === 'refused') return { outcome: 'refused', policy: account.policy };
    const user = account.user;
    // The address has just proved it receives mail: the invitations sent to it are accepted.
    await acceptPendingInvitations(trx, { user, ip: input.ip, now: input.now });
    if (input.previous) await endSessionQuietly(trx, input.previous.id, input.now);
    const session = await createSession(trx, {
      userId: user.id,
      ip: input.ip,
      userAgent: input.userAgent,
      now: input.now,
      secondFactorPending: user.totpEnabled,
    });
    if (!user.totpEnabled) {
      await trx.updateTable('user_account').set({ last_sign_in_at: input.now }).where('id', '=', user.id).execute();
      await recordAuditEvent(trx, {
        orgId: null,
        actor: { type: 'user', id: user.id },
        action: 'session.sign_in',
        target: { type: 'session', id: session.id },
        summary: { method: 'magic_link', ...(input.previous ? { replacedSession: input.previous.id } : {}) },
        ip: input.ip,
      });
    }
    return { outcome: 'signed_in', userId: user.id, session, secondFactorPending: user.totpEnabled, created: account.status === 'created' };
  });
}
