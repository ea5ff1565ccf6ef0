import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapSession, testImap } from '../../src/mailboxes/imap/index.js';
import { MailConnectionError, type MailServerSettings } from '../../src/mailboxes/mail-server.js';
import { Pop3Session, testPop3 } from '../../src/mailboxes/pop3/index.js';
import { requireDovecotInCi, startDovecot, type DovecotServer } from '../helpers/dovecot.js';

const available = requireDovecotInCi();
const PASSWORD = 'Tr0ub4dor&3-secret';
const auth = { method: 'password' as const, username: 'alice', password: PASSWORD };

function mail(n: number, size = 0): string {
  return [
    `From: sender${n}@example.com`,
    'To: alice@example.com',
    `Subject: message ${n}`,
    `Message-ID: <m${n}@example.com>`,
    '',
    `body ${n} ${'x'.repeat(size)}`,
    '',
  ].join('\r\n');
}

async function failure(promise: Promise<unknown>): Promise<MailConnectionError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof MailConnectionError) return error;
    throw error;
  }
  throw new Error('expected a MailConnectionError');
}

describe.skipIf(!available)('IMAP and POP3 over TLS against Dovecot', () => {
  let server: DovecotServer;
  let plaintext: DovecotServer;
  let badCert: DovecotServer;
  const tokens = new Map([['valid-access-token', 'alice']]);
  let imaps: MailServerSettings;

  beforeAll(async () => {
    [server, plaintext, badCert] = await Promise.all([
      startDovecot({ users: { alice: PASSWORD }, oauthTokens: tokens }),
      startDovecot({ users: { alice: PASSWORD }, tls: false }),
      startDovecot({ users: { alice: PASSWORD }, badCertificate: true }),
    ]);
    imaps = { host: 'localhost', port: server.ports.imaps, tls: 'implicit', caPem: server.caPem };
  }, 60_000);
  afterAll(async () => {
    await Promise.all([server?.stop(), plaintext?.stop(), badCert?.stop()]);
  });

  it('logs in over implicit TLS and over STARTTLS with the custom CA', async () => {
    server.deliver('alice', 'INBOX', mail(1));
    expect(await testImap(imaps, auth, 'INBOX')).toMatchObject({ folder: 'INBOX', messages: 1 });
    const starttls = { host: 'localhost', port: server.ports.imap, tls: 'starttls' as const, caPem: server.caPem };
    expect((await testImap(starttls, auth, 'INBOX')).messages).toBe(1);
  });

  it('refuses a server without TLS before sending any credential', async () => {
    const error = await failure(testImap({ host: 'localhost', port: plaintext.ports.imap, tls: 'starttls' }, auth, 'INBOX'));
    expect(error.code).toBe('tls_required');
    expect(error.message).toMatch(/does not offer STARTTLS/);
    expect(plaintext.log()).not.toMatch(/Login: user=<alice>|auth failed/);
    const pop = await failure(testPop3({ host: 'localhost', port: plaintext.ports.pop3, tls: 'starttls' }, auth));
    expect(pop.code).toBe('tls_required');
    const implicit = await failure(testImap({ host: 'localhost', port: plaintext.ports.imap, tls: 'implicit' }, auth, 'INBOX'));
    expect(['tls_failed', 'connect_failed']).toContain(implicit.code);
  });

  it('refuses a certificate that does not verify, and one not signed by a trusted CA', async () => {
    const wrongHost = await failure(testImap({ host: 'localhost', port: badCert.ports.imaps, tls: 'implicit', caPem: badCert.caPem }, auth, 'INBOX'));
    expect(wrongHost.code).toBe('certificate');
    const untrusted = await failure(testImap({ host: 'localhost', port: server.ports.imaps, tls: 'implicit' }, auth, 'INBOX'));
    expect(untrusted.code).toBe('certificate');
    expect(untrusted.message).toMatch(/CA certificate/);
  });

  it('says when the password is wrong, without repeating it', async () => {
    const error = await failure(testImap(imaps, { ...auth, password: 'wrong-password' }, 'INBOX'));
    expect(error.code).toBe('auth_failed');
    expect(error.message).not.toContain('wrong-password');
    const pop = await failure(testPop3({ ...imaps, port: server.ports.pop3s }, { ...auth, password: 'wrong-password' }));
    expect(pop.code).toBe('auth_failed');
  });

  it('logs in with XOAUTH2 and reports a refused token as expired', async () => {
    expect((await testImap(imaps, { method: 'oauth2', username: 'alice', accessToken: 'valid-access-token' }, 'INBOX')).folder).toBe('INBOX');
    const error = await failure(testImap(imaps, { method: 'oauth2', username: 'alice', accessToken: 'revoked-token' }, 'INBOX'));
    expect(error.code).toBe('oauth_expired');
  });

  it('names a missing folder', async () => {
    const error = await failure(testImap(imaps, auth, 'No Such Folder'));
    expect(error.code).toBe('folder_missing');
  });

  it('fetches by UID cursor in batches, skips oversize mail, moves and marks', async () => {
    for (let i = 2; i <= 12; i++) server.deliver('alice', 'Reports', mail(i));
    server.deliver('alice', 'Reports', mail(99, 300_000));
    const session = await ImapSession.open(imaps, auth);
    try {
      const state = await session.selectFolder('Reports');
      expect(state.exists).toBe(12);
      const batches = [];
      for await (const batch of session.fetchNew(null, { batchSize: 5, maxBytes: 100_000 })) batches.push(batch);
      expect(batches.map((b) => b.length)).toEqual([5, 5, 2]);
      const all = batches.flat();
      expect(all.filter((m) => m.raw === null)).toHaveLength(1);
      expect(all[0]!.raw!.toString()).toContain('Subject: message 2');
      const lastUid = all[all.length - 1]!.uid;

      server.deliver('alice', 'Reports', mail(13));
      const again = await ImapSession.open(imaps, auth);
      try {
        const s2 = await again.selectFolder('Reports');
        const next = [];
        for await (const batch of again.fetchNew({ uidValidity: s2.uidValidity, lastUid }, { batchSize: 5, maxBytes: 100_000 })) next.push(...batch);
        expect(next.map((m) => m.raw?.toString().match(/Subject: (.*)/)?.[1])).toEqual(['message 13']);
      } finally {
        await again.close();
      }

      await session.moveTo(all.slice(0, 3).map((m) => m.uid), 'DMARC Watch/Processed');
      await session.markSeen(all.slice(3, 4).map((m) => m.uid));
    } finally {
      await session.close();
    }
    expect(server.listFolder('alice', 'DMARC Watch/Processed')).toHaveLength(3);
    expect(server.listFolder('alice', 'Reports')).toHaveLength(10);
  });

  it('fails cleanly when the server dies mid-session, and works after a restart', async () => {
    const victim = await startDovecot({ users: { alice: PASSWORD } });
    try {
      for (let i = 0; i < 30; i++) victim.deliver('alice', 'INBOX', mail(i, 20_000));
      const settings = { host: 'localhost', port: victim.ports.imaps, tls: 'implicit' as const, caPem: victim.caPem, socketTimeoutMs: 5000 };
      const session = await ImapSession.open(settings, auth);
      await session.selectFolder('INBOX');
      await victim.kill();
      const error = await failure(
        (async () => {
          for await (const _batch of session.fetchNew(null, { batchSize: 10, maxBytes: 1_000_000 })) {
            // drained
          }
        })(),
      );
      expect(['connect_failed', 'timeout', 'protocol']).toContain(error.code);
      await session.close();
      await victim.restart();
      expect((await testImap(settings, auth, 'INBOX')).messages).toBe(30);
    } finally {
      await victim.stop();
    }
  });

  it('POP3 over TLS and STLS: lists by UIDL, retrieves, deletes only at QUIT', async () => {
    const pop = await startDovecot({ users: { bob: PASSWORD } });
    try {
      for (let i = 0; i < 4; i++) pop.deliver('bob', 'INBOX', mail(i));
      pop.deliver('bob', 'INBOX', `From: x@example.com\r\nSubject: dots\r\n\r\n.leading dot line\r\n..two\r\n`);
      const bob = { method: 'password' as const, username: 'bob', password: PASSWORD };
      const settings = { host: 'localhost', port: pop.ports.pop3s, tls: 'implicit' as const, caPem: pop.caPem };
      const session = await Pop3Session.open(settings, bob);
      const list = await session.list();
      expect(list).toHaveLength(5);
      expect(new Set(list.map((e) => e.uidl)).size).toBe(5);
      const dotted = await Promise.all(list.map((e) => session.retrieve(e.number, 1_000_000)));
      expect(dotted.map((b) => b!.toString()).find((t) => t.includes('dots'))).toContain('\r\n.leading dot line\r\n..two');
      expect(await session.retrieve(list[0]!.number, 10)).toBeNull();
      await session.delete(list[0]!.number);
      session.close(); // no QUIT: nothing deleted
      expect((await testPop3(settings, bob)).messages).toBe(5);

      const stls = { host: 'localhost', port: pop.ports.pop3, tls: 'starttls' as const, caPem: pop.caPem };
      const second = await Pop3Session.open(stls, bob);
      const entries = await second.list();
      await second.delete(entries[0]!.number);
      await second.quit();
      expect((await testPop3(settings, bob)).messages).toBe(4);
    } finally {
      await pop.stop();
    }
  });
});

describe('mail protocol refusals without a server', () => {
  it('reports a closed port in words', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const error = await failure(testImap({ host: '127.0.0.1', port, tls: 'implicit' }, auth, 'INBOX'));
    expect(error.code).toBe('connect_failed');
    expect(error.message).toMatch(/Nothing is listening/);
  });
});
