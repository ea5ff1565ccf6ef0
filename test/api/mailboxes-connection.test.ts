import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openHarness, type Harness } from '../auth/harness.js';
import { dovecotAvailable, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { callApi, orgWith, signedIn, type Member } from './harness.js';

const PASSWORD = 'dovecot-api-secret-42';

describe.skipIf(!dovecotAvailable())('mailbox connection test against Dovecot', () => {
  let server: DovecotServer;
  let h: Harness;
  let owner: Member;
  let org: { slug: string };
  beforeAll(async () => {
    server = await startDovecot({ users: { reports: PASSWORD } });
    server.deliver('reports', 'INBOX', 'Subject: hello\r\n\r\nbody\r\n');
    h = await openHarness('pglite');
    owner = await signedIn(h, 'owner@dovecot.example');
    org = await orgWith(h, 'Dovecot Co', owner);
  });
  afterAll(async () => {
    await h?.close();
    await server?.stop();
  });

  const create = (name: string, password: string) =>
    callApi(h, { browser: owner.browser }, 'POST', `/orgs/${org.slug}/mailboxes`, {
      name,
      host: server.host,
      port: server.ports.imaps,
      caPem: server.caPem,
      username: 'reports',
      authMethod: 'password',
      password,
    });

  it('passes with the right password and says what it verified', async () => {
    const created = await create('Good', PASSWORD);
    expect(created.status).toBe(201);
    expect(created.body.customCa).toBe(true);
    const tested = await callApi(h, { browser: owner.browser }, 'POST', `/orgs/${org.slug}/mailboxes/${created.body.id}/test`);
    expect(tested.body).toMatchObject({ ok: true, messages: 1, code: null, problem: null });
    expect(tested.body.detail).toContain('logged in as reports');
  });

  it('fails with a wrong password, in words, without the password anywhere', async () => {
    const created = await create('Bad', 'not-the-password');
    const tested = await callApi(h, { browser: owner.browser }, 'POST', `/orgs/${org.slug}/mailboxes/${created.body.id}/test`);
    expect(tested.status).toBe(200);
    expect(tested.body).toMatchObject({ ok: false, code: 'auth_failed' });
    expect(tested.body.problem.length).toBeGreaterThan(10);
    expect(JSON.stringify(tested.body) + h.logs.join('\n')).not.toContain('not-the-password');
    expect(h.logs.join('\n')).not.toContain(PASSWORD);
  });
});
