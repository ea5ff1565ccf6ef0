import { sql, type Kysely } from 'kysely';
import { recordAuditEvent } from '../audit/record.js';
import { EMAIL, type Config } from '../config.js';
import type { DB } from '../db/schema.js';
import { DEFAULT_ORG_SLUG } from '../orgs/default-org.js';
import { addMember } from '../orgs/members.js';

export interface UserRow {
  id: number;
  email: string;
  instanceAdmin: boolean;
  totpEnabled: boolean;
}

export type SignUpPolicy = Config['signup'];

/** Lower-cased, trimmed address, or null when it is not one (or too long to be one). */
export function normalizeEmail(input: unknown): string | null {
  if (typeof input !== 'string') return null;
  const email = input.trim().toLowerCase();
  if (email.length > 254 || !EMAIL.test(email)) return null;
  return email;
}

export async function findUserByEmail(db: Kysely<DB>, email: string): Promise<UserRow | null> {
  const row = await db
    .selectFrom('user_account')
    .select(['id', 'email', 'instance_admin', 'totp_enabled_at'])
    .where(sql<string>`lower(email)`, '=', email.toLowerCase())
    .executeTakeFirst();
  return row ? { id: row.id, email: row.email, instanceAdmin: row.instance_admin, totpEnabled: row.totp_enabled_at !== null } : null;
}

export type SignInAccount =
  | { status: 'existing'; user: UserRow }
  | { status: 'created'; user: UserRow }
  /** No account, and the sign-up policy does not allow one for this address. */
  | { status: 'refused'; policy: SignUpPolicy };

/**
 * The account for an address that has just proved it receives mail, creating it when the sign-up
 * policy allows: DMARCWATCH_ADMIN_EMAIL always; otherwise `open` anyone, `invite` an address with
 * a pending invitation, `closed` nobody. The admin address is made instance admin; without one,
 * so is the first account on the instance. A new instance admin becomes owner of the default
 * organisation (what the command line imports) while that has no members. Call inside a transaction.
 */
export async function accountForSignIn(
  trx: Kysely<DB>,
  input: { email: string; policy: SignUpPolicy; adminEmail: string | undefined; now: Date; ip: string | null },
): Promise<SignInAccount> {
  const email = input.email.toLowerCase();
  const isAdminEmail = input.adminEmail !== undefined && input.adminEmail.toLowerCase() === email;
  const existing = await findUserByEmail(trx, email);
  if (existing) {
    if (isAdminEmail && !existing.instanceAdmin) {
      await trx.updateTable('user_account').set({ instance_admin: true }).where('id', '=', existing.id).execute();
      await recordAuditEvent(trx, {
        orgId: null,
        actor: { type: 'system', id: 'DMARCWATCH_ADMIN_EMAIL' },
        action: 'user.instance_admin_grant',
        target: { type: 'user', id: existing.id },
        ip: input.ip,
      });
      return { status: 'existing', user: { ...existing, instanceAdmin: true } };
    }
    return { status: 'existing', user: existing };
  }

  // Serialises account creation, so two first sign-ups cannot both become the first user.
  await sql`select pg_advisory_xact_lock(hashtextextended('dmarcwatch/user_account/create', 0))`.execute(trx);
  const raced = await findUserByEmail(trx, email);
  if (raced) return { status: 'existing', user: raced };

  const firstUser =
    input.adminEmail === undefined && (await trx.selectFrom('user_account').select('id').limit(1).executeTakeFirst()) === undefined;
  let via: 'admin_email' | 'open' | 'invitation';
  if (isAdminEmail) via = 'admin_email';
  else if (input.policy === 'open') via = 'open';
  else if (input.policy === 'invite' && (await hasPendingInvitation(trx, email, input.now))) via = 'invitation';
  else return { status: 'refused', policy: input.policy };

  const instanceAdmin = isAdminEmail || firstUser;
  const row = await trx
    .insertInto('user_account')
    .values({ email, instance_admin: instanceAdmin, created_at: input.now })
    .returning('id')
    .executeTakeFirstOrThrow();
  await recordAuditEvent(trx, {
    orgId: null,
    actor: { type: 'user', id: row.id },
    action: 'user.create',
    target: { type: 'user', id: row.id },
    summary: { via, instanceAdmin, firstUser },
    ip: input.ip,
  });
  if (instanceAdmin) await claimDefaultOrganization(trx, { userId: row.id, ip: input.ip, now: input.now });
  return { status: 'created', user: { id: row.id, email, instanceAdmin, totpEnabled: false } };
}

/** Makes the instance admin owner of the default organisation if nobody is a member of it yet. */
async function claimDefaultOrganization(trx: Kysely<DB>, input: { userId: number; ip: string | null; now: Date }): Promise<void> {
  const org = await trx.selectFrom('organization').select('id').where('slug', '=', DEFAULT_ORG_SLUG).forNoKeyUpdate().executeTakeFirst();
  if (!org) return;
  const anyone = await trx.selectFrom('membership').select('user_id').where('org_id', '=', org.id).limit(1).executeTakeFirst();
  if (anyone) return;
  await addMember(trx, { orgId: org.id, userId: input.userId, role: 'owner', actor: { type: 'system', id: 'first_account' }, ip: input.ip, now: input.now, via: { via: 'instance_admin' } });
}

async function hasPendingInvitation(db: Kysely<DB>, email: string, now: Date): Promise<boolean> {
  const row = await db
    .selectFrom('invitation')
    .select('id')
    .where(sql<string>`lower(email)`, '=', email)
    .where('accepted_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}
