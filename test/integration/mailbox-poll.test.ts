import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { sql, type KyselyPlugin } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { generateAggregateXml } from '../../bench/synthetic.js';
import { rotateKeys } from '../../src/keys/rotate.js';
import { createKeyring, initCrypto, type Keyring } from '../../src/lib/crypto/index.js';
import { silentLogger } from '../../src/lib/logger.js';
import { claimDueMailbox, claimMailbox } from '../../src/mailboxes/claim.js';
import { checkMailboxConnection } from '../../src/mailboxes/check-connection.js';
import { addMailbox, findMailbox, type MailboxRow } from '../../src/mailboxes/manage.js';
import { pollMailbox, type PollDeps } from '../../src/mailboxes/poll.js';
import { defaultOrgId } from '../../src/orgs/default-org.js';
import { DEFAULT_LIMITS } from '../../src/reports/types.js';
import { describeEachBackend, openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { dovecotAvailable, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { buildMail } from '../helpers/mail.js';

const available = dovecotAvailable();
const CORPUS = path.resolve(import.meta.dirname, '../fixtures/corpus');
const PASSWORD = 'mailbox-password-7Qx';
const never = new AbortController().signal;
let keyring: Keyring;
let counter = 0;

function reportMail(reportId = `poll-${++counter}`, records = 5): Buffer {
  const xml = generateAggregateXml({ records, seed: counter, reportId });
  return buildMail({
    subject: `Report domain: example.com Submitter: google.com Report-ID: ${reportId}`,
    body: { contentType: 'application/gzip', filename: `google.com!example.com!${reportId}.xml.gz`, content: zlib.gzipSync(xml) },
  });
}

const newsletter = () => buildMail({ subject: 'Our spring sale', body: { contentType: 'text/plain', content: 'Buy things!' } });

async function count(db: TestDatabase, table: 'aggregate_report' | 'aggregate_record' | 'tls_report'): Promise<number> {
  return (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(db.db)).rows[0]!.n;
}

let server: DovecotServer;
beforeAll(async () => {
  await initCrypto();
  keyring = createKeyring([{ id: 'k1', key: new Uint8Array(32).fill(9) }]);
  if (available) server = await startDovecot({ users: { dmarc: PASSWORD, 'pop-pglite': PASSWORD, 'pop-postgres': PASSWORD } });
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

describeEachBackend('mailbox polling against Dovecot', (backend) => {
  if (!available) return;
  let database: TestDatabase;
  let orgId: number;
  let deps: PollDeps;
  let user: string;

  beforeEach(async () => {
    database = await openTestDatabase(backend);
    orgId = await defaultOrgId(database.db);
    deps = {
      db: database.db,
      keyring,
      logger: silentLogger,
      limits: DEFAULT_LIMITS,
      keepFailureHeaders: true,
      holder: 'test-worker',
      claimTtlMs: 60_000,
      batchSize: 5,
      socketTimeoutMs: 5000,
    };
    // A fresh folder per test keeps tests independent on one server.
    user = 'dmarc';
  });
  afterEach(async () => {
    await database.close();
  });

  async function mailbox(folder: string, extra: Record<string, unknown> = {}): Promise<MailboxRow> {
    await addMailbox(database.db, keyring, orgId, {
      name: folder,
      host: 'localhost',
      port: server.ports.imaps,
      caPem: server.caPem,
      username: user,
      authMethod: 'password',
      password: PASSWORD,
      folder,
      processedFolder: `${folder}-done`,
      invalidFolder: `${folder}-invalid`,
      ...extra,
    });
    return findMailbox(database.db, orgId, folder);
  }

  async function poll(row: MailboxRow, d: PollDeps = deps) {
    const claimed = await claimMailbox(d.db, row.id, d.holder, d.claimTtlMs);
    expect(claimed).toBeDefined();
    return pollMailbox(d, claimed!, never);
  }

  it('stores reports, then moves each mail to processed or invalid — never deletes', async () => {
    const folder = `first-${backend}`;
    server.deliver(user, folder, fs.readFileSync(path.join(CORPUS, 'dmarc-report-aggregator/google.eml')));
    server.deliver(user, folder, fs.readFileSync(path.join(CORPUS, 'dmarc-report-aggregator/outlook.eml')));
    server.deliver(user, folder, reportMail());
    server.deliver(user, folder, newsletter());
    server.deliver(user, folder, fs.readFileSync(path.join(CORPUS, 'dmarc-report-milter/report-with-unreadable-zip.eml')));
    const row = await mailbox(folder);
    expect((await checkMailboxConnection(database.db, keyring, row)).messages).toBe(5);

    const result = await poll(row);
    expect(result).toMatchObject({ outcome: 'ok', messages: 5, processed: 3, invalid: 2, reportsStored: 3 });
    expect(server.listFolder(user, folder)).toHaveLength(0);
    expect(server.listFolder(user, `${folder}-done`)).toHaveLength(3);
    expect(server.listFolder(user, `${folder}-invalid`)).toHaveLength(2);
    const after = await findMailbox(database.db, orgId, folder);
    expect(after).toMatchObject({ last_outcome: 'ok', consecutive_failures: 0, reports_stored: 3, messages_invalid: 2, claimed_by: null });
    expect(after.next_poll_at.getTime()).toBeGreaterThan(Date.now() + 10 * 60_000);
    const log = await database.db.selectFrom('ingest_log').select(['source', 'outcome', 'problem']).where('outcome', '!=', 'stored').execute();
    expect(log.every((l) => l.source.startsWith(`imap:${row.id}:`))).toBe(true);
    expect(log.map((l) => l.problem).join()).toMatch(/spring sale/);
    const run = await database.db.selectFrom('job_run').selectAll().where('mailbox_id', '=', row.id).executeTakeFirstOrThrow();
    expect(run).toMatchObject({ outcome: 'ok', messages: 5, reports_stored: 3 });
  });

  it('fetches only new mail on the next poll, and a resent report is not counted twice', async () => {
    const folder = `incremental-${backend}`;
    const first = reportMail();
    server.deliver(user, folder, first);
    const row = await mailbox(folder, { afterProcessing: 'seen' });
    expect((await poll(row)).messages).toBe(1);
    expect((await poll(row)).messages).toBe(0);
    server.deliver(user, folder, first);
    server.deliver(user, folder, reportMail());
    const third = await poll(row);
    expect(third).toMatchObject({ messages: 2, processed: 2, reportsStored: 1 });
    expect(await count(database, 'aggregate_report')).toBe(2);
    expect(server.listFolder(user, folder)).toHaveLength(3);
  });

  it('reads the folder again after a UIDVALIDITY change without doubling anything', async () => {
    const folder = `uidvalidity-${backend}`;
    for (let i = 0; i < 3; i++) server.deliver(user, folder, reportMail());
    const row = await mailbox(folder, { afterProcessing: 'none' });
    await poll(row);
    const before = await findMailbox(database.db, orgId, folder);
    server.resetUidValidity(user, folder);
    const again = await poll(await findMailbox(database.db, orgId, folder));
    expect(again).toMatchObject({ outcome: 'ok', messages: 3, processed: 3, reportsStored: 0 });
    const after = await findMailbox(database.db, orgId, folder);
    expect(after.uid_validity).not.toBe(before.uid_validity);
    expect(await count(database, 'aggregate_report')).toBe(3);
  });

  it('loses and doubles nothing when the server dies mid-poll', async () => {
    const victim = await startDovecot({ users: { dmarc: PASSWORD } });
    try {
      const folder = 'INBOX';
      for (let i = 0; i < 20; i++) victim.deliver(user, folder, reportMail(`crash-${backend}-${i}`, 3));
      await addMailbox(database.db, keyring, orgId, {
        name: 'victim',
        host: 'localhost',
        port: victim.ports.imaps,
        caPem: victim.caPem,
        username: user,
        authMethod: 'password',
        password: PASSWORD,
      });
      let stored = 0;
      const killer: KyselyPlugin = {
        transformQuery(args) {
          if (args.node.kind === 'InsertQueryNode' && JSON.stringify(args.node).includes('"aggregate_report"')) {
            stored += 1;
            if (stored === 8) void victim.kill();
          }
          return args.node;
        },
        transformResult: async (args) => args.result,
      };
      const row = await findMailbox(database.db, orgId, 'victim');
      const crashed = await poll(row, { ...deps, db: database.db.withPlugin(killer) });
      expect(crashed.outcome).toBe('error');
      const failed = await findMailbox(database.db, orgId, 'victim');
      expect(failed).toMatchObject({ last_outcome: 'error', consecutive_failures: 1 });
      expect(failed.last_error).toMatch(/closed the connection|stopped answering|lost/);
      await victim.restart();
      const resumed = await poll(await findMailbox(database.db, orgId, 'victim'));
      expect(resumed.outcome).toBe('ok');
      expect(await count(database, 'aggregate_report')).toBe(20);
      expect(await count(database, 'aggregate_record')).toBe(60);
      expect(victim.listFolder(user, 'DMARC Watch/Processed')).toHaveLength(20);
      expect(victim.listFolder(user, 'INBOX')).toHaveLength(0);
      expect((await findMailbox(database.db, orgId, 'victim')).consecutive_failures).toBe(0);
    } finally {
      await victim.stop();
    }
  });

  it('picks up mail that arrives during a poll on the next one', async () => {
    const folder = `arriving-${backend}`;
    for (let i = 0; i < 6; i++) server.deliver(user, folder, reportMail());
    const row = await mailbox(folder);
    let delivered = false;
    const deliverDuringPoll: KyselyPlugin = {
      transformQuery(args) {
        if (!delivered && args.node.kind === 'InsertQueryNode' && JSON.stringify(args.node).includes('"aggregate_report"')) {
          delivered = true;
          server.deliver(user, folder, reportMail('arrived-mid-poll'));
        }
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const first = await poll(row, { ...deps, db: database.db.withPlugin(deliverDuringPoll) });
    expect(delivered).toBe(true);
    expect(first).toMatchObject({ outcome: 'ok', messages: 6 });
    expect(server.listFolder(user, folder)).toHaveLength(1);
    const second = await poll(await findMailbox(database.db, orgId, folder));
    expect(second).toMatchObject({ outcome: 'ok', messages: 1, reportsStored: 1 });
    expect(await count(database, 'aggregate_report')).toBe(7);
  });

  it('abandons cleanly between batches on shutdown and finishes on the next poll', async () => {
    const folder = `shutdown-${backend}`;
    for (let i = 0; i < 12; i++) server.deliver(user, folder, reportMail());
    const row = await mailbox(folder);
    const shutdown = new AbortController();
    let stored = 0;
    const stopAfterFirstBatch: KyselyPlugin = {
      transformQuery(args) {
        if (args.node.kind === 'InsertQueryNode' && JSON.stringify(args.node).includes('"aggregate_report"') && ++stored === 2) shutdown.abort();
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const claimed = await claimMailbox(database.db, row.id, deps.holder, deps.claimTtlMs);
    const first = await pollMailbox({ ...deps, db: database.db.withPlugin(stopAfterFirstBatch) }, claimed!, shutdown.signal);
    expect(first).toMatchObject({ outcome: 'abandoned', messages: 5 });
    const paused = await findMailbox(database.db, orgId, folder);
    expect(paused.claimed_by).toBeNull();
    expect(paused.next_poll_at.getTime()).toBeLessThanOrEqual(Date.now());
    expect(server.listFolder(user, `${folder}-done`)).toHaveLength(5);
    const rest = await poll(paused);
    expect(rest).toMatchObject({ outcome: 'ok', messages: 7 });
    expect(await count(database, 'aggregate_report')).toBe(12);
    const runs = await database.db.selectFrom('job_run').select('outcome').where('mailbox_id', '=', row.id).orderBy('id').execute();
    expect(runs.map((r) => r.outcome)).toEqual(['abandoned', 'ok']);
  });

  it('downloads only the report-bearing parts of a large mail', async () => {
    const folder = `partial-${backend}`;
    const picture = crypto.randomBytes(3 * 1024 * 1024);
    const xml = generateAggregateXml({ records: 5, seed: 77, reportId: `partial-${backend}` });
    server.deliver(
      user,
      folder,
      buildMail({
        subject: 'Fwd: report with a holiday photo',
        body: {
          subtype: 'mixed',
          parts: [
            { contentType: 'text/plain; charset=utf-8', content: 'See the attached report.' },
            { contentType: 'image/jpeg', filename: 'beach.jpg', content: picture },
            { contentType: 'application/gzip', filename: 'google.com!example.com!1!2.xml.gz', content: zlib.gzipSync(xml) },
          ],
        },
      }),
    );
    const row = await mailbox(folder);
    const since = server.log().length;
    const result = await poll(row);
    expect(result).toMatchObject({ outcome: 'ok', messages: 1, processed: 1, reportsStored: 1 });
    const logout = await server.waitForLog(/imap\(dmarc\).*Logged out/, { since });
    const bodyBytes = Number(/body_bytes=(\d+)/.exec(logout)?.[1]);
    expect(bodyBytes).toBeGreaterThan(0);
    expect(bodyBytes).toBeLessThan(100_000);
    expect(server.listFolder(user, `${folder}-done`)).toHaveLength(1);
  });

  it('lets racing workers share mailboxes without polling one twice or storing a report twice', async () => {
    const folders = [0, 1, 2].map((i) => `race-${backend}-${i}`);
    for (const folder of folders) {
      for (let i = 0; i < 4; i++) server.deliver(user, folder, reportMail(`race-${folder}-${i}`));
      server.deliver(user, folder, reportMail('shared-report-in-every-folder'));
      await mailbox(folder);
    }
    const worker = async (holder: string) => {
      const done: string[] = [];
      for (;;) {
        const row = await claimDueMailbox(database.db, holder, 60_000);
        if (!row) return done;
        await pollMailbox({ ...deps, holder }, row, never);
        done.push(row.name);
      }
    };
    const results = await Promise.all(['w1', 'w2', 'w3', 'w4'].map(worker));
    expect(results.flat().sort()).toEqual(folders);
    expect(await count(database, 'aggregate_report')).toBe(13);
    const runs = await database.db.selectFrom('job_run').select(['mailbox_id']).execute();
    expect(runs).toHaveLength(3);
  });

  it('keeps polling after the keys are rotated', async () => {
    const folder = `rotate-${backend}`;
    server.deliver(user, folder, reportMail());
    const row = await mailbox(folder);
    const rotated = createKeyring([
      { id: 'k2', key: new Uint8Array(32).fill(10) },
      { id: 'k1', key: new Uint8Array(32).fill(9) },
    ]);
    expect((await rotateKeys(database.db, rotated)).resealed).toBe(1);
    const onlyNew = createKeyring([{ id: 'k2', key: new Uint8Array(32).fill(10) }]);
    expect(await poll(row, { ...deps, keyring: onlyNew })).toMatchObject({ outcome: 'ok', reportsStored: 1 });
  });

  it('polls POP3 by UIDL, leaving mail on the server or deleting it after commit', async () => {
    const pop = `pop-${backend}`;
    for (let i = 0; i < 3; i++) server.deliver(pop, 'INBOX', reportMail(`pop-${backend}-${i}`));
    server.deliver(pop, 'INBOX', newsletter());
    const add = (name: string, afterProcessing: string) =>
      addMailbox(database.db, keyring, orgId, {
        name,
        protocol: 'pop3',
        host: 'localhost',
        port: server.ports.pop3s,
        caPem: server.caPem,
        username: pop,
        authMethod: 'password',
        password: PASSWORD,
        afterProcessing,
      });
    await add('keep', 'none');
    const keep = await poll(await findMailbox(database.db, orgId, 'keep'));
    expect(keep).toMatchObject({ outcome: 'ok', messages: 4, reportsStored: 3, invalid: 1 });
    expect(await poll(await findMailbox(database.db, orgId, 'keep'))).toMatchObject({ messages: 0 });
    expect(server.listFolder(pop, 'INBOX')).toHaveLength(4);

    await add('delete', 'delete');
    const del = await poll(await findMailbox(database.db, orgId, 'delete'));
    expect(del).toMatchObject({ outcome: 'ok', messages: 4, processed: 3, reportsStored: 0 });
    expect(server.listFolder(pop, 'INBOX')).toHaveLength(1);
    expect(await count(database, 'aggregate_report')).toBe(3);
  });

  it('refreshes OAuth2 tokens and marks a revoked grant as needing re-authorisation', async () => {
    const tokenServer = await startTokenEndpoint();
    const oauthDovecot = await startDovecot({ users: {}, oauthTokens: new Map([['fresh-access-token', 'dmarc']]) });
    try {
      oauthDovecot.deliver('dmarc', 'INBOX', reportMail());
      await addMailbox(database.db, keyring, orgId, {
        name: 'oauth',
        host: 'localhost',
        port: oauthDovecot.ports.imaps,
        caPem: oauthDovecot.caPem,
        username: 'dmarc',
        authMethod: 'oauth2',
        oauthProvider: 'custom',
        oauthTokenUrl: tokenServer.url,
        oauthClientId: 'client-1',
        oauthClientSecret: 'client-secret-1',
        oauthRefreshToken: 'refresh-good',
      });
      const ok = await poll(await findMailbox(database.db, orgId, 'oauth'));
      expect(ok).toMatchObject({ outcome: 'ok', reportsStored: 1 });
      const row = await findMailbox(database.db, orgId, 'oauth');
      expect(row.oauth_access_token_sealed).not.toBeNull();
      expect(Buffer.from(row.oauth_refresh_token_sealed!).toString('latin1')).not.toContain('refresh-rotated');
      expect(tokenServer.refreshes()).toBe(1);

      await sql`update mailbox set oauth_access_expires_at = now() - interval '1 minute'`.execute(database.db);
      tokenServer.revoke();
      const revoked = await poll(await findMailbox(database.db, orgId, 'oauth'));
      expect(revoked.outcome).toBe('error');
      const after = await findMailbox(database.db, orgId, 'oauth');
      expect(after.needs_reauth).toBe(true);
      expect(after.last_error).not.toContain('refresh-rotated');
      expect(await claimDueMailbox(database.db, 'x', 60_000)).toBeUndefined();
    } finally {
      await oauthDovecot.stop();
      await tokenServer.close();
    }
  });
});

async function startTokenEndpoint() {
  let revoked = false;
  let refreshes = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      res.setHeader('content-type', 'application/json');
      const valid = !revoked && ['refresh-good', 'refresh-rotated'].includes(form.get('refresh_token') ?? '') && form.get('client_secret') === 'client-secret-1';
      if (!valid) {
        res.statusCode = 400;
        res.end(JSON.stringify({ error: 'invalid_grant', error_description: 'Token has been expired or revoked.' }));
        return;
      }
      refreshes += 1;
      res.end(JSON.stringify({ access_token: 'fresh-access-token', token_type: 'Bearer', expires_in: 3600, refresh_token: 'refresh-rotated' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/token`,
    revoke: () => {
      revoked = true;
    },
    refreshes: () => refreshes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
