import { sql, type Kysely } from 'kysely';
import { recordAuditEvent } from '../audit/record.js';
import type { DB } from '../db/schema.js';
import { DEFAULT_ORG_SLUG } from '../orgs/default-org.js';
import { deleteOrganization, type DeletionBatches } from '../orgs/delete-organization.js';

interface MembershipFacts {
  orgId: number;
  slug: string;
  name: string;
  role: string;
  members: number;
  owners: number;
}

export type AccountDeletion =
  | { deleted: true; organizationsDeleted: string[] }
  /** The person is the last owner of these organisations, which have other members. */
  | { deleted: false; lastOwnerOf: Array<{ slug: string; name: string }> };

async function membershipsOf(db: Kysely<DB>, userId: number): Promise<MembershipFacts[]> {
  const rows = await db
    .selectFrom('membership as m')
    .innerJoin('organization as o', 'o.id', 'm.org_id')
    .select((eb) => [
      'o.id',
      'o.slug',
      'o.name',
      'm.role',
      eb.selectFrom('membership as all').select(sql<number>`count(*)::int`.as('n')).whereRef('all.org_id', '=', 'o.id').as('members'),
      eb
        .selectFrom('membership as owner')
        .select(sql<number>`count(*)::int`.as('n'))
        .whereRef('owner.org_id', '=', 'o.id')
        .where('owner.role', '=', 'owner')
        .as('owners'),
    ])
    .where('m.user_id', '=', userId)
    .orderBy('o.id')
    .execute();
  return rows.map((r) => ({ orgId: r.id, slug: r.slug, name: r.name, role: r.role, members: Number(r.members), owners: Number(r.owners) }));
}

/** Organisations that would be left without an owner while others are still in them. */
function blocking(facts: MembershipFacts[]): Array<{ slug: string; name: string }> {
  return facts.filter((f) => f.role === 'owner' && f.owners <= 1 && f.members > 1).map((f) => ({ slug: f.slug, name: f.name }));
}

/**
 * Deletes a person's account: sessions, recovery codes, sign-in links and memberships go with it;
 * keys and invitations they created stay with their organisations. Refused while they are the
 * last owner of an organisation that has other members (they must hand it over or delete it).
 * Organisations where they are the only member are deleted first (all their data, see
 * deleteOrganization) — except the default organisation, which is only left. Their audit events
 * stay: the chains cannot lose events.
 */
export async function deleteAccount(
  db: Kysely<DB>,
  input: { userId: number; ip: string | null; now: Date; batches?: DeletionBatches },
): Promise<AccountDeletion> {
  const actor = { type: 'user' as const, id: input.userId };
  const facts = await membershipsOf(db, input.userId);
  const blockedBy = blocking(facts);
  if (blockedBy.length > 0) return { deleted: false, lastOwnerOf: blockedBy };

  const organizationsDeleted: string[] = [];
  for (const org of facts.filter((f) => f.members === 1 && f.slug !== DEFAULT_ORG_SLUG)) {
    const gone = await deleteOrganization(db, { orgId: org.orgId, actor, ip: input.ip, ...(input.batches ? { batches: input.batches } : {}) });
    if (gone) organizationsDeleted.push(gone.slug);
  }

  return db.transaction().execute(async (trx): Promise<AccountDeletion> => {
    // Locks the organisations (in id order, as member changes do) and then the account, and looks again.
    const orgIds = (await trx.selectFrom('membership').select('org_id').where('user_id', '=', input.userId).orderBy('org_id').execute()).map((r) => r.org_id);
    if (orgIds.length > 0) await trx.selectFrom('organization').select('id').where('id', 'in', orgIds).orderBy('id').forNoKeyUpdate().execute();
    const user = await trx.selectFrom('user_account').select(['id', 'email']).where('id', '=', input.userId).forUpdate().executeTakeFirst();
    if (!user) return { deleted: true, organizationsDeleted };
    const now = await membershipsOf(trx, input.userId);
    const stillBlocked = blocking(now);
    if (stillBlocked.length > 0) return { deleted: false, lastOwnerOf: stillBlocked };

    for (const membership of now) {
      await recordAuditEvent(trx, {
        orgId: membership.orgId,
        actor,
        action: 'member.leave',
        target: { type: 'user', id: input.userId },
        summary: { before: { role: membership.role }, reason: 'account_deleted' },
        ip: input.ip,
      });
    }
    await trx.deleteFrom('magic_link').where(sql<string>`lower(email)`, '=', user.email.toLowerCase()).execute();
    await trx.deleteFrom('user_account').where('id', '=', input.userId).execute();
    await recordAuditEvent(trx, {
      orgId: null,
      actor,
      action: 'user.delete',
      target: { type: 'user', id: input.userId },
      summary: { organizationsDeleted, organizationsLeft: now.map((m) => m.slug) },
      ip: input.ip,
    });
    return { deleted: true, organizationsDeleted };
  });
}
