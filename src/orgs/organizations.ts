import { sql, type Kysely } from 'kysely';
import { recordAuditEvent } from '../audit/record.js';
import type { AuditInput } from '../audit/types.js';
import type { DB } from '../db/schema.js';
import { DEFAULT_ORG_SLUG } from './default-org.js';

export interface Organization {
  id: number;
  slug: string;
  name: string;
  createdAt: Date;
}

/** A URL-safe slug from a name: lower-case ASCII letters, digits and single hyphens. */
export function slugFrom(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/g, '');
  return slug === '' ? 'org' : slug;
}

/**
 * A new organisation with `ownerUserId` as its owner. The slug comes from the name, with a number
 * added when it is taken. Call outside a transaction or inside one (it nests).
 */
export async function createOrganization(
  db: Kysely<DB>,
  input: { name: string; ownerUserId: number; actor: AuditInput['actor']; ip: string | null; now: Date },
): Promise<Organization> {
  const run = async (trx: Kysely<DB>): Promise<Organization> => {
    await sql`select pg_advisory_xact_lock(hashtextextended('dmarcwatch/organization/slug', 0))`.execute(trx);
    const base = slugFrom(input.name);
    const taken = new Set(
      (await trx.selectFrom('organization').select('slug').where((eb) => eb.or([eb('slug', '=', base), eb('slug', 'like', `${base}-%`)])).execute()).map((r) => r.slug),
    );
    let slug = base;
    for (let n = 2; taken.has(slug) || slug === DEFAULT_ORG_SLUG; n += 1) slug = `${base}-${n}`;
    const row = await trx
      .insertInto('organization')
      .values({ slug, name: input.name, created_at: input.now })
      .returning(['id', 'slug', 'name', 'created_at'])
      .executeTakeFirstOrThrow();
    await trx.insertInto('membership').values({ org_id: row.id, user_id: input.ownerUserId, role: 'owner', created_at: input.now }).execute();
    await recordAuditEvent(trx, {
      orgId: row.id,
      actor: input.actor,
      action: 'organization.create',
      target: { type: 'organization', id: row.id },
      summary: { name: input.name, slug, owner: input.ownerUserId },
      ip: input.ip,
    });
    return { id: row.id, slug: row.slug, name: row.name, createdAt: new Date(row.created_at) };
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

export async function getOrganization(db: Kysely<DB>, orgId: number): Promise<Organization | null> {
  const row = await db.selectFrom('organization').select(['id', 'slug', 'name', 'created_at']).where('id', '=', orgId).executeTakeFirst();
  return row ? { id: row.id, slug: row.slug, name: row.name, createdAt: new Date(row.created_at) } : null;
}

/**
 * Serialises changes to the organisation's members (role changes, removals, invitations accepted)
 * until the transaction ends, so rules such as "there is always an owner" hold under concurrency.
 * `no key update` does not wait for writers of rows that merely reference the organisation.
 */
export async function lockOrganization(trx: Kysely<DB>, orgId: number): Promise<boolean> {
  const row = await trx.selectFrom('organization').select('id').where('id', '=', orgId).forNoKeyUpdate().executeTakeFirst();
  return row !== undefined;
}

/** Renames the organisation; its slug (and so every URL and key) stays. Null when it does not exist. */
export async function renameOrganization(
  db: Kysely<DB>,
  input: { orgId: number; name: string; actor: AuditInput['actor']; ip: string | null },
): Promise<Organization | null> {
  return db.transaction().execute(async (trx) => {
    const before = await trx.selectFrom('organization').select('name').where('id', '=', input.orgId).forNoKeyUpdate().executeTakeFirst();
    if (!before) return null;
    const row = await trx
      .updateTable('organization')
      .set({ name: input.name })
      .where('id', '=', input.orgId)
      .returning(['id', 'slug', 'name', 'created_at'])
      .executeTakeFirstOrThrow();
    if (before.name !== input.name) {
      await recordAuditEvent(trx, {
        orgId: input.orgId,
        actor: input.actor,
        action: 'organization.rename',
        target: { type: 'organization', id: input.orgId },
        summary: { before: { name: before.name }, after: { name: input.name } },
        ip: input.ip,
      });
    }
    return { id: row.id, slug: row.slug, name: row.name, createdAt: new Date(row.created_at) };
  });
}
