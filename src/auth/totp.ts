import { randomInt } from 'node:crypto';
import type { Kysely } from 'kysely';
import { Secret, TOTP } from 'otpauth';
import { recordAuditEvent } from '../audit/record.js';
import type { DB } from '../db/schema.js';
import { hashToken, open, seal, type Keyring, type SealBinding } from '../lib/crypto/index.js';
import { completeSecondFactor, type NewSession, type SessionState } from './sessions.js';

const ISSUER = 'DMARC Watch';
const PERIOD_SECONDS = 30;
const DIGITS = 6;
/** Codes from the previous and the next 30-second step are accepted too (clock drift). */
const WINDOW = 1;
export const RECOVERY_CODE_COUNT = 10;
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

export interface TotpDeps {
  db: Kysely<DB>;
  keyring: Keyring;
}

export interface TotpEnrolment {
  /** Base32 secret, for typing into an authenticator app. */
  secret: string;
  /** otpauth:// URI (what a QR code would hold). */
  uri: string;
}

export interface TotpStatus {
  enabled: boolean;
  /** A secret was generated but not yet confirmed with a code. */
  pending: boolean;
  recoveryCodesLeft: number;
}

const binding = (userId: number): SealBinding => ({ table: 'user_account', column: 'totp_secret_sealed', rowId: userId });

function totp(secretBase32: string, email: string): TOTP {
  return new TOTP({
    issuer: ISSUER,
    label: email,
    algorithm: 'SHA1',
    digits: DIGITS,
    period: PERIOD_SECONDS,
    secret: Secret.fromBase32(secretBase32),
  });
}

export async function totpStatus(db: Kysely<DB>, userId: number): Promise<TotpStatus> {
  const user = await db
    .selectFrom('user_account')
    .select(['totp_enabled_at', 'totp_secret_sealed'])
    .where('id', '=', userId)
    .executeTakeFirstOrThrow();
  const left = await db
    .selectFrom('recovery_code')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return {
    enabled: user.totp_enabled_at !== null,
    pending: user.totp_enabled_at === null && user.totp_secret_sealed !== null,
    recoveryCodesLeft: user.totp_enabled_at === null ? 0 : Number(left.n),
  };
}

/**
 * Generates a new secret for a user without a second factor, sealed with the keyring and bound to
 * the user's row. It does nothing until confirmed with a code. Null when TOTP is already on.
 */
export async function startTotpEnrolment(deps: TotpDeps, user: { id: number; email: string }): Promise<TotpEnrolment | null> {
  const secret = new Secret({ size: 20 }).base32;
  const updated = await deps.db
    .updateTable('user_account')
    .set({ totp_secret_sealed: seal(deps.keyring, secret, binding(user.id)), totp_last_step: null })
    .where('id', '=', user.id)
    .where('totp_enabled_at', 'is', null)
    .returning('id')
    .executeTakeFirst();
  if (!updated) return null;
  return { secret, uri: totp(secret, user.email).toString() };
}

/** The enrolment waiting for its first code, if any (so the page can show it again). */
export async function pendingTotpEnrolment(deps: TotpDeps, user: { id: number; email: string }): Promise<TotpEnrolment | null> {
  const row = await deps.db
    .selectFrom('user_account')
    .select('totp_secret_sealed')
    .where('id', '=', user.id)
    .where('totp_enabled_at', 'is', null)
    .executeTakeFirst();
  if (!row?.totp_secret_sealed) return null;
  const secret = open(deps.keyring, row.totp_secret_sealed, binding(user.id));
  return { secret, uri: totp(secret, user.email).toString() };
}

/**
 * Turns TOTP on once the user proves their app has the secret, and returns the recovery codes:
 * they are shown once and stored only hashed. The session that confirmed counts as having passed
 * the second factor; the user's other sessions must pass it on their next request.
 */
export async function confirmTotpEnrolment(
  deps: TotpDeps,
  input: { user: { id: number; email: string }; sessionId: number; code: string; ip: string | null; now: Date },
): Promise<{ ok: true; recoveryCodes: string[] } | { ok: false }> {
  return deps.db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('user_account')
      .select(['totp_secret_sealed', 'totp_enabled_at'])
      .where('id', '=', input.user.id)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if (row.totp_enabled_at !== null || row.totp_secret_sealed === null) return { ok: false };
    const secret = open(deps.keyring, row.totp_secret_sealed, binding(input.user.id));
    const step = matchingStep(secret, input.code, input.now);
    if (step === null) return { ok: false };
    await trx
      .updateTable('user_account')
      .set({ totp_enabled_at: input.now, totp_last_step: step })
      .where('id', '=', input.user.id)
      .execute();
    const recoveryCodes = await replaceRecoveryCodes(trx, input.user.id);
    await trx.updateTable('user_session').set({ second_factor_at: input.now }).where('id', '=', input.sessionId).execute();
    await recordAuditEvent(trx, {
      orgId: null,
      actor: { type: 'user', id: input.user.id },
      action: 'user.totp_enable',
      target: { type: 'user', id: input.user.id },
      summary: { recoveryCodes: RECOVERY_CODE_COUNT },
      ip: input.ip,
    });
    return { ok: true, recoveryCodes };
  });
}

export type SecondFactorResult = { ok: true; method: 'totp' | 'recovery_code' } | { ok: false };

/**
 * Checks a TOTP code or a recovery code. A TOTP code is accepted only for a time step later than
 * the last one accepted (one atomic update), so a code — even one seen over a shoulder or in a
 * log — never works twice; a recovery code is marked used in the same way.
 */
export async function verifySecondFactor(deps: TotpDeps, input: { userId: number; code: string; now: Date }): Promise<SecondFactorResult> {
  const code = input.code.replace(/[\s-]/g, '').toLowerCase();
  if (/^\d{6}$/.test(code)) {
    const row = await deps.db
      .selectFrom('user_account')
      .select('totp_secret_sealed')
      .where('id', '=', input.userId)
      .where('totp_enabled_at', 'is not', null)
      .executeTakeFirst();
    if (!row?.totp_secret_sealed) return { ok: false };
    const step = matchingStep(open(deps.keyring, row.totp_secret_sealed, binding(input.userId)), code, input.now);
    if (step === null) return { ok: false };
    const accepted = await deps.db
      .updateTable('user_account')
      .set({ totp_last_step: step })
      .where('id', '=', input.userId)
      .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
      .returning('id')
      .executeTakeFirst();
    return accepted ? { ok: true, method: 'totp' } : { ok: false };
  }
  if (code.length !== 10 || [...code].some((ch) => !RECOVERY_ALPHABET.includes(ch))) return { ok: false };
  const used = await deps.db
    .updateTable('recovery_code')
    .set({ used_at: input.now })
    .where('user_id', '=', input.userId)
    .where('code_hash', '=', hashToken(code))
    .where('used_at', 'is', null)
    .returning('user_id')
    .executeTakeFirst();
  return used ? { ok: true, method: 'recovery_code' } : { ok: false };
}

/**
 * Finishes a sign-in that waits for its second factor: checks the code, then gives the session a new
 * token and its full lifetime. Everything in one transaction, with the audit event.
 */
export async function passSecondFactor(
  deps: TotpDeps,
  input: { session: SessionState; code: string; ip: string | null; now: Date },
): Promise<{ ok: true; session: NewSession; method: 'totp' | 'recovery_code' } | { ok: false }> {
  return deps.db.transaction().execute(async (trx) => {
    const check = await verifySecondFactor({ db: trx, keyring: deps.keyring }, { userId: input.session.userId, code: input.code, now: input.now });
    if (!check.ok) return { ok: false as const };
    const session = await completeSecondFactor(trx, input.session.id, input.now);
    await trx.updateTable('user_account').set({ last_sign_in_at: input.now }).where('id', '=', input.session.userId).execute();
    await recordAuditEvent(trx, {
      orgId: null,
      actor: { type: 'user', id: input.session.userId },
      action: 'session.sign_in',
      target: { type: 'session', id: session.id },
      summary: { method: 'magic_link', secondFactor: check.method },
      ip: input.ip,
    });
    return { ok: true as const, session, method: check.method };
  });
}

/** Turns TOTP off after checking a current code or a recovery code; removes the secret and the recovery codes. */
export async function disableTotp(
  deps: TotpDeps,
  input: { userId: number; code: string; ip: string | null; now: Date },
): Promise<boolean> {
  return deps.db.transaction().execute(async (trx) => {
    const check = await verifySecondFactor({ db: trx, keyring: deps.keyring }, input);
    if (!check.ok) return false;
    await trx
      .updateTable('user_account')
      .set({ totp_secret_sealed: null, totp_enabled_at: null, totp_last_step: null })
      .where('id', '=', input.userId)
      .execute();
    await trx.deleteFrom('recovery_code').where('user_id', '=', input.userId).execute();
    await recordAuditEvent(trx, {
      orgId: null,
      actor: { type: 'user', id: input.userId },
      action: 'user.totp_disable',
      target: { type: 'user', id: input.userId },
      summary: { checkedWith: check.method },
      ip: input.ip,
    });
    return true;
  });
}

/** The time step a code belongs to (within ±WINDOW of now), or null. */
function matchingStep(secretBase32: string, code: string, now: Date): number | null {
  const token = code.replace(/\s/g, '');
  if (!/^\d{6}$/.test(token)) return null;
  const timestamp = now.getTime();
  const delta = TOTP.validate({ token, secret: Secret.fromBase32(secretBase32), algorithm: 'SHA1', digits: DIGITS, period: PERIOD_SECONDS, timestamp, window: WINDOW });
  if (delta === null) return null;
  return TOTP.counter({ period: PERIOD_SECONDS, timestamp }) + delta;
}

/** The TOTP code for a secret at a time (tests, and showing what an app should display). */
export function totpCodeAt(secretBase32: string, at: Date): string {
  return TOTP.generate({ secret: Secret.fromBase32(secretBase32), algorithm: 'SHA1', digits: DIGITS, period: PERIOD_SECONDS, timestamp: at.getTime() });
}

async function replaceRecoveryCodes(db: Kysely<DB>, userId: number): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const raw = Array.from({ length: 10 }, () => RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)]).join('');
    return `${raw.slice(0, 5)}-${raw.slice(5)}`;
  });
  await db.deleteFrom('recovery_code').where('user_id', '=', userId).execute();
  await db
    .insertInto('recovery_code')
    .values(codes.map((code) => ({ user_id: userId, code_hash: hashToken(code.replace('-', '')) })))
    .execute();
  return codes;
}
