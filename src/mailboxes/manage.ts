import { sql, type Kysely, type Selectable } from 'kysely';
import type { DB, Mailbox } from '../db/schema.js';
import { seal, type Keyring } from '../lib/crypto/index.js';
import type { MailServerSettings } from './mail-server.js';
import { oauthPreset } from './oauth2.js';
import {
  defaultPort,
  describeIssues,
  mailboxChangesSchema,
  newMailboxSchema,
  type MailboxChanges,
} from './mailbox-input.js';

export type MailboxRow = Selectable<Mailbox>;

export class MailboxInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MailboxInputError';
  }
}

export class MailboxNotFoundError extends Error {
  constructor(ref: string | number) {
    super(`No mailbox "${ref}" in this organisation.`);
    this.name = 'MailboxNotFoundError';
  }
}

export type SecretColumn = 'password_sealed' | 'oauth_client_secret_sealed' | 'oauth_refresh_token_sealed' | 'oauth_access_token_sealed';
export const SECRET_COLUMNS: readonly SecretColumn[] = [
  'password_sealed',
  'oauth_client_secret_sealed',
  'oauth_refresh_token_sealed',
  'oauth_access_token_sealed',
];

/** How to reach a mailbox's server; timeouts default inside the protocol clients. */
export function mailServerSettings(row: MailboxRow, timeouts: { connectTimeoutMs?: number; socketTimeoutMs?: number } = {}): MailServerSettings {
  return {
    host: row.host,
    port: row.port,
    tls: row.tls_mode as MailServerSettings['tls'],
    caPem: row.ca_pem,
    connectTimeoutMs: timeouts.connectTimeoutMs,
    socketTimeoutMs: timeouts.socketTimeoutMs,
  };
}

export function sealMailboxSecret(keyring: Keyring, mailboxId: number, column: SecretColumn, value: string): Uint8Array {
  return seal(keyring, value, { table: 'mailbox', column, rowId: mailboxId });
}

/** What may be shown about a mailbox: everything but its secrets (only whether they are set). */
export interface MailboxView {
  id: number;
  name: string;
  protocol: string;
  host: string;
  port: number;
  tlsMode: string;
  customCa: boolean;
  username: string;
  authMethod: string;
  oauthProvider: string | null;
  hasPassword: boolean;
  folder: string;
  afterProcessing: string;
  processedFolder: string;
  invalidFolder: string;
  pollIntervalMinutes: number;
  paused: boolean;
  needsReauth: boolean;
  nextPollAt: Date;
  lastPollFinishedAt: Date | null;
  lastOutcome: string | null;
  lastError: string | null;
  consecutiveFailures: number;
  messagesProcessed: number;
  messagesInvalid: number;
  reportsStored: number;
}

export function viewMailbox(row: MailboxRow): MailboxView {
  return {
    id: row.id,
    name: row.name,
    protocol: row.protocol,
    host: row.host,
    port: row.port,
    tlsMode: row.tls_mode,
    customCa: row.ca_pem !== null,
    username: row.username,
    authMethod: row.auth_method,
    oauthProvider: row.oauth_provider,
    hasPassword: row.password_sealed !== null,
    folder: row.folder,
    afterProcessing: row.after_processing,
    processedFolder: row.processed_folder,
    invalidFolder: row.invalid_folder,
    pollIntervalMinutes: Math.round(row.poll_interval_seconds / 60),
    paused: row.paused,
    needsReauth: row.needs_reauth,
    nextPollAt: row.next_poll_at,
    lastPollFinishedAt: row.last_poll_finished_at,
    lastOutcome: row.last_outcome,
    lastError: row.last_error,
    consecutiveFailures: row.consecutive_failures,
    messagesProcessed: row.messages_processed,
    messagesInvalid: row.messages_invalid,
    reportsStored: row.reports_stored,
  };
}

/** Adds a mailbox; its secrets are sealed to the new row inside the same transaction (the caller's, when given one). */
export async function addMailbox(db: Kysely<DB>, keyring: Keyring, orgId: number, input: unknown): Promise<MailboxView> {
  const parsed = newMailboxSchema.safeParse(input);
  if (!parsed.success) throw new MailboxInputError(describeIssues(parsed.error));
  const m = parsed.data;
  const tokenUrl =
    m.authMethod === 'oauth2'
      ? (m.oauthTokenUrl ?? (m.oauthProvider === 'custom' ? undefined : oauthPreset(m.oauthProvider).tokenUrl))
      : undefined;
  const scope =
    m.authMethod === 'oauth2' ? (m.oauthScope ?? (m.oauthProvider === 'custom' ? undefined : oauthPreset(m.oauthProvider).scope)) : undefined;
  try {
    const inTransaction = <T>(work: (trx: Kysely<DB>) => Promise<T>) => (db.isTransaction ? work(db) : db.transaction().execute(work));
    return await inTransaction(async (trx) => {
      const row = await trx
        .insertInto('mailbox')
        .values({
          org_id: orgId,
          name: m.name,
          protocol: m.protocol,
          host: m.host,
          port: m.port ?? defaultPort(m.protocol, m.tlsMode),
          tls_mode: m.tlsMode,
          ca_pem: m.caPem ?? null,
          username: m.username,
          auth_method: m.authMethod,
          oauth_provider: m.authMethod === 'oauth2' ? m.oauthProvider : null,
          oauth_token_url: tokenUrl ?? null,
          oauth_client_id: m.authMethod === 'oauth2' ? m.oauthClientId : null,
          oauth_scope: scope ?? null,
          folder: m.folder,
          after_processing: m.afterProcessing,
          processed_folder: m.processedFolder,
          invalid_folder: m.invalidFolder,
          poll_interval_seconds: m.pollIntervalMinutes * 60,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const secrets =
        m.authMethod === 'password'
          ? { password_sealed: sealMailboxSecret(keyring, row.id, 'password_sealed', m.password) }
          : {
              oauth_refresh_token_sealed: sealMailboxSecret(keyring, row.id, 'oauth_refresh_token_sealed', m.oauthRefreshToken),
              oauth_client_secret_sealed: m.oauthClientSecret
                ? sealMailboxSecret(keyring, row.id, 'oauth_client_secret_sealed', m.oauthClientSecret)
                : null,
            };
      const updated = await trx.updateTable('mailbox').set(secrets).where('id', '=', row.id).returningAll().executeTakeFirstOrThrow();
      return viewMailbox(updated);
    });
  } catch (error) {
    if (/mailbox_org_id_name_key|duplicate key/.test(String(error))) {
      throw new MailboxInputError(`name: a mailbox named "${m.name}" already exists`);
    }
    throw error;
  }
}

export async function findMailbox(db: Kysely<DB>, orgId: number, ref: string | number): Promise<MailboxRow> {
  let query = db.selectFrom('mailbox').selectAll().where('org_id', '=', orgId);
  query = typeof ref === 'number' || /^\d+$/.test(ref) ? query.where('id', '=', Number(ref)) : query.where('name', '=', ref);
  const row = await query.executeTakeFirst();
  if (!row) throw new MailboxNotFoundError(ref);
  return row;
}

export async function listMailboxes(db: Kysely<DB>, orgId: number): Promise<MailboxView[]> {
  const rows = await db.selectFrom('mailbox').selectAll().where('org_id', '=', orgId).orderBy('name').execute();
  return rows.map(viewMailbox);
}

export async function updateMailbox(
  db: Kysely<DB>,
  keyring: Keyring,
  orgId: number,
  ref: string | number,
  changes: MailboxChanges,
): Promise<MailboxView> {
  const parsed = mailboxChangesSchema.safeParse(changes);
  if (!parsed.success) throw new MailboxInputError(describeIssues(parsed.error));
  const c = parsed.data;
  const current = await findMailbox(db, orgId, ref);
  const connectionChanged = c.host !== undefined || c.port !== undefined || c.username !== undefined || c.password !== undefined;
  const row = await db
    .updateTable('mailbox')
    .set({
      ...(c.name !== undefined && { name: c.name }),
      ...(c.host !== undefined && { host: c.host }),
      ...(c.port !== undefined && { port: c.port }),
      ...(c.tlsMode !== undefined && { tls_mode: c.tlsMode }),
      ...(c.caPem !== undefined && { ca_pem: c.caPem }),
      ...(c.username !== undefined && { username: c.username }),
      ...(c.folder !== undefined && { folder: c.folder, uid_validity: null, last_uid: null }),
      ...(c.afterProcessing !== undefined && { after_processing: c.afterProcessing }),
      ...(c.processedFolder !== undefined && { processed_folder: c.processedFolder }),
      ...(c.invalidFolder !== undefined && { invalid_folder: c.invalidFolder }),
      ...(c.pollIntervalMinutes !== undefined && { poll_interval_seconds: c.pollIntervalMinutes * 60 }),
      ...(c.paused !== undefined && { paused: c.paused }),
      ...(c.password !== undefined && { password_sealed: sealMailboxSecret(keyring, current.id, 'password_sealed', c.password) }),
      ...(connectionChanged && { needs_reauth: false, consecutive_failures: 0 }),
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', current.id)
    .where('org_id', '=', orgId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return viewMailbox(row);
}

export async function setMailboxPaused(db: Kysely<DB>, orgId: number, ref: string | number, paused: boolean): Promise<MailboxView> {
  const current = await findMailbox(db, orgId, ref);
  const row = await db
    .updateTable('mailbox')
    .set({ paused, updated_at: sql<Date>`now()` })
    .where('id', '=', current.id)
    .where('org_id', '=', orgId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return viewMailbox(row);
}

/** Removes the mailbox and its polling state; reports already stored from it stay. */
export async function removeMailbox(db: Kysely<DB>, orgId: number, ref: string | number): Promise<void> {
  const current = await findMailbox(db, orgId, ref);
  await db.deleteFrom('mailbox').where('id', '=', current.id).where('org_id', '=', orgId).execute();
}

/** Asks the scheduler to poll this mailbox at its next tick. */
export async function requestPoll(db: Kysely<DB>, orgId: number, ref: string | number): Promise<void> {
  const current = await findMailbox(db, orgId, ref);
  await db.updateTable('mailbox').set({ next_poll_at: sql<Date>`now()` }).where('id', '=', current.id).execute();
}
