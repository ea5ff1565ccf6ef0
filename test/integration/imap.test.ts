import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapSession, testImap, type FetchedMessage, type ImapCursor } from '../../src/mailboxes/imap/index.js';
import { MailConnectionError, type MailAuth, type MailServerSettings } from '../../src/mailboxes/mail-server.js';
import { dovecotAvailable, recordingProxy, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { startIntrospection, type IntrospectionServer } from '../helpers/oauth-introspection.js';

const haveDovecot = dovecotAvailable();

const PASSWORD = 'correct horse battery staple';
const USERS = ['alice', 'cursor', 'uidv', 'mover', 'seen', 'deleter', 'large', 'many', 'crash', 'stuck'];

function message(subject: string, body = `Body of ${subject}\r\n`): string {
  return `From: reports@example.net\r\nTo: dmarc@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.net>\r\n\r\n${body}`;
}

function password(user: string, secret = PASSWORD): MailAuth {
  return { method: 'password', username: user, password: secret };
}

async function failure(work: Promise<unknown>): Promise<MailConnectionError> {
  const error = await work.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MailConnectionError);
  return error as MailConnectionError;
}

async function collect(session: ImapSession, cursor: ImapCursor | null, options = { batchSize: 50, maxBytes: 1024 * 1024 }): Promise<FetchedMessage[][]> {
  const batches: FetchedMessage[][] = [];
  for await (const batch of session.fetchNew(cursor, options)) batches.push(batch);
  return batches;
}

async function withSession<T>(settings: MailServerSettings, auth: MailAuth, folder: string, work: (s: ImapSession) => Promise<T>): Promise<T> {
  const session = await ImapSession.open(settings, auth);
  try {
    await session.selectFolder(folder);
    return await work(session);
  } finally {
    await session.close();
  }
}

describe.skipIf(!haveDovecot)('IMAP client against a real Dovecot', () => {
  let dovecot: DovecotServer;
  let introspection: IntrospectionServer;
  let implicit: MailServerSettings;
  let starttls: MailServerSettings;

  beforeAll(async () => {
    introspection = await startIntrospection();
    dovecot = await startDovecot({
      users: Object.fromEntries(USERS.map((u) => [u, PASSWORD])),
      oauth2: { introspectionUrl: introspection.url },
    });
    implicit = { host: dovecot.host, port: dovecot.ports.imaps, tls: 'implicit', caPem: dovecot.caPem, connectTimeoutMs: 5_000, socketTimeoutMs: 5_000 };
    starttls = { ...implicit, port: dovecot.ports.imap, tls: 'starttls' };
  });

  afterAll(async () => {
    await dovecot?.stop();
    await introspection?.stop();
  });

  describe('TLS', () => {
    it('logs in over implicit TLS and reports the folder without fetching anything', async () => {
      dovecot.deliver('alice', 'INBOX', message('hello'));
      const result = await testImap(implicit, password('alice'), 'INBOX');
      expect(result).toMatchObject({ folder: 'INBOX', messages: 1, serverGreeting: expect.stringContaining('Dovecot') });
      expect(result.uidValidity).toBeGreaterThan(0);
      await dovecot.waitForLog(/imap-login: Info: Login: user=<alice>, method=PLAIN, .*TLS/);
      expect(await dovecot.waitForLog(/imap\(alice\).*Logged out/)).toMatch(/body_count=0 body_bytes=0/);
    });

    it('upgrades the plaintext port with STARTTLS before logging in', async () => {
      const result = await testImap(starttls, password('alice'), 'INBOX');
      expect(result.messages).toBe(1);
    });

    it('verifies the host name "localhost" against the certificate', async () => {
      const result = await testImap({ ...implicit, host: 'localhost' }, password('alice'), 'INBOX');
      expect(result.messages).toBe(1);
    });

    it('refuses the certificate of a private CA unless that CA is configured', async () => {
      for (const settings of [
        { ...implicit, caPem: null },
        { ...starttls, caPem: undefined },
      ]) {
        const error = await failure(testImap(settings, password('alice'), 'INBOX'));
        expect(error.code).toBe('certificate');
        expect(error.message).toMatch(/not trusted/);
        expect(error.message).toMatch(/CA certificate/);
      }
    });
  });

  describe('refusals before any credential is sent', () => {
    it('refuses settings without TLS and a CA certificate that cannot be read, before connecting', async () => {
      const noTls = await failure(testImap({ ...implicit, tls: 'none' as unknown as 'implicit' }, password('alice'), 'INBOX'));
      expect(noTls.code).toBe('tls_required');
      const badCa = await failure(testImap({ ...implicit, caPem: '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n' }, password('alice'), 'INBOX'));
      expect(badCa.code).toBe('certificate');
      expect(badCa.message).toMatch(/not a readable PEM certificate/);
    });

    it('refuses a plaintext-only server (no STARTTLS) without writing the credentials', async () => {
      const plain = await startDovecot({ users: { alice: PASSWORD }, tls: false });
      const proxy = await recordingProxy(plain.ports.imap);
      const mark = plain.log().length;
      try {
        const error = await failure(testImap({ ...starttls, port: proxy.port }, password('alice'), 'INBOX'));
        expect(error.code).toBe('tls_required');
        expect(error.message).toMatch(/does not offer STARTTLS/);
        const written = proxy.clientBytes().toString('latin1');
        expect(written.length).toBeGreaterThan(0);
        expect(written).not.toContain(PASSWORD);
        expect(written).not.toContain(Buffer.from(`\0alice\0${PASSWORD}`).toString('base64'));
        expect(written).not.toMatch(/LOGIN|AUTHENTICATE/i);
        await plain.waitForLog(/imap-login: .*Disconnected.*no auth attempts/, { since: mark });
        expect(plain.log()).not.toMatch(/Login:|auth failed|passwd-file/);
      } finally {
        await proxy.close();
        await plain.stop();
      }
    });

    it('reports implicit TLS against a plaintext port as a TLS failure', async () => {
      const error = await failure(testImap({ ...implicit, port: dovecot.ports.imap }, password('alice'), 'INBOX'));
      expect(error.code).toBe('tls_failed');
      expect(error.message).toMatch(/did not answer with TLS/);
    });

    it('refuses a self-signed certificate for another host, even when that certificate is trusted', async () => {
      const bad = await startDovecot({ users: { alice: PASSWORD }, certificate: 'wrong-host' });
      try {
        const untrusted = await failure(testImap({ ...implicit, port: bad.ports.imaps, caPem: null }, password('alice'), 'INBOX'));
        expect(untrusted.code).toBe('certificate');
        expect(untrusted.message).toMatch(/self-signed/);
        expect(untrusted.message).toMatch(/CA certificate \(PEM\)/);

        const mark = bad.log().length;
        const wrongHost = await failure(testImap({ ...starttls, port: bad.ports.imap, caPem: bad.caPem }, password('alice'), 'INBOX'));
        expect(wrongHost.code).toBe('certificate');
        expect(wrongHost.message).toMatch(/not valid for this host name/);
        expect(wrongHost.message).toMatch(/CA certificate configured for this mailbox did not make it valid/);
        await bad.waitForLog(/imap-login: .*Disconnected.*no auth attempts/, { since: mark });
        expect(bad.log()).not.toMatch(/Login:|passwd-file/);
      } finally {
        await bad.stop();
      }
    });
  });

  describe('authentication', () => {
    it('reports a wrong password as auth_failed', async () => {
      const error = await failure(testImap(implicit, password('alice', 'wrong password'), 'INBOX'));
      expect(error.code).toBe('auth_failed');
      expect(error.message).toMatch(/rejected the username or password for alice/);
      expect(error.message).not.toContain('wrong password');
    });

    it('logs in with an OAuth2 token the provider accepts (OAUTHBEARER when offered)', async () => {
      introspection.allow('token-good', 'alice');
      const result = await testImap(implicit, { method: 'oauth2', username: 'alice', accessToken: 'token-good' }, 'INBOX');
      expect(result.messages).toBe(1);
      expect(introspection.asked).toContain('token-good');
      await dovecot.waitForLog(/Login: user=<alice>, method=OAUTHBEARER/);
    });

    it('reports a token the provider calls inactive as oauth_expired', async () => {
      introspection.allow('token-revoked', 'alice');
      introspection.revoke('token-revoked');
      const error = await failure(testImap(implicit, { method: 'oauth2', username: 'alice', accessToken: 'token-revoked' }, 'INBOX'));
      expect(error.code).toBe('oauth_expired');
      expect(error.message).toMatch(/invalid or expired \(status invalid_token\)/);
      expect(error.message).not.toContain('token-revoked');
    });

    it('uses XOAUTH2 on a server that only offers XOAUTH2', async () => {
      const xoauth = await startDovecot({ users: { alice: PASSWORD }, oauth2: { introspectionUrl: introspection.url, mechanisms: ['xoauth2'] } });
      try {
        const settings = { ...implicit, port: xoauth.ports.imaps, caPem: xoauth.caPem };
        introspection.allow('token-x', 'alice');
        await expect(testImap(settings, { method: 'oauth2', username: 'alice', accessToken: 'token-x' }, 'INBOX')).resolves.toMatchObject({ messages: 0 });
        await xoauth.waitForLog(/Login: user=<alice>, method=XOAUTH2/);

        const refused = await failure(testImap(settings, { method: 'oauth2', username: 'alice', accessToken: 'token-unknown' }, 'INBOX'));
        expect(refused.code).toBe('oauth_expired');
      } finally {
        await xoauth.stop();
      }
    });

    it('reports a folder that does not exist as folder_missing', async () => {
      const error = await failure(testImap(implicit, password('alice'), 'No Such Folder'));
      expect(error.code).toBe('folder_missing');
      expect(error.message).toMatch(/"No Such Folder" does not exist/);
    });
  });

  describe('fetching', () => {
    it('fetches everything first, then only what is new, including mail delivered between polls', async () => {
      for (const n of [1, 2, 3]) dovecot.deliver('cursor', 'INBOX', message(`first ${n}`));
      const first = await withSession(implicit, password('cursor'), 'INBOX', async (s) => ({
        folder: await s.selectFolder('INBOX'),
        batches: await collect(s, null),
      }));
      const all = first.batches.flat();
      expect(all.map((m) => m.raw!.toString())).toEqual([1, 2, 3].map((n) => message(`first ${n}`)));
      expect(all.every((m) => !m.tooLarge && m.size === m.raw!.length)).toBe(true);
      const cursor: ImapCursor = { uidValidity: first.folder.uidValidity, lastUid: Math.max(...all.map((m) => m.uid)) };

      const none = await withSession(implicit, password('cursor'), 'INBOX', (s) => collect(s, cursor));
      expect(none.flat()).toEqual([]);

      dovecot.deliver('cursor', 'INBOX', message('between 1'));
      dovecot.deliver('cursor', 'INBOX', message('between 2'));
      const next = (await withSession(implicit, password('cursor'), 'INBOX', (s) => collect(s, cursor))).flat();
      expect(next.map((m) => m.raw!.toString())).toEqual([message('between 1'), message('between 2')]);
      expect(next.every((m) => m.uid > cursor.lastUid)).toBe(true);

      // Nothing was marked seen by fetching (BODY.PEEK).
      expect(dovecot.listFolder('cursor', 'INBOX').some((m) => m.seen)).toBe(false);
    });

    it('fetches the whole folder again after UIDVALIDITY changed', async () => {
      for (const n of [1, 2]) dovecot.deliver('uidv', 'INBOX', message(`uidv ${n}`));
      const before = await withSession(implicit, password('uidv'), 'INBOX', async (s) => ({ folder: await s.selectFolder('INBOX'), all: (await collect(s, null)).flat() }));
      const cursor = { uidValidity: before.folder.uidValidity, lastUid: Math.max(...before.all.map((m) => m.uid)) };
      expect(await withSession(implicit, password('uidv'), 'INBOX', (s) => collect(s, cursor))).toEqual([]);

      dovecot.resetUidValidity('uidv', 'INBOX');
      const after = await withSession(implicit, password('uidv'), 'INBOX', async (s) => ({ folder: await s.selectFolder('INBOX'), all: (await collect(s, cursor)).flat() }));
      expect(after.folder.uidValidity).not.toBe(before.folder.uidValidity);
      expect(after.all.map((m) => m.raw!.toString()).sort()).toEqual([message('uidv 1'), message('uidv 2')].sort());
    });

    it('does not download a message over maxBytes and yields it as too large', async () => {
      const big = message('big', `${'x'.repeat(998)}\r\n`.repeat(300));
      dovecot.deliver('large', 'INBOX', message('small before'));
      dovecot.deliver('large', 'INBOX', big);
      dovecot.deliver('large', 'INBOX', message('small after'));
      const all = (await withSession(implicit, password('large'), 'INBOX', (s) => collect(s, null, { batchSize: 10, maxBytes: 100_000 }))).flat();
      expect(all.map((m) => m.tooLarge)).toEqual([false, true, false]);
      expect(all[1]).toMatchObject({ raw: null, tooLarge: true, size: big.length });
      // Dovecot's own count of body bytes sent: only the two small messages went over the wire.
      const smallBytes = message('small before').length + message('small after').length;
      expect(await dovecot.waitForLog(/imap\(large\).*Logged out/)).toMatch(new RegExp(`body_count=2 body_bytes=${smallBytes}\\b`));
    });

    it('fetches 500 messages in UID order, in batches of the requested size', async () => {
      for (let n = 0; n < 500; n++) dovecot.deliver('many', 'INBOX', message(`bulk ${n}`));
      const started = Date.now();
      const batches = await withSession(implicit, password('many'), 'INBOX', (s) => collect(s, null, { batchSize: 60, maxBytes: 1024 * 1024 }));
      expect(batches.map((b) => b.length)).toEqual([...Array(8).fill(60), 20]);
      const uids = batches.flat().map((m) => m.uid);
      expect(uids).toEqual([...uids].sort((a, b) => a - b));
      expect(new Set(uids).size).toBe(500);
      expect(batches.flat().map((m) => m.raw!.toString())).toEqual(Array.from({ length: 500 }, (_, n) => message(`bulk ${n}`)));
      expect(Date.now() - started).toBeLessThan(15_000);
    });
  });

  describe('settling processed mail', () => {
    it('moves messages to a folder it creates, and into it again once it exists', async () => {
      for (const n of [1, 2, 3]) dovecot.deliver('mover', 'INBOX', message(`move ${n}`));
      await withSession(implicit, password('mover'), 'INBOX', async (s) => {
        const [batch] = await collect(s, null);
        await s.moveTo([batch![0]!.uid, batch![1]!.uid], 'DMARC Watch/Processed');
      });
      expect(dovecot.listFolder('mover', 'DMARC Watch/Processed').map((m) => m.raw.toString())).toEqual([message('move 1'), message('move 2')]);
      expect(dovecot.listFolder('mover', 'INBOX').map((m) => m.raw.toString())).toEqual([message('move 3')]);

      await withSession(implicit, password('mover'), 'INBOX', async (s) => {
        const [batch] = await collect(s, null);
        await s.moveTo(batch!.map((m) => m.uid), 'DMARC Watch/Processed');
      });
      expect(dovecot.listFolder('mover', 'INBOX')).toEqual([]);
      expect(dovecot.listFolder('mover', 'DMARC Watch/Processed')).toHaveLength(3);
    });

    it('marks messages seen', async () => {
      for (const n of [1, 2, 3]) dovecot.deliver('seen', 'INBOX', message(`seen ${n}`));
      await withSession(implicit, password('seen'), 'INBOX', async (s) => {
        const [batch] = await collect(s, null);
        await s.markSeen([batch![0]!.uid, batch![2]!.uid]);
      });
      const files = dovecot.listFolder('seen', 'INBOX');
      const seen = Object.fromEntries(files.map((m) => [m.raw.toString(), m.seen]));
      expect(seen).toEqual({ [message('seen 1')]: true, [message('seen 2')]: false, [message('seen 3')]: true });
    });

    it('deletes messages', async () => {
      for (const n of [1, 2]) dovecot.deliver('deleter', 'INBOX', message(`delete ${n}`));
      await withSession(implicit, password('deleter'), 'INBOX', async (s) => {
        const [batch] = await collect(s, null);
        await s.deleteMessages([batch![0]!.uid]);
      });
      expect(dovecot.listFolder('deleter', 'INBOX').map((m) => m.raw.toString())).toEqual([message('delete 2')]);
    });

    it('refuses to be used after close', async () => {
      const session = await ImapSession.open(implicit, password('alice'));
      await session.close();
      await session.close();
      const error = await failure(session.selectFolder('INBOX'));
      expect(error.message).toMatch(/closed; open a new one/);
    });
  });

  describe('failures', () => {
    it('times out on a server that never greets', async () => {
      const silent = net.createServer(() => {});
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
      try {
        const port = (silent.address() as net.AddressInfo).port;
        const started = Date.now();
        const error = await failure(testImap({ ...implicit, tls: 'starttls', port, connectTimeoutMs: 400 }, password('alice'), 'INBOX'));
        expect(error.code).toBe('timeout');
        expect(Date.now() - started).toBeLessThan(3_000);
      } finally {
        silent.close();
      }
    });

    it('reports a refused connection as connect_failed', async () => {
      const silent = net.createServer();
      const port = await new Promise<number>((resolve) => silent.listen(0, '127.0.0.1', () => resolve((silent.address() as net.AddressInfo).port)));
      await new Promise((resolve) => silent.close(resolve));
      const error = await failure(testImap({ ...implicit, port }, password('alice'), 'INBOX'));
      expect(error.code).toBe('connect_failed');
    });

    it('times out when the server stops answering in the middle of a session', async () => {
      dovecot.deliver('stuck', 'INBOX', message('stuck'));
      const session = await ImapSession.open({ ...implicit, socketTimeoutMs: 500 }, password('stuck'));
      try {
        await session.selectFolder('INBOX');
        dovecot.freeze();
        const started = Date.now();
        const error = await failure(collect(session, null));
        expect(error.code).toBe('timeout');
        expect(Date.now() - started).toBeLessThan(3_000);
      } finally {
        dovecot.thaw();
        await session.close();
      }
      await expect(testImap(implicit, password('stuck'), 'INBOX')).resolves.toMatchObject({ messages: 1 });
    });

    it('turns a server killed mid-fetch into a MailConnectionError, and works with a new session after restart', async () => {
      const body = `${'y'.repeat(998)}\r\n`.repeat(40);
      for (let n = 0; n < 300; n++) dovecot.deliver('crash', 'INBOX', message(`crash ${n}`, body));
      const session = await ImapSession.open(implicit, password('crash'));
      let received = 0;
      try {
        await session.selectFolder('INBOX');
        const fetching = (async () => {
          for await (const batch of session.fetchNew(null, { batchSize: 100, maxBytes: 1024 * 1024 })) {
            received += batch.length;
            if (received === 100) await dovecot.kill();
          }
        })();
        const error = await failure(fetching);
        expect(error.code).toBe('connect_failed');
        expect(error.message).toMatch(/was lost/);
        expect(received).toBe(100);
        await expect(session.moveTo([1], 'Elsewhere')).rejects.toBeInstanceOf(MailConnectionError);
      } finally {
        await session.close();
      }

      // A FETCH cut off while the server is streaming it.
      await dovecot.restart();
      const second = await ImapSession.open(implicit, password('crash'));
      try {
        await second.selectFolder('INBOX');
        const iterator = second.fetchNew(null, { batchSize: 300, maxBytes: 1024 * 1024 });
        const outcome = failure(iterator.next());
        await new Promise((resolve) => setTimeout(resolve, 30));
        await dovecot.kill();
        const error = await outcome;
        expect(['connect_failed', 'timeout']).toContain(error.code);
      } finally {
        await second.close();
      }

      await dovecot.restart();
      const all = (await withSession(implicit, password('crash'), 'INBOX', (s) => collect(s, null, { batchSize: 100, maxBytes: 1024 * 1024 }))).flat();
      expect(all).toHaveLength(300);
    });
  });
});
