import type { Kysely } from 'kysely';
import { recordAuditEvent } from '../audit/record.js';
import { isLoopbackHost } from '../config.js';
import type { DB } from '../db/schema.js';
import { hashToken, randomToken } from '../lib/crypto/index.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** A session nobody uses for this long ends. */
export const SESSION_IDLE_MS = 7 * DAY;
/** A session ends this long after sign-in, used or not. */
export const SESSION_ABSOLUTE_MS = 30 * DAY;
/** Time to enter the second factor after confirming a sign-in link. */
export const SECOND_FACTOR_PENDING_MS = 15 * MINUTE;
/** last_seen_at is written at most this often per session, not on every request. */
const TOUCH_INTERVAL_MS = MINUTE;

/** A valid session, as the session middleware found it. */
export interface SessionState {
  id: number;
  userId: number;
  email: string;
  instanceAdmin: boolean;
  /** The raw token from the cookie. Never logged or stored; the anti-CSRF token is derived from it. */
  token: string;
  /** The user has a second factor that this session has not passed yet: not signed in. */
  secondFactorPending: boolean;
}

export interface NewSession {
  id: number;
  token: string;
  /** Cookie lifetime: until the session's absolute expiry. */
  maxAgeSeconds: number;
}

export interface SessionSummary {
  id: number;
  device: string;
  ip: string | null;
  createdAt: Date;
  lastSeenAt: Date;
  secondFactorPending: boolean;
}

/** A new session with a fresh random token; only the token's SHA-256 is stored. */
export async function createSession(
  db: Kysely<DB>,
  input: { userId: number; ip: string | null; userAgent: string | null; now: Date; secondFactorPending: boolean },
): Promise<NewSession> {
  const token = randomToken('', 32);
  const lifetime = input.secondFactorPending ? SECOND_FACTOR_PENDING_MS : SESSION_ABSOLUTE_MS;
  const absolute = new Date(input.now.getTime() + lifetime);
  const row = await db
    .insertInto('user_session')
    .values({
      user_id: input.userId,
      token_hash: hashToken(token),
      created_at: input.now,
      last_seen_at: input.now,
      idle_expires_at: new Date(Math.min(input.now.getTime() + SESSION_IDLE_MS, absolute.getTime())),
      absolute_expires_at: absolute,
      ip: input.ip,
      user_agent: input.userAgent?.slice(0, 512) ?? null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, token, maxAgeSeconds: Math.floor(lifetime / 1000) };
}

/** The session a cookie token belongs to, if it is neither revoked nor expired; refreshes its idle expiry. */
export async function resolveSession(db: Kysely<DB>, token: string, now: Date): Promise<SessionState | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
  const row = await db
    .selectFrom('user_session as s')
    .innerJoin('user_account as u', 'u.id', 's.user_id')
    .select(['s.id', 's.user_id', 's.second_factor_at', 's.last_seen_at', 's.absolute_expires_at', 'u.email', 'u.instance_admin', 'u.totp_enabled_at'])
    .where('s.token_hash', '=', hashToken(token))
    .where('s.revoked_at', 'is', null)
    .where('s.idle_expires_at', '>', now)
    .where('s.absolute_expires_at', '>', now)
    .executeTakeFirst();
  if (!row) return null;
  if (now.getTime() - new Date(row.last_seen_at).getTime() >= TOUCH_INTERVAL_MS) {
    const idle = new Date(Math.min(now.getTime() + SESSION_IDLE_MS, new Date(row.absolute_expires_at).getTime()));
    await db.updateTable('user_session').set({ last_seen_at: now, idle_expires_at: idle }).where('id', '=', row.id).execute();
  }
  return {
    id: row.id,
    userId: row.user_id,
    email: row.email,
    instanceAdmin: row.instance_admin,
    token,
    secondFactorPending: row.totp_enabled_at !== null && row.second_factor_at === null,
  };
}

/**
 * Marks the second factor passed and gives the session a new token (and its full lifetime): the
 * token that was only good for entering a code is not the one that is signed in.
 */
export async function completeSecondFactor(db: Kysely<DB>, sessionId: number, now: Date): Promise<NewSession> {
  const token = randomToken('', 32);
  const row = await db
    .updateTable('user_session')
    .set({
      token_hash: hashToken(token),
      second_factor_at: now,
      last_seen_at: now,
      idle_expires_at: new Date(now.getTime() + SESSION_IDLE_MS),
      absolute_expires_at: new Date(now.getTime() + SESSION_ABSOLUTE_MS),
    })
    .where('id', '=', sessionId)
    .where('revoked_at', 'is', null)
    .returning('id')
    .executeTakeFirst();
  if (!row) throw new Error('session ended while its second factor was checked');
  return { id: row.id, token, maxAgeSeconds: Math.floor(SESSION_ABSOLUTE_MS / 1000) };
}

/** The user's sessions that can still be used, newest first. */
export async function listSessions(db: Kysely<DB>, userId: number, now: Date): Promise<SessionSummary[]> {
  const rows = await db
    .selectFrom('user_session as s')
    .innerJoin('user_account as u', 'u.id', 's.user_id')
    .select(['s.id', 's.ip', 's.user_agent', 's.created_at', 's.last_seen_at', 's.second_factor_at', 'u.totp_enabled_at'])
    .where('s.user_id', '=', userId)
    .where('s.revoked_at', 'is', null)
    .where('s.idle_expires_at', '>', now)
    .where('s.absolute_expires_at', '>', now)
    .orderBy('s.last_seen_at', 'desc')
    .orderBy('s.id', 'desc')
    .execute();
  return rows.map((row) => ({
    id: row.id,
    device: describeUserAgent(row.user_agent),
    ip: row.ip,
    createdAt: new Date(row.created_at),
    lastSeenAt: new Date(row.last_seen_at),
    secondFactorPending: row.totp_enabled_at !== null && row.second_factor_at === null,
  }));
}

export interface SessionActor {
  userId: number;
  ip: string | null;
  now: Date;
}

/** Revokes one of the user's own sessions; false when there is no such active session. */
export async function revokeSession(db: Kysely<DB>, actor: SessionActor & { sessionId: number; action?: 'session.revoke' | 'session.sign_out' }): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('user_session')
      .set({ revoked_at: actor.now })
      .where('id', '=', actor.sessionId)
      .where('user_id', '=', actor.userId)
      .where('revoked_at', 'is', null)
      .returning('id')
      .executeTakeFirst();
    if (!row) return false;
    await recordAuditEvent(trx, {
      orgId: null,
      actor: { type: 'user', id: actor.userId },
      action: actor.action ?? 'session.revoke',
      target: { type: 'session', id: row.id },
      ip: actor.ip,
    });
    return true;
  });
}

/** Signs the user out everywhere: every session, this one included. Returns how many were ended. */
export async function revokeAllSessions(db: Kysely<DB>, actor: SessionActor): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .updateTable('user_session')
      .set({ revoked_at: actor.now })
      .where('user_id', '=', actor.userId)
      .where('revoked_at', 'is', null)
      .returning('id')
      .execute();
    await recordAuditEvent(trx, {
      orgId: null,
      actor: { type: 'user', id: actor.userId },
      action: 'session.revoke_all',
      target: { type: 'user', id: actor.userId },
      summary: { sessions: rows.length },
      ip: actor.ip,
    });
    return rows.length;
  });
}

/** Revokes a session without an audit event of its own (the caller records what replaced it). */
export async function endSessionQuietly(db: Kysely<DB>, sessionId: number, now: Date): Promise<void> {
  await db.updateTable('user_session').set({ revoked_at: now }).where('id', '=', sessionId).where('revoked_at', 'is', null).execute();
}

/** Deletes sessions that ended more than `keepMs` ago (for a periodic clean-up job). */
export async function pruneSessions(db: Kysely<DB>, now: Date, keepMs = 30 * DAY): Promise<number> {
  const before = new Date(now.getTime() - keepMs);
  const result = await db
    .deleteFrom('user_session')
    .where((eb) => eb.or([eb('absolute_expires_at', '<', before), eb('idle_expires_at', '<', before), eb('revoked_at', '<', before)]))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

// ---- cookie ---------------------------------------------------------------------------------

export interface SessionCookie {
  name: string;
  secure: boolean;
  /** Set-Cookie value for a session token. */
  serialize(token: string, maxAgeSeconds: number): string;
  /** Set-Cookie value that deletes the cookie. */
  clear(): string;
  /** The session token from a Cookie request header, if any. */
  read(cookieHeader: string | undefined): string | null;
}

/**
 * `__Host-dmw_session; Secure; HttpOnly; SameSite=Lax; Path=/`. The __Host- prefix makes the
 * browser refuse the cookie unless it is Secure, host-only and Path=/, so neither a sibling
 * subdomain nor a plain-http response can plant or overwrite it. Only a public URL of
 * http://localhost or http://127.0.0.1 (development) drops Secure, and with it the prefix.
 */
export function sessionCookie(publicUrl: string): SessionCookie {
  const url = new URL(publicUrl);
  const secure = !(url.protocol === 'http:' && isLoopbackHost(url.hostname));
  const name = secure ? '__Host-dmw_session' : 'dmw_session';
  const attributes = `Path=/; HttpOnly${secure ? '; Secure' : ''}; SameSite=Lax`;
  return {
    name,
    secure,
    serialize: (token, maxAgeSeconds) => `${name}=${token}; Max-Age=${maxAgeSeconds}; ${attributes}`,
    clear: () => `${name}=; Max-Age=0; ${attributes}`,
    read(cookieHeader) {
      if (!cookieHeader) return null;
      for (const part of cookieHeader.split(';')) {
        const eq = part.indexOf('=');
        if (eq < 0) continue;
        if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
      }
      return null;
    },
  };
}

// ---- devices --------------------------------------------------------------------------------

const BROWSERS: Array<[RegExp, string]> = [
  [/\bEdg(?:e|A|iOS)?\/\d/, 'Edge'],
  [/\bOPR\/\d|\bOpera\b/, 'Opera'],
  [/\bFirefox\/\d|\bFxiOS\/\d/, 'Firefox'],
  [/\bChrome\/\d|\bCriOS\/\d|\bChromium\/\d/, 'Chrome'],
  [/\bVersion\/\d.*\bSafari\/\d/, 'Safari'],
  [/^curl\//, 'curl'],
];
const SYSTEMS: Array<[RegExp, string]> = [
  [/\biPhone\b|\biPad\b|\biPod\b/, 'iOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bLinux\b/, 'Linux'],
];

/** "Firefox on Linux" from a User-Agent header: enough to tell one's own devices apart. */
export function describeUserAgent(userAgent: string | null | undefined): string {
  if (!userAgent) return 'Unknown device';
  const browser = BROWSERS.find(([pattern]) => pattern.test(userAgent))?.[1];
  const system = SYSTEMS.find(([pattern]) => pattern.test(userAgent))?.[1];
  if (browser && system) return `${browser} on ${system}`;
  if (browser) return browser;
  if (system) return `Browser on ${system}`;
  return 'Unknown device';
}
