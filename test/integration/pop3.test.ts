import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MailConnectionError, type MailAuth, type MailServerSettings } from '../../src/mailboxes/mail-server.js';
import { Pop3Session, testPop3 } from '../../src/mailboxes/pop3/index.js';
import { dovecotAvailable, recordingProxy, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { startIntrospection, type IntrospectionServer } from '../helpers/oauth-introspection.js';

const haveDovecot = dovecotAvailable();

const PASSWORD = 'pop3 secret, not in any log';
const USERS = ['alice', 'bytes', 'keep', 'commit', 'large', 'many', 'crash', 'stuck'];

function message(subject: string, body = `Body of ${subject}\r\n`): string {
  return `From: reports@example.net\r\nTo: dmarc@example.com\r\nSubject: ${subject}\r\n\r\n${body}`;
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

describe.skipIf(!haveDovecot)('POP3 client against a real Dovecot', () => {
  let dovecot: DovecotServer;
  let introspection: IntrospectionServer;
  let implicit: MailServerSettings;
  let stls: MailServerSettings;

  beforeAll(async () => {
    introspection = await startIntrospection();
    dovecot = await startDovecot({
      users: Object.fromEntries(USERS.map((u) => [u, PASSWORD])),
      oauth2: { introspectionUrl: introspection.url, mechanisms: ['xoauth2'] },
    });
    implicit = { host: dovecot.host, port: dovecot.ports.pop3s, tls: 'implicit', caPem: dovecot.caPem, connectTimeoutMs: 5_000, socketTimeoutMs: 5_000 };
    stls = { ...implicit, port: dovecot.ports.pop3, tls: 'starttls' };
  });

  afterAll(async () => {
    await dovecot?.stop();
    await introspection?.stop();
  });

  describe('TLS and login', () => {
    it('logs in over implicit TLS and counts the messages', async () => {
      dovecot.deliver('alice', 'INBOX', message('one'));
      dovecot.deliver('alice', 'INBOX', message('two'));
      await expect(testPop3(implicit, password('alice'))).resolves.toEqual({ messages: 2 });
      await dovecot.waitForLog(/pop3-login: Info: Login: user=<alice>, method=PLAIN, .*TLS/);
      expect(await dovecot.waitForLog(/pop3\(alice\).*Logged out/)).toMatch(/top=0\/0, retr=0\/0, del=0\/2/);
    });

    it('upgrades the plaintext port with STLS before logging in', async () => {
      await expect(testPop3(stls, password('alice'))).resolves.toEqual({ messages: 2 });
      await expect(testPop3({ ...stls, host: 'localhost' }, password('alice'))).resolves.toEqual({ messages: 2 });
    });

    it('refuses the private CA unless it is configured', async () => {
      for (const settings of [{ ...implicit, caPem: null }, { ...stls, caPem: null }]) {
        const error = await failure(testPop3(settings, password('alice')));
        expect(error.code).toBe('certificate');
        expect(error.message).toMatch(/CA certificate \(PEM\)/);
      }
    });

    it('refuses a certificate for another host name', async () => {
      const bad = await startDovecot({ users: { alice: 'pw' }, certificate: 'wrong-host' });
      try {
        const selfSigned = await failure(testPop3({ ...implicit, port: bad.ports.pop3s, caPem: null }, password('alice', 'pw')));
        expect(selfSigned.code).toBe('certificate');
        expect(selfSigned.message).toMatch(/self-signed/);
        const mark = bad.log().length;
        const wrongHost = await failure(testPop3({ ...stls, port: bad.ports.pop3, caPem: bad.caPem }, password('alice', 'pw')));
        expect(wrongHost.code).toBe('certificate');
        expect(wrongHost.message).toMatch(/not valid for this host name/);
        await bad.waitForLog(/pop3-login: .*Disconnected.*no auth attempts/, { since: mark });
        expect(bad.log()).not.toMatch(/Login:|passwd-file/);
      } finally {
        await bad.stop();
      }
    });

    it('refuses a server without STLS before sending USER or PASS', async () => {
      const plain = await startDovecot({ users: { alice: 'plainpw' }, tls: false });
      const proxy = await recordingProxy(plain.ports.pop3);
      const mark = plain.log().length;
      try {
        const error = await failure(testPop3({ ...stls, port: proxy.port }, password('alice', 'plainpw')));
        expect(error.code).toBe('tls_required');
        expect(error.message).toMatch(/does not offer STLS/);
        const written = proxy.clientBytes().toString('latin1');
        expect(written).toMatch(/^CAPA\r\n/);
        expect(written).not.toMatch(/USER|PASS|AUTH/);
        expect(written).not.toContain('plainpw');
        await plain.waitForLog(/pop3-login: .*Disconnected.*no auth attempts/, { since: mark });
        expect(plain.log()).not.toMatch(/Login:|auth failed|passwd-file/);
      } finally {
        await proxy.close();
        await plain.stop();
      }
    });

    it('reports a wrong password as auth_failed', async () => {
      const error = await failure(testPop3(implicit, password('alice', 'not the password')));
      expect(error.code).toBe('auth_failed');
      expect(error.message).toMatch(/rejected the username or password for alice \(the server said: "\[AUTH\] Authentication failed\."\)/);
    });

    it('logs in with XOAUTH2 and reports a rejected token as oauth_expired', async () => {
      introspection.allow('pop-token', 'alice');
      await expect(testPop3(implicit, { method: 'oauth2', username: 'alice', accessToken: 'pop-token' })).resolves.toEqual({ messages: 2 });
      await dovecot.waitForLog(/pop3-login: Info: Login: user=<alice>, method=XOAUTH2/);

      introspection.revoke('pop-token');
      const error = await failure(testPop3(stls, { method: 'oauth2', username: 'alice', accessToken: 'pop-token' }));
      expect(error.code).toBe('oauth_expired');
      expect(error.message).toMatch(/invalid or expired \(status 401\)/);
      expect(introspection.asked.filter((t) => t === 'pop-token')).toHaveLength(2);
    });
  });

  describe('reading and deleting', () => {
    it('lists UIDL and sizes and retrieves messages byte for byte, dot-unstuffed', async () => {
      const binary = Buffer.concat([
        Buffer.from('Subject: bytes\r\nContent-Transfer-Encoding: 8bit\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n'),
        Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x2e, 0x0d, 0x0a]),
        Buffer.from('.\r\nlast line\r\n'),
      ]);
      dovecot.deliver('bytes', 'INBOX', binary);
      dovecot.deliver('bytes', 'INBOX', message('plain'));
      const session = await Pop3Session.open(implicit, password('bytes'));
      const uidls: string[] = [];
      try {
        const list = await session.list();
        uidls.push(...list.map((m) => m.uidl));
        expect(list.map((m) => m.number)).toEqual([1, 2]);
        expect(list.map((m) => m.size)).toEqual([binary.length, message('plain').length]);
        expect(new Set(list.map((m) => m.uidl)).size).toBe(2);
        expect(await session.retrieve(1, 1024)).toEqual(binary);
        expect((await session.retrieve(2, 1024))!.toString()).toBe(message('plain'));
        await session.quit();
      } finally {
        session.close();
      }
      const again = await Pop3Session.open(stls, password('bytes'));
      try {
        // UIDLs are stable across sessions.
        expect((await again.list()).map((m) => m.uidl)).toEqual(uidls);
      } finally {
        again.close();
      }
    });

    it('does not download a message over maxBytes', async () => {
      const big = message('big', `${'z'.repeat(998)}\r\n`.repeat(200));
      dovecot.deliver('large', 'INBOX', big);
      dovecot.deliver('large', 'INBOX', message('small'));
      const session = await Pop3Session.open(implicit, password('large'));
      try {
        const list = await session.list();
        expect(await session.retrieve(1, 50_000)).toBeNull();
        expect((await session.retrieve(2, 50_000))!.toString()).toBe(message('small'));
        expect(list[0]!.size).toBe(big.length);
        await session.quit();
      } finally {
        session.close();
      }
      // Dovecot counts what RETR sent: one message, the small one.
      const retr = /retr=(\d+)\/(\d+),/.exec(await dovecot.waitForLog(/pop3\(large\).*Logged out/));
      expect(retr?.[1]).toBe('1');
      expect(Number(retr?.[2])).toBeLessThan(1_000);
    });

    it('keeps messages marked for deletion when the session is closed without QUIT', async () => {
      dovecot.deliver('keep', 'INBOX', message('keep 1'));
      dovecot.deliver('keep', 'INBOX', message('keep 2'));
      const session = await Pop3Session.open(implicit, password('keep'));
      await session.list();
      await session.delete(1);
      await session.delete(2);
      session.close();
      await expect(session.list()).rejects.toBeInstanceOf(MailConnectionError);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(dovecot.listFolder('keep', 'INBOX').map((m) => m.raw.toString())).toEqual([message('keep 1'), message('keep 2')]);
    });

    it('deletes the marked messages when QUIT commits them', async () => {
      for (const n of [1, 2, 3]) dovecot.deliver('commit', 'INBOX', message(`commit ${n}`));
      const session = await Pop3Session.open(stls, password('commit'));
      try {
        await session.list();
        await session.delete(1);
        await session.delete(3);
        await session.quit();
      } finally {
        session.close();
      }
      expect(dovecot.listFolder('commit', 'INBOX').map((m) => m.raw.toString())).toEqual([message('commit 2')]);
    });

    it('lists and retrieves 500 messages', async () => {
      for (let n = 0; n < 500; n++) dovecot.deliver('many', 'INBOX', message(`bulk ${n}`));
      const session = await Pop3Session.open(implicit, password('many'));
      try {
        const list = await session.list();
        expect(list).toHaveLength(500);
        const bodies: string[] = [];
        for (const entry of list) bodies.push((await session.retrieve(entry.number, 1024 * 1024))!.toString());
        expect(bodies).toEqual(Array.from({ length: 500 }, (_, n) => message(`bulk ${n}`)));
        await session.quit();
      } finally {
        session.close();
      }
    });
  });

  describe('failures', () => {
    it('times out on a server that never greets', async () => {
      const silent = net.createServer(() => {});
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
      try {
        const port = (silent.address() as net.AddressInfo).port;
        const started = Date.now();
        const error = await failure(testPop3({ ...stls, port, connectTimeoutMs: 400 }, password('alice')));
        expect(error.code).toBe('timeout');
        expect(Date.now() - started).toBeLessThan(3_000);
      } finally {
        silent.close();
      }
    });

    it('times out when the server stops answering in the middle of a session', async () => {
      dovecot.deliver('stuck', 'INBOX', message('stuck'));
      const session = await Pop3Session.open({ ...implicit, socketTimeoutMs: 500 }, password('stuck'));
      try {
        dovecot.freeze();
        const error = await failure(session.list());
        expect(error.code).toBe('timeout');
        await expect(session.retrieve(1, 1000)).rejects.toMatchObject({ message: expect.stringMatching(/has ended/) });
      } finally {
        dovecot.thaw();
        session.close();
      }
      await expect(testPop3(implicit, password('stuck'))).resolves.toEqual({ messages: 1 });
    });

    it('turns a server killed mid-download into a MailConnectionError, and works again after restart', async () => {
      // 16 MB: long enough on the wire for the kill to land while it is being read.
      const body = `${'q'.repeat(998)}\r\n`.repeat(16_000);
      dovecot.deliver('crash', 'INBOX', message('huge', body));
      const session = await Pop3Session.open(implicit, password('crash'));
      try {
        await session.list();
        const outcome = failure(session.retrieve(1, 32 * 1024 * 1024));
        await new Promise((resolve) => setTimeout(resolve, 20));
        await dovecot.kill();
        const error = await outcome;
        expect(error.code).toBe('connect_failed');
        expect(error.message).toMatch(/was lost/);
      } finally {
        session.close();
      }
      const refused = await failure(testPop3(implicit, password('crash')));
      expect(refused.code).toBe('connect_failed');
      await dovecot.restart();
      const again = await Pop3Session.open(implicit, password('crash'));
      try {
        expect((await again.retrieve(1, 32 * 1024 * 1024))!.toString()).toBe(message('huge', body));
        await again.quit();
      } finally {
        again.close();
      }
    });
  });
});
