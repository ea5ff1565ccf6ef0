import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { MailboxRow } from './manage.js';

/**
 * Claims the most overdue mailbox for `holder` for `ttlMs`. The row lock (`for update skip locked`)
 * makes concurrent claimers pick different mailboxes; the claim columns keep it ours after the
 * short claiming transaction ends, until released or expired (a crashed worker's claim runs out).
 */
export async function claimDueMailbox(db: Kysely<DB>, holder: string, ttlMs: number): Promise<MailboxRow | undefined> {
  const result = await sql<MailboxRow>`
    update mailbox
    set claimed_by = ${holder}, claimed_until = now() + ${`${ttlMs} milliseconds`}::interval, last_poll_started_at = now()
    where id = (
      select id from mailbox
      where not paused and not needs_reauth and next_poll_at <= now()
        and (claimed_until is null or claimed_until < now())
      order by next_poll_at
      limit 1
      for update skip locked
    )
    returning *`.execute(db);
  return result.rows[0];
}

/** Claims one given mailbox now (poll on request), unless another worker holds it. */
export async function claimMailbox(db: Kysely<DB>, mailboxId: number, holder: string, ttlMs: number): Promise<MailboxRow | undefined> {
  const result = await sql<MailboxRow>`
    update mailbox
    set claimed_by = ${holder}, claimed_until = now() + ${`${ttlMs} milliseconds`}::interval, last_poll_started_at = now()
    where id = (
      select id from mailbox
      where id = ${mailboxId} and (claimed_until is null or claimed_until < now() or claimed_by = ${holder})
      for update skip locked
    )
    returning *`.execute(db);
  return result.rows[0];
}

export async function renewClaim(db: Kysely<DB>, mailboxId: number, holder: string, ttlMs: number): Promise<boolean> {
  const result = await db
    .updateTable('mailbox')
    .set({ claimed_until: sql<Date>`now() + ${`${ttlMs} milliseconds`}::interval` })
    .where('id', '=', mailboxId)
    .where('claimed_by', '=', holder)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function releaseClaim(db: Kysely<DB>, mailboxId: number, holder: string): Promise<void> {
  await db
    .updateTable('mailbox')
    .set({ claimed_by: null, claimed_until: null })
    .where('id', '=', mailboxId)
    .where('claimed_by', '=', holder)
    .execute();
}
