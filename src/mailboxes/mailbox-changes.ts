import type { Kysely, Transaction } from 'kysely';
import { recordAuditEvent } from '../audit/record.js';
import type { AuditInput } from '../audit/types.js';
import type { DB } from '../db/schema.js';
import type { Keyring } from '../lib/crypto/index.js';
import type { MailboxChanges } from './mailbox-input.js';
import { addMailbox, findMailbox, MailboxInputError, removeMailbox, requestPoll, setMailboxPaused, updateMailbox, viewMailbox, type MailboxRow, type MailboxView } from './manage.js';

/**
 * Audited mailbox changes, shared by the API and the web pages: each runs in one transaction with
 * its audit event (settings before and after, never secrets). They throw MailboxNotFoundError,
 * MailboxInputError and MailboxStateError.
 */

/** Who changes a mailbox of which organisation, for the audit trail. */
export interface MailboxChangeBy {
  orgId: number;
  actor: AuditInput['actor'];
  ip: string | null;
}

/** A request the mailbox's state does not allow now (polling a paused mailbox…). */
export class MailboxStateError extends Error {
  constructor(
    readonly code: 'mailbox_paused' | 'mailbox_needs_reauth',
    message: string,
  ) {
    super(message);
    this.name = 'MailboxStateError';
  }
}

export type MailboxStatus = 'waiting' | 'ok' | 'failing' | 'needs_reauth' | 'paused';

/** The mailbox's polling status, and the same in words with the last error when there is one. */
export function mailboxStatus(row: MailboxRow): { status: MailboxStatus; statusText: string } {
  return statusOfView(viewMailbox(row));
}

/** mailboxStatus from what may be shown of a mailbox. */
export function statusOfView(view: MailboxView): { status: MailboxStatus; statusText: string } {
  const next = new Date(view.nextPollAt).toISOString();
  if (view.paused) return { status: 'paused', statusText: 'Paused: not polled until resumed.' };
  if (view.needsReauth) {
    return { status: 'needs_reauth', statusText: `The server refused the credentials; polling is stopped until they are updated.${view.lastError ? ` ${view.lastError}` : ''}` };
  }
  if (view.lastOutcome === null) return { status: 'waiting', statusText: `Not polled yet; the first poll is due at ${next}.` };
  if (view.lastOutcome === 'error') {
    const times = view.consecutiveFailures > 1 ? `The last ${view.consecutiveFailures} polls failed` : 'The last poll failed';
    return { status: 'failing', statusText: `${times}: ${view.lastError ?? 'unknown error'} Next try at ${next}.` };
  }
  return { status: 'ok', statusText: `The last poll worked${view.lastPollFinishedAt ? ` (${new Date(view.lastPollFinishedAt).toISOString()})` : ''}; next poll at ${next}.` };
}

/** What the audit trail keeps of a mailbox: its settings (the view without its id, poll state and counters), never its secrets. */
export function mailboxAuditView(row: MailboxRow): Record<string, unknown> {
  const {
    id: _id,
    hasPassword: _hasPassword,
    needsReauth: _needsReauth,
    nextPollAt: _nextPollAt,
    lastPollFinishedAt: _lastPollFinishedAt,
    lastOutcome: _lastOutcome,
    lastError: _lastError,
    consecutiveFailures: _consecutiveFailures,
    messagesProcessed: _messagesProcessed,
    messagesInvalid: _messagesInvalid,
    reportsStored: _reportsStored,
    ...settings
  } = viewMailbox(row);
  return settings;
}

/** The fields that differ, as `{ field: { before, after } }`. */
function differences(before: Record<string, unknown>, after: Record<string, unknown>): Record<string, unknown> {
  const changed: Record<string, unknown> = {};
  for (const key of Object.keys(after)) {
    if (before[key] !== after[key]) changed[key] = { before: before[key], after: after[key] };
  }
  return changed;
}

const settingChanges = (before: MailboxRow, after: MailboxRow) => ({ changes: differences(mailboxAuditView(before), mailboxAuditView(after)) });

/** Runs a change and its audit event in one transaction; the mailbox after it. */
async function change(
  db: Kysely<DB>,
  by: MailboxChangeBy,
  ref: string | number,
  action: string,
  work: (trx: Transaction<DB>, before: MailboxRow) => Promise<unknown>,
  summary: (before: MailboxRow, after: MailboxRow) => Record<string, unknown> = settingChanges,
): Promise<MailboxRow> {
  return db.transaction().execute(async (trx) => {
    const before = await findMailbox(trx, by.orgId, ref);
    await work(trx, before);
    const row = await findMailbox(trx, by.orgId, before.id);
    await recordAuditEvent(trx, { orgId: by.orgId, actor: by.actor, action, target: { type: 'mailbox', id: row.id }, summary: { name: row.name, ...summary(before, row) }, ip: by.ip });
    return row;
  });
}

/** Adds a mailbox (see addMailbox for the input), audited as `mailbox.create`. */
export async function createMailbox(db: Kysely<DB>, keyring: Keyring, by: MailboxChangeBy, input: unknown): Promise<MailboxRow> {
  return db.transaction().execute(async (trx) => {
    const view = await addMailbox(trx, keyring, by.orgId, input);
    const created = await findMailbox(trx, by.orgId, view.id);
    await recordAuditEvent(trx, { orgId: by.orgId, actor: by.actor, action: 'mailbox.create', target: { type: 'mailbox', id: created.id }, summary: mailboxAuditView(created), ip: by.ip });
    return created;
  });
}

/** Changes settings or the password (password mailboxes only), audited as `mailbox.update` with the fields changed. */
export function editMailbox(db: Kysely<DB>, keyring: Keyring, by: MailboxChangeBy, ref: string | number, changes: MailboxChanges): Promise<MailboxRow> {
  return change(
    db,
    by,
    ref,
    'mailbox.update',
    async (trx, before) => {
      if (changes.password !== undefined && before.auth_method !== 'password') throw new MailboxInputError('password: this mailbox signs in with OAuth 2.0, not a password.');
      await updateMailbox(trx, keyring, by.orgId, before.id, changes);
    },
    (before, after) => ({ ...settingChanges(before, after), replaced: changes.password === undefined ? [] : ['password'] }),
  );
}

export function pauseMailbox(db: Kysely<DB>, by: MailboxChangeBy, ref: string | number): Promise<MailboxRow> {
  return change(db, by, ref, 'mailbox.pause', (trx, before) => setMailboxPaused(trx, by.orgId, before.id, true));
}

export function resumeMailbox(db: Kysely<DB>, by: MailboxChangeBy, ref: string | number): Promise<MailboxRow> {
  return change(db, by, ref, 'mailbox.resume', (trx, before) => setMailboxPaused(trx, by.orgId, before.id, false));
}

/** Asks for a poll at the next scheduler tick; refused while paused or waiting for new credentials. */
export function pollMailboxSoon(db: Kysely<DB>, by: MailboxChangeBy, ref: string | number): Promise<MailboxRow> {
  return change(
    db,
    by,
    ref,
    'mailbox.poll_request',
    async (trx, before) => {
      if (before.paused) throw new MailboxStateError('mailbox_paused', 'The mailbox is paused: resume it to poll.');
      if (before.needs_reauth) throw new MailboxStateError('mailbox_needs_reauth', 'The server refused the credentials: update them to poll again.');
      await requestPoll(trx, by.orgId, before.id);
    },
    () => ({}),
  );
}

/** Removes the mailbox and its credentials, audited as `mailbox.delete` with its settings. */
export async function deleteMailbox(db: Kysely<DB>, by: MailboxChangeBy, ref: string | number): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const before = await findMailbox(trx, by.orgId, ref);
    await removeMailbox(trx, by.orgId, before.id);
    await recordAuditEvent(trx, { orgId: by.orgId, actor: by.actor, action: 'mailbox.delete', target: { type: 'mailbox', id: before.id }, summary: mailboxAuditView(before), ip: by.ip });
  });
}
