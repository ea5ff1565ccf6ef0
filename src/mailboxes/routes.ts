import type { Kysely } from 'kysely';
import { z } from 'zod';
import { orgRoute, type OrgContext } from '../api/define.js';
import { badRequest, conflict, notFound } from '../api/errors.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../api/pagination.js';
import { iso, orgParams, timestamp } from '../api/schemas.js';
import type { DB } from '../db/schema.js';
import { testMailboxConnection } from './check-connection.js';
import {
  createMailbox,
  deleteMailbox,
  editMailbox,
  mailboxStatus,
  MailboxStateError,
  pauseMailbox,
  pollMailboxSoon,
  resumeMailbox,
  type MailboxChangeBy,
} from './mailbox-changes.js';
import { mailboxChangesSchema, newMailboxSchema } from './mailbox-input.js';
import { findMailbox, MailboxInputError, MailboxNotFoundError, viewMailbox, type MailboxRow } from './manage.js';

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
    ...mailboxStatus(row),
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

/** The mailbox use cases' refusals in the API's error shape. */
function refusal(error: unknown): never {
  if (error instanceof MailboxNotFoundError) throw notFound('Mailbox');
  if (error instanceof MailboxStateError) throw conflict(error.message, error.code);
  if (error instanceof MailboxInputError) {
    if (/already exists/.test(error.message)) throw conflict(`${error.message}.`, 'mailbox_exists');
    throw badRequest(error.message);
  }
  throw error;
}

/** Runs an audited change of the mailbox in the path, answering with the mailbox after it. */
async function change(ctx: Ctx, work: (by: MailboxChangeBy, ref: string) => Promise<MailboxRow>): Promise<z.input<typeof mailbox>> {
  const { org, params, actor, ip } = ctx;
  if (/^\d+$/.test(params.mailbox) && !Number.isSafeInteger(Number(params.mailbox))) throw notFound('Mailbox');
  return mailboxOut(await work({ orgId: org.orgId, actor, ip }, params.mailbox).catch(refusal));
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
    handler: async ({ db, org, body, actor, ip, deps }) => mailboxOut(await createMailbox(db, deps.keyring, { orgId: org.orgId, actor, ip }, body).catch(refusal)),
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
    handler: (ctx) => change(ctx, (by, ref) => editMailbox(ctx.db, ctx.deps.keyring, by, ref, ctx.body)),
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
    handler: (ctx) => change(ctx, (by, ref) => pauseMailbox(ctx.db, by, ref)),
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
    handler: (ctx) => change(ctx, (by, ref) => resumeMailbox(ctx.db, by, ref)),
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
    handler: (ctx) => change(ctx, (by, ref) => pollMailboxSoon(ctx.db, by, ref)),
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
    handler: async ({ db, org, params, deps }) => testMailboxConnection(db, deps.keyring, await mailboxIn(db, org.orgId, params.mailbox)),
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
      if (/^\d+$/.test(params.mailbox) && !Number.isSafeInteger(Number(params.mailbox))) throw notFound('Mailbox');
      await deleteMailbox(db, { orgId: org.orgId, actor, ip }, params.mailbox).catch(refusal);
    },
  }),
];
