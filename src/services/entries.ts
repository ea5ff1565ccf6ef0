/**
 * The organisation's own service entries (table org_service): listed, added, replaced and removed by
 * admins, every change audited in its transaction. Pages classify sources with the entries as they
 * are when the page is drawn (src/sources/org-services.ts), so a change names sources at once;
 * nothing computed in the background depends on them.
 */
import { sql, type Kysely } from 'kysely';
import { recordAuditEvent } from '../audit/record.js';
import type { AuditInput } from '../audit/types.js';
import type { DB } from '../db/schema.js';
import { serviceEntrySchema, type ServiceEntry } from '../enrich/services.js';

/** At most this many entries per organisation (what `parseServiceEntries` accepts). */
export const MAX_SERVICE_ENTRIES = 500;

export interface OwnServiceEntry {
  entry: ServiceEntry;
  updatedAt: Date;
}

/** An entry without rules names no sender: refused. */
export const NO_RULE = 'Give at least one PTR, ASN or DKIM rule: without one the entry names no sender.';

export function hasRules(entry: ServiceEntry): boolean {
  return (entry.ptr?.length ?? 0) + (entry.asns?.length ?? 0) + (entry.dkim?.length ?? 0) > 0;
}

/** Leaves out empty lists and a false `forwards`, as the catalogue writes entries. */
export function compact(entry: ServiceEntry): ServiceEntry {
  return {
    id: entry.id,
    name: entry.name,
    category: entry.category,
    ...(entry.ptr?.length ? { ptr: entry.ptr } : {}),
    ...(entry.asns?.length ? { asns: entry.asns } : {}),
    ...(entry.dkim?.length ? { dkim: entry.dkim } : {}),
    ...(entry.forwards ? { forwards: true } : {}),
    ...(entry.notes ? { notes: entry.notes } : {}),
  };
}

export class ServiceEntryError extends Error {
  constructor(
    readonly reason: 'exists' | 'not_found' | 'too_many' | 'no_rule',
    message: string,
  ) {
    super(message);
    this.name = 'ServiceEntryError';
  }
}

export interface EntryChange {
  orgId: number;
  actor: AuditInput['actor'];
  ip: string | null;
  now: Date;
}

/** create: refuse an id in use; update: refuse an id not in use; upsert: either. */
export type SaveMode = 'create' | 'update' | 'upsert';

function parsedEntry(value: unknown): ServiceEntry | null {
  const parsed = serviceEntrySchema.safeParse(typeof value === 'string' ? JSON.parse(value) : value);
  return parsed.success ? parsed.data : null;
}

function toOwn(row: { entry: unknown; updated_at: Date }): OwnServiceEntry[] {
  const entry = parsedEntry(row.entry);
  return entry ? [{ entry, updatedAt: row.updated_at }] : [];
}

/** The entries in id order, after `after` (entries that no longer pass the checks are left out, as when sources are classified). */
export async function listServiceEntries(db: Kysely<DB>, orgId: number, page: { limit: number; after: string | null }): Promise<OwnServiceEntry[]> {
  let query = db.selectFrom('org_service').select(['entry', 'updated_at']).where('org_id', '=', orgId);
  if (page.after !== null) query = query.where('service_id', '>', page.after);
  const rows = await query.orderBy('service_id').limit(page.limit).execute();
  return rows.flatMap(toOwn);
}

export async function getServiceEntry(db: Kysely<DB>, orgId: number, id: string): Promise<OwnServiceEntry | null> {
  const row = await db.selectFrom('org_service').select(['entry', 'updated_at']).where('org_id', '=', orgId).where('service_id', '=', id).executeTakeFirst();
  return row ? (toOwn(row)[0] ?? null) : null;
}

/** Adds or replaces an entry (checked again here, and refused without a rule); audited as `service_entry.create` or `service_entry.update`. */
export async function saveServiceEntry(db: Kysely<DB>, change: EntryChange, input: ServiceEntry, mode: SaveMode): Promise<{ entry: OwnServiceEntry; created: boolean }> {
  const entry = compact(serviceEntrySchema.parse(input));
  if (!hasRules(entry)) throw new ServiceEntryError('no_rule', NO_RULE);
  return db.transaction().execute(async (trx) => {
    // One change at a time per organisation, so that two additions cannot both pass the count.
    await trx.selectFrom('organization').select('id').where('id', '=', change.orgId).forUpdate().executeTakeFirstOrThrow();
    const before = await trx.selectFrom('org_service').select('entry').where('org_id', '=', change.orgId).where('service_id', '=', entry.id).executeTakeFirst();
    if (before && mode === 'create') throw new ServiceEntryError('exists', `An entry with the id “${entry.id}” exists already; edit it instead, or choose another id.`);
    if (!before && mode === 'update') throw new ServiceEntryError('not_found', `There is no entry with the id “${entry.id}” (any more).`);
    if (!before) {
      const { n } = await trx
        .selectFrom('org_service')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('org_id', '=', change.orgId)
        .executeTakeFirstOrThrow();
      if (Number(n) >= MAX_SERVICE_ENTRIES) throw new ServiceEntryError('too_many', `An organisation has at most ${MAX_SERVICE_ENTRIES} entries; delete one first.`);
    }
    const values = { entry: sql<unknown>`cast(${JSON.stringify(entry)} as jsonb)`, updated_at: change.now };
    await trx
      .insertInto('org_service')
      .values({ org_id: change.orgId, service_id: entry.id, ...values })
      .onConflict((oc) => oc.columns(['org_id', 'service_id']).doUpdateSet(values))
      .execute();
    await recordAuditEvent(trx, {
      orgId: change.orgId,
      actor: change.actor,
      action: before ? 'service_entry.update' : 'service_entry.create',
      target: { type: 'service', id: entry.id },
      summary: { before: before ? parsedEntry(before.entry) : null, after: entry },
      ip: change.ip,
    });
    return { entry: { entry, updatedAt: change.now }, created: !before };
  });
}

/** Removes an entry; false when there was none (nothing is audited then). Decisions about the service stay. */
export async function deleteServiceEntry(db: Kysely<DB>, change: EntryChange, id: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const removed = await trx.deleteFrom('org_service').where('org_id', '=', change.orgId).where('service_id', '=', id).returning('entry').executeTakeFirst();
    if (!removed) return false;
    await recordAuditEvent(trx, {
      orgId: change.orgId,
      actor: change.actor,
      action: 'service_entry.delete',
      target: { type: 'service', id },
      summary: { before: parsedEntry(removed.entry), after: null },
      ip: change.ip,
    });
    return true;
  });
}
