import type { Kysely } from 'kysely';
import { recordAuditEvent, type RecordedAuditEvent } from '../../src/audit/record.js';
import type { DB } from '../../src/db/schema.js';

export async function createOrg(db: Kysely<DB>, slug: string): Promise<number> {
  const row = await db.insertInto('organization').values({ slug, name: `Org ${slug}` }).returning('id').executeTakeFirstOrThrow();
  return Number(row.id);
}

/** `count` events, one transaction each, with varied actors, targets and summaries. */
export async function seedChain(db: Kysely<DB>, orgId: number | null, count: number): Promise<RecordedAuditEvent[]> {
  const recorded: RecordedAuditEvent[] = [];
  for (let i = 1; i <= count; i++) {
    recorded.push(
      await db.transaction().execute((trx) =>
        recordAuditEvent(trx, {
          orgId,
          actor: i % 3 === 0 ? { type: 'system', id: 'scheduler' } : i % 3 === 1 ? { type: 'user', id: i } : { type: 'api_key', id: 100 + i },
          action: i % 2 === 0 ? 'mailbox.update' : 'member.role_change',
          target: { type: 'mailbox', id: i },
          summary: { before: { interval: i, name: `box ${i}` }, after: { interval: i + 1, tags: ['a', i] }, n: i * 0.1 },
          ip: i % 4 === 0 ? null : `192.0.2.${i}`,
        }),
      ),
    );
  }
  return recorded;
}

export async function eventId(db: Kysely<DB>, chain: string, seq: number): Promise<number> {
  const row = await db.selectFrom('audit_event').select('id').where('chain', '=', chain).where('seq', '=', seq).executeTakeFirstOrThrow();
  return Number(row.id);
}

class Rollback extends Error {}

/** Runs `fn` in a transaction that is always rolled back: a tamper seen only by `fn`. */
export async function withRollback<T>(db: Kysely<DB>, fn: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
  let result: T | undefined;
  try {
    await db.transaction().execute(async (trx) => {
      result = await fn(trx);
      throw new Rollback();
    });
  } catch (error) {
    if (!(error instanceof Rollback)) throw error;
  }
  return result as T;
}
