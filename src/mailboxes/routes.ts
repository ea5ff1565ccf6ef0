import type { Kysely, Transaction } from 'kysely';
import { z } from 'zod';
import { orgRoute, type OrgContext } from '../api/define.js';
import { badRequest, conflict, notFound } from '../api/errors.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../api/pagination.js';
import { iso, orgParams, timestamp } from '../api/schemas.js';
import { recordAuditEvent } from '../audit/record.js';
import type { DB } from '../db/schema.js';
import { checkMailboxConnection } from './check-connection.js';
import { MailConnectionError } from './mail-server.js';
import { mailboxChangesSchema, newMailboxSchema } from './mailbox-input.js';
import {
  addMailbox,
  findMailbox,
  MailboxInputError,
  MailboxNotFoundError,
  removeMailbox,
  requestPoll,
  setMailboxPaused,
  updateMailbox,
  viewMailbox,
  type MailboxRow,
} from './manage.js';
import { OAuthError } from './oauth2.js';

const status = z
  .enum(['waiting', 'ok', 'failing', 'needs_reauth', 'paused'])
  .describe('waiting: not polled yet; ok: the last poll worked; failing: the last poll failed; needs_reauth: the server refused the credentials, polling stopped until they are updated; paused: not polled until resumed.');

const mailbox = z.object({
  id: z.number().int(),
  name: z.string(),
  protocol: z.enum(['imap', 'pop3']),
  host: z.string(),
  port: z.number().int(),
  tlsMode: z.enum(['implicit', 'starttls']),
  customCa: z.boolean().describe('Whether a private CA certificate is trusted for this server.'),
  username: z.string(),
  authMethod: z.enum(['password', 'oauth2']),
  oauthProvider: z.string().nullable(),
  hasPassword: z.boolean().describe('A password is stored (sealed). Secrets are never returned.'),
  hasOAuthRefreshToken: z.boolean(),
  hasOAuthClientSecret: z.boolean(),
  folder: z.string(),
  afterProcessing: z.enum(['move', 'seen', 'delete', 'none']),
  processedFolder: z.string(),
  invalidFolder: z.string(),
  pollIntervalMinutes: z.number().int(),
  paused: z.boolean(),
  needsReauth: z.boolean(),
  status,
  statusText: z.string().describe('The status in words, with the last error when there is one.'),
  nextPollAt: timestamp,
  lastPollFinishedAt: timestamp.nullable(),
  lastError: z.string().nullable().describe('What went wrong in the last poll, in words.'),
  consecutiveFailures: z.number().int(),
  messagesProcessed: z.number().int(),
  messagesInvalid: z.number().int(),
  reportsStored: z.number().int(),
  createdAt: timestamp,
  updatedAt: timestamp,
});

function statusOf(row: MailboxRow): { status: z.infer<typeof status>; statusText: string } {
  const next = iso(row.next_poll_at);
  if (row.paused) return { status: 'paused', statusText: 'Paused: not polled until resumed.' };
  if (row.needs_reauth) {
    return { status: 'needs_reauth', statusText: `The server refused the credentials; polling is stopped until they are updated.${row.last_error ? ` ${row.last_error}` : ''}` };
  }
  if (row.last_outcome === null) return { status: 'waiting', statusText: `Not polled yet; the first poll is due at ${next}.` };
  if (row.last_outcome === 'error') {
    const times = row.consecutive_failures > 1 ? `The last ${row.consecutive_failures} polls failed` : 'The last poll failed';
    return { status: 'failing', statusText: `${times}: ${row.last_error ?? 'unknown error'} Next try at ${next}.` };
  }
  return { status: 'ok', statusText: `The last poll worked${row.last_poll_finished_at ? ` (${iso(row.last_poll_finished_at)})` : ''}; next poll at ${next}.` };
}

function mailboxOut(row: MailboxRow): z.input<typeof mailbox> {
  const view = viewMailbox(row);
  return {
    id: view.id,
    name: view.name,
    protocol: view.protocol as 'imap' | 'pop3',
    host: view.host,
    port: view.port,
    tlsMode: view.tlsMode as 'implicit' | 'starttls',
    customCa: view.customCa,
    username: view.username,
    authMethod: view.authMethod as 'password' | 'oauth2',
    oauthProvider: view.oauthProvider,
    hasPassword: view.hasPassword,
    hasOAuthRefreshToken: row.oauth_refresh_token_sealed !== null,
    hasOAuthClientSecret: row.oauth_client_secret_sealed !== null,
    folder: view.folder,
    afterProcessing: view.afterProcessing as 'move' | 'seen' | 'delete' | 'none',
    processedFolder: view.processedFolder,
    invalidFolder: view.invalidFolder,
    pollIntervalMinutes: view.pollIntervalMinutes,
    paused: view.paused,
    needsReauth: view.needsReauth,
    ...statusOf(row),
    nextPollAt: iso(view.nextPollAt),
    lastPollFinishedAt: iso(view.lastPollFinishedAt),
    lastError: view.lastError,
    consecutiveFailures: view.consecutiveFailures,
    messagesProcessed: view.messagesProcessed,
    messagesInvalid: view.messagesInvalid,
    reportsStored: view.reportsStored,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

/** What the audit trail keeps of a mailbox: its settings, never its secrets. */
function auditView(row: MailboxRow): Record<string, unknown> {
  return {
    name: row.name,
    protocol: row.protocol,
    host: row.host,
    port: row.port,
    tlsMode: row.tls_mode,
    customCa: row.ca_pem !== null,
    username: row.username,
    authMethod: row.auth_method,
    oauthProvider: row.oauth_provider,
    folder: row.folder,
    afterProcessing: row.after_processing,
    processedFolder: row.processed_folder,
    invalidFolder: row.invalid_folder,
    pollIntervalMinutes: Math.round(row.poll_interval_seconds / 60),
    paused: row.paused,
  };
}

/** The fields that differ, as `{ field: { before, after } }`. */
function differences(before: Record<string, unknown>, after: Record<string, unknown>): Record<string, unknown> {
  const changed: Record<string, unknown> = {};
  for (const key of Object.keys(after)) {
    if (before[key] !== after[key]) changed[key] = { before: before[key], after: after[key] };
  }
  return changed;
}

const mailboxParams = orgParams.extend({
  mailbox: z.string().min(1).max(100).describe("The mailbox's id, or its name."),
});

type Ctx = OrgContext<z.infer<typeof mailboxParams>, unknown, unknown>;

/** The mailbox named in the path, inside the caller's organisation; 404 otherwise. */
async function mailboxIn(db: Kysely<DB>, orgId: number, ref: string): Promise<MailboxRow> {
  if (/^\d+$/.test(ref) && !Number.isSafeInteger(Number(ref))) throw notFound('Mailbox');
  try {
    return await findMailbox(db, orgId, ref);
  } catch (error) {
    if (error instanceof MailboxNotFoundError) throw notFound('Mailbox');
    throw error;
  }
}

function inputProblem(error: unknown): never {
  if (error instanceof MailboxInputError) {
    if (/already exists/.test(error.message)) throw conflict(`${error.message}.`, 'mailbox_exists');
    throw badRequest(error.message);
  }
  throw error;
}

/** Runs a change and its audit event in one transaction, answering with the mailbox after it. */
async function change(
  ctx: Ctx,
  action: string,
  work: (trx: Transaction<DB>, before: MailboxRow) => Promise<unknown>,
  summary: (before: MailboxRow, after: MailboxRow) => Record<string, unknown> = (before, after) => ({ changes: differences(auditView(before), auditView(after)) }),
): Promise<z.input<typeof mailbox>> {
  const { db, org, params, actor, ip } = ctx;
  const after = await db.transaction().execute(async (trx) => {
    const before = await mailboxIn(trx, org.orgId, params.mailbox);
    await work(trx, before);
    const row = await findMailbox(trx, org.orgId, before.id);
    await recordAuditEvent(trx, { orgId: org.orgId, actor, action, target: { type: 'mailbox', id: row.id }, summary: { name: row.name, ...summary(before, row) }, ip });
    return row;
  });
  return mailboxOut(after);
}

export const mailboxesApi = [
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/mailboxes',
    operationId: 'listMailboxes',
    summary: "The organisation's mailboxes, in name order",
    tag: 'Mailboxes',
    permission: 'read',
    params: orgParams,
    query: pageQuery,
    response: pageOf(mailbox),
    handler: async ({ db, org, query }) => {
      const after = decodeCursor(query.cursor, z.tuple([z.string()]));
      let rows = db.selectFrom('mailbox').selectAll().where('org_id', '=', org.orgId);
      if (after) rows = rows.where('name', '>', after[0]);
      const page = await rows.orderBy('name').limit(query.limit + 1).execute();
      return toPage(page, query.limit, (row) => [row.name], mailboxOut);
    },
  }),
  orgRoute({
    method: 'post',
    path: '/orgs/{org}/mailboxes',
    operationId: 'createMailbox',
    summary: 'Add a mailbox (IMAP or POP3) to poll for reports',
    description:
      'With `authMethod: "password"`, send `password`; with `authMethod: "oauth2"`, send `oauthProvider` (google, microsoft or custom with `oauthTokenUrl`), ' +
      '`oauthClientId`, optionally `oauthClientSecret` and `oauthScope`, and `oauthRefreshToken`. Secrets are sealed at once and never returned: ' +
      'the answer shows only `hasPassword`, `hasOAuthRefreshToken` and `hasOAuthClientSecret`. The port defaults to 993/995 (implicit TLS) or 143/110 (STARTTLS).',
    tag: 'Mailboxes',
    permission: 'write',
    params: orgParams,
    body: newMailboxSchema.describe('The mailbox settings and its credentials.'),
    status: 201,
    response: mailbox,
    errors: { 409: 'The organisation already has a mailbox with this name.' },
    handler: async ({ db, org, body, actor, ip, deps }) => {
      const row = await db
        .transaction()
        .execute(async (trx) => {
          const view = await addMailbox(trx, deps.keyring, org.orgId, body);
          const created = await findMailbox(trx, org.orgId, view.id);
          await recordAuditEvent(trx, { orgId: org.orgId, actor, action: 'mailbox.create', target: { type: 'mailbox', id: created.id }, summary: auditView(created), ip });
          return created;
        })
        .catch(inputProblem);
      return mailboxOut(row);
    },
  }),
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/mailboxes/{mailbox}',
    operationId: 'getMailbox',
    summary: 'One mailbox: its settings (no secrets) and polling status',
    tag: 'Mailboxes',
    permission: 'read',
    params: mailboxParams,
    response: mailbox,
    handler: async ({ db, org, params }) => mailboxOut(await mailboxIn(db, org.orgId, params.mailbox)),
  }),
  orgRoute({
    method: 'patch',
    path: '/orgs/{org}/mailboxes/{mailbox}',
    operationId: 'updateMailbox',
    summary: "Change a mailbox's settings or password",
    description:
      'Send only the fields to change. A new `password` replaces the stored one (password mailboxes only); changing the host, port, user name or password clears `needsReauth`. ' +
      'Changing the folder starts reading it from the beginning.',
    tag: 'Mailboxes',
    permission: 'write',
    params: mailboxParams,
    body: mailboxChangesSchema.describe('The fields to change.'),
    response: mailbox,
    errors: { 409: 'Another mailbox of the organisation has this name.' },
    handler: (ctx) =>
      change(
        ctx,
        'mailbox.update',
        async (trx, before) => {
          if (ctx.body.password !== undefined && before.auth_method !== 'password') throw badRequest('password: this mailbox signs in with OAuth 2.0, not a password.');
          await updateMailbox(trx, ctx.deps.keyring, ctx.org.orgId, before.id, ctx.body);
        },
        (before, after) => ({ changes: differences(auditView(before), auditView(after)), replaced: ctx.body.password === undefined ? [] : ['password'] }),
      ).catch(inputProblem),
  }),
  orgRoute({
    method: 'post',
    path: '/orgs/{org}/mailboxes/{mailbox}/pause',
    operationId: 'pauseMailbox',
    summary: 'Stop polling a mailbox until it is resumed',
    tag: 'Mailboxes',
    permission: 'write',
    params: mailboxParams,
    response: mailbox,
    handler: (ctx) => change(ctx, 'mailbox.pause', (trx, before) => setMailboxPaused(trx, ctx.org.orgId, before.id, true)),
  }),
  orgRoute({
    method: 'post',
    path: '/orgs/{org}/mailboxes/{mailbox}/resume',
    operationId: 'resumeMailbox',
    summary: 'Poll a paused mailbox again',
    tag: 'Mailboxes',
    permission: 'write',
    params: mailboxParams,
    response: mailbox,
    handler: (ctx) => change(ctx, 'mailbox.resume', (trx, before) => setMailboxPaused(trx, ctx.org.orgId, before.id, false)),
  }),
  orgRoute({
    method: 'post',
    path: '/orgs/{org}/mailboxes/{mailbox}/poll',
    operationId: 'pollMailbox',
    summary: 'Poll a mailbox at the next scheduler tick (within about 30 seconds)',
    tag: 'Mailboxes',
    permission: 'write',
    params: mailboxParams,
    status: 202,
    response: mailbox,
    errors: { 409: 'The mailbox is paused, or waits for new credentials.' },
    handler: (ctx) =>
      change(
        ctx,
        'mailbox.poll_request',
        async (trx, before) => {
          if (before.paused) throw conflict('The mailbox is paused: resume it to poll.', 'mailbox_paused');
          if (before.needs_reauth) throw conflict('The server refused the credentials: update them to poll again.', 'mailbox_needs_reauth');
          await requestPoll(trx, ctx.org.orgId, before.id);
        },
        () => ({}),
      ),
  }),
  orgRoute({
    method: 'post',
    path: '/orgs/{org}/mailboxes/{mailbox}/test',
    operationId: 'testMailbox',
    summary: 'Check TLS, sign-in and the folder now, without fetching or changing mail',
    description: 'Answers 200 whether the check passed or not: `ok` says which, and `problem` says what went wrong, in words.',
    tag: 'Mailboxes',
    permission: 'write',
    params: mailboxParams,
    response: z.object({
      ok: z.boolean(),
      detail: z.string().nullable().describe('What was verified, when the check passed.'),
      messages: z.number().int().nullable().describe('Messages in the folder (IMAP) or on the server (POP3).'),
      code: z.string().nullable().describe('Why the check failed: tls_failed, certificate, auth_failed, connect_failed, timeout, folder_missing, invalid_grant…'),
      problem: z.string().nullable().describe('What went wrong and what to do, in words.'),
    }),
    handler: async ({ db, org, params, deps }) => {
      const row = await mailboxIn(db, org.orgId, params.mailbox);
      try {
        const result = await checkMailboxConnection(db, deps.keyring, row);
        return { ok: true, detail: result.detail, messages: result.messages, code: null, problem: null };
      } catch (error) {
        if (error instanceof MailConnectionError || error instanceof OAuthError) return { ok: false, detail: null, messages: null, code: error.code, problem: error.message };
        throw error;
      }
    },
  }),
  orgRoute({
    method: 'delete',
    path: '/orgs/{org}/mailboxes/{mailbox}',
    operationId: 'deleteMailbox',
    summary: 'Remove a mailbox and its stored credentials (reports already stored from it stay)',
    tag: 'Mailboxes',
    permission: 'admin',
    params: mailboxParams,
    response: null,
    handler: async ({ db, org, params, actor, ip }) => {
      await db.transaction().execute(async (trx) => {
        const before = await mailboxIn(trx, org.orgId, params.mailbox);
        await removeMailbox(trx, org.orgId, before.id);
        await recordAuditEvent(trx, { orgId: org.orgId, actor, action: 'mailbox.delete', target: { type: 'mailbox', id: before.id }, summary: auditView(before), ip });
      });
    },
  }),
];
