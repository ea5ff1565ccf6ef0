import fs from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { buildDeps, mailboxPollDeps, type Deps } from '../deps.js';
import { processHolderId } from '../jobs/scheduler.js';
import { createLogger } from '../lib/logger.js';
import { claimMailbox } from '../mailboxes/claim.js';
import { checkMailboxConnection } from '../mailboxes/check-connection.js';
import { MailConnectionError } from '../mailboxes/mail-server.js';
import {
  addMailbox,
  findMailbox,
  listMailboxes,
  MailboxInputError,
  MailboxNotFoundError,
  removeMailbox,
  setMailboxPaused,
  type MailboxView,
} from '../mailboxes/manage.js';
import { OAuthError } from '../mailboxes/oauth2.js';
import { pollMailbox } from '../mailboxes/poll.js';
import { defaultOrgId } from '../orgs/default-org.js';
import { UsageError, type CliIo, type Command } from './io.js';
import { promptSecret } from './prompt.js';

const USAGE = `Usage: dmarcwatch mailbox <command> [options]

  add       --name NAME --host HOST --user USER [--protocol imap|pop3] [--port N]
            [--tls implicit|starttls] [--ca-file PEM] [--folder INBOX]
            [--after move|seen|delete|none] [--interval MINUTES]
            [--oauth google|microsoft|custom --client-id ID [--token-url URL]]
            Asks for the password (or OAuth refresh token and client secret) without echo;
            without a terminal, reads them from standard input, one per line.
  list      show every mailbox with its last poll and error
  test NAME check TLS, login and folder without fetching anything
  poll NAME poll now and print what was stored
  pause NAME | resume NAME | remove NAME

Mail is only ever moved (to "DMARC Watch/Processed" or "DMARC Watch/Invalid") after its reports
are stored; it is deleted only with --after delete, and refused mail is never deleted.`;

function line(m: MailboxView): string {
  const state = m.paused ? 'paused' : m.needsReauth ? 'NEEDS RE-AUTHORISATION' : (m.lastOutcome ?? 'never polled');
  const last = m.lastPollFinishedAt ? m.lastPollFinishedAt.toISOString().replace('T', ' ').slice(0, 16) : '-';
  const error = m.lastError ? `\n      last error: ${m.lastError}` : '';
  return `  ${m.name}  ${m.protocol}://${m.username}@${m.host}:${m.port} ${m.folder}  every ${m.pollIntervalMinutes} min  last poll ${last} (${state})  ${m.reportsStored} report(s)${error}`;
}

async function withDeps<T>(io: CliIo, fn: (deps: Deps, orgId: number) => Promise<T>): Promise<T> {
  const deps = await buildDeps(loadConfig(io.env), { logger: createLogger({ level: 'warn' }) });
  try {
    return await fn(deps, await defaultOrgId(deps.database.db));
  } finally {
    await deps.database.close();
  }
}

async function add(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      name: { type: 'string' },
      host: { type: 'string' },
      user: { type: 'string' },
      protocol: { type: 'string' },
      port: { type: 'string' },
      tls: { type: 'string' },
      'ca-file': { type: 'string' },
      folder: { type: 'string' },
      after: { type: 'string' },
      interval: { type: 'string' },
      oauth: { type: 'string' },
      'client-id': { type: 'string' },
      'token-url': { type: 'string' },
    },
  });
  const input: Record<string, unknown> = {
    name: values.name,
    host: values.host,
    username: values.user,
    protocol: values.protocol,
    port: values.port,
    tlsMode: values.tls,
    caPem: values['ca-file'] ? await fs.readFile(values['ca-file'], 'utf8') : undefined,
    folder: values.folder,
    afterProcessing: values.after,
    pollIntervalMinutes: values.interval,
  };
  if (values.oauth) {
    Object.assign(input, {
      authMethod: 'oauth2',
      oauthProvider: values.oauth,
      oauthClientId: values['client-id'],
      oauthTokenUrl: values['token-url'],
      oauthRefreshToken: await promptSecret('OAuth refresh token: ', process.stdin, io.stderr),
      oauthClientSecret: (await promptSecret('OAuth client secret (empty for none): ', process.stdin, io.stderr)) || null,
    });
  } else {
    input.authMethod = 'password';
    input.password = await promptSecret(`Password for ${values.user ?? 'the user'} at ${values.host ?? 'the server'}: `, process.stdin, io.stderr);
  }
  return withDeps(io, async (deps, orgId) => {
    const mailbox = await addMailbox(deps.database.db, deps.keyring, orgId, input);
    io.stdout.write(`Added mailbox ${mailbox.name}. Check it with \`dmarcwatch mailbox test ${mailbox.name}\`.\n`);
    return 0;
  });
}

export const mailboxCommand: Command = {
  name: 'mailbox',
  summary: 'add, list, test and poll the mailboxes reports arrive in',
  usage: USAGE,
  async run(args, io) {
    const [sub, ...rest] = args;
    try {
      switch (sub) {
        case 'add':
          return await add(rest, io);
        case 'list':
          return await withDeps(io, async (deps, orgId) => {
            const all = await listMailboxes(deps.database.db, orgId);
            io.stdout.write(all.length ? `${all.map(line).join('\n')}\n` : 'No mailboxes yet: add one with `dmarcwatch mailbox add`.\n');
            return 0;
          });
        case 'test':
          return await withDeps(io, async (deps, orgId) => {
            const row = await findMailbox(deps.database.db, orgId, requireName(rest));
            const check = await checkMailboxConnection(deps.database.db, deps.keyring, row);
            io.stdout.write(`OK: ${check.detail}\n`);
            return 0;
          });
        case 'poll':
          return await withDeps(io, async (deps, orgId) => {
            const found = await findMailbox(deps.database.db, orgId, requireName(rest));
            const holder = processHolderId();
            const row = await claimMailbox(deps.database.db, found.id, holder, 10 * 60_000);
            if (!row) {
              io.stderr.write(`Mailbox ${found.name} is being polled by another worker right now; try again in a moment.\n`);
              return 1;
            }
            const result = await pollMailbox(
              mailboxPollDeps(deps, holder),
              row,
              new AbortController().signal,
            );
            io.stdout.write(
              `${result.outcome === 'ok' ? 'Polled' : 'Poll failed for'} ${found.name}: ${result.messages} message(s), ` +
                `${result.reportsStored} report(s) stored, ${result.invalid} moved to invalid.\n`,
            );
            if (result.error) io.stdout.write(`  ${result.error}\n`);
            return result.outcome === 'error' ? 1 : 0;
          });
        case 'pause':
        case 'resume':
          return await withDeps(io, async (deps, orgId) => {
            const m = await setMailboxPaused(deps.database.db, orgId, requireName(rest), sub === 'pause');
            io.stdout.write(`${m.name} is ${m.paused ? 'paused' : 'active'}.\n`);
            return 0;
          });
        case 'remove':
          return await withDeps(io, async (deps, orgId) => {
            await removeMailbox(deps.database.db, orgId, requireName(rest));
            io.stdout.write('Removed. Reports already stored from it are kept.\n');
            return 0;
          });
        default:
          throw new UsageError('mailbox needs one of: add, list, test, poll, pause, resume, remove');
      }
    } catch (error) {
      if (error instanceof MailboxInputError || error instanceof MailboxNotFoundError) {
        io.stderr.write(`${error.message}\n`);
        return 1;
      }
      if (error instanceof MailConnectionError || error instanceof OAuthError) {
        io.stderr.write(`Failed: ${error.message}\n`);
        return 1;
      }
      throw error;
    }
  },
};

function requireName(rest: string[]): string {
  const [name] = rest;
  if (!name) throw new UsageError('name the mailbox (see `dmarcwatch mailbox list`)');
  return name;
}
