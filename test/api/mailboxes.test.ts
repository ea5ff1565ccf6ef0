import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { openHarness, type Harness } from '../auth/harness.js';
import { freePort } from '../helpers/cli.js';
import { describeEachBackend } from '../helpers/db.js';
import { callApi, keyFor, orgWith, signedIn, type Member } from './harness.js';

const PASSWORD = 'Imap-Pa55word-that-must-never-leak';
const NEW_PASSWORD = 'Second-Imap-Pa55word-also-secret';
const REFRESH_TOKEN = 'refresh-token-0123456789-never-shown';
const CLIENT_SECRET = 'oauth-client-secret-never-shown';
const SECRETS = [PASSWORD, NEW_PASSWORD, REFRESH_TOKEN, CLIENT_SECRET];

describeEachBackend('mailboxes API', (backend) => {
  let h: Harness;
  let owner: Member;
  let viewer: Member;
  let member: Member;
  let stranger: Member;
  let org: { id: number; slug: string };
  let otherOrg: { id: number; slug: string };
  const answers: string[] = [];

  beforeAll(async () => {
    h = await openHarness(backend);
    owner = await signedIn(h, 'owner@mailboxes.example');
    viewer = await signedIn(h, 'viewer@mailboxes.example');
    member = await signedIn(h, 'member@mailboxes.example');
    stranger = await signedIn(h, 'stranger@mailboxes.example');
    org = await orgWith(h, 'Mailboxes Inc', owner, [
      { member: viewer, role: 'viewer' },
      { member, role: 'member' },
    ]);
    otherOrg = await orgWith(h, 'Other Mail', stranger);
  });
  afterAll(async () => {
    // Secrets appear in no answer, no log line, no audit event.
    const audit = await h.database.db.selectFrom('audit_event').selectAll().execute();
    for (const secret of SECRETS) {
      expect(answers.join('\n')).not.toContain(secret);
      expect(h.logs.join('\n')).not.toContain(secret);
      expect(JSON.stringify(audit)).not.toContain(secret);
    }
    await h.close();
  });
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  async function api(who: Member | { key: string }, method: string, path: string, body?: unknown) {
    const response = await callApi(h, 'key' in who ? who : { browser: who.browser }, method, path, body);
    answers.push(typeof response.body === 'string' ? response.body : JSON.stringify(response.body));
    return response;
  }

  const passwordMailbox = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    host: 'imap.example.com',
    username: 'dmarc@example.com',
    authMethod: 'password',
    password: PASSWORD,
    ...extra,
  });

  it('creates a password mailbox: the password is sealed, never returned, and audited without it', async () => {
    const created = await api(owner, 'POST', `/orgs/${org.slug}/mailboxes`, passwordMailbox('Reports'));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'Reports',
      protocol: 'imap',
      host: 'imap.example.com',
      port: 993,
      tlsMode: 'implicit',
      authMethod: 'password',
      hasPassword: true,
      hasOAuthRefreshToken: false,
      folder: 'INBOX',
      paused: false,
      status: 'waiting',
    });
    expect(created.body.statusText).toMatch(/^Not polled yet/);
    expect(Object.keys(created.body).filter((key) => /password|token|secret/i.test(key) && !key.startsWith('has'))).toEqual([]);

    const row = await h.database.db.selectFrom('mailbox').selectAll().where('id', '=', created.body.id).executeTakeFirstOrThrow();
    expect(row.org_id).toBe(org.id);
    expect(Buffer.from(row.password_sealed!).toString('latin1')).not.toContain(PASSWORD);

    const event = await h.database.db.selectFrom('audit_event').selectAll().where('action', '=', 'mailbox.create').where('target_id', '=', String(created.body.id)).executeTakeFirstOrThrow();
    expect(event.org_id).toBe(org.id);
    expect(event.summary).toMatchObject({ name: 'Reports', host: 'imap.example.com', authMethod: 'password' });

    const listed = await api(viewer, 'GET', `/orgs/${org.slug}/mailboxes`);
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((m: { name: string }) => m.name)).toContain('Reports');
    const byName = await api(viewer, 'GET', `/orgs/${org.slug}/mailboxes/Reports`);
    expect(byName.body.id).toBe(created.body.id);
  });

  it('creates an OAuth2 mailbox with its tokens sealed and only flags shown', async () => {
    const created = await api(owner, 'POST', `/orgs/${org.slug}/mailboxes`, {
      name: 'Workspace',
      host: 'imap.gmail.com',
      username: 'dmarc@example.com',
      authMethod: 'oauth2',
      oauthProvider: 'google',
      oauthClientId: 'client-id.apps.example',
      oauthClientSecret: CLIENT_SECRET,
      oauthRefreshToken: REFRESH_TOKEN,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ authMethod: 'oauth2', oauthProvider: 'google', hasPassword: false, hasOAuthRefreshToken: true, hasOAuthClientSecret: true });

    const withPassword = await api(owner, 'PATCH', `/orgs/${org.slug}/mailboxes/${created.body.id}`, { password: NEW_PASSWORD });
    expect(withPassword.status).toBe(400);
    expect(withPassword.body.error.message).toContain('OAuth');
  });

  it('validates input and refuses a second mailbox with the same name', async () => {
    const missing = await api(owner, 'POST', `/orgs/${org.slug}/mailboxes`, { name: 'No auth', host: 'imap.example.com', username: 'x' });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('invalid_request');
    const badHost = await api(owner, 'POST', `/orgs/${org.slug}/mailboxes`, passwordMailbox('Bad host', { host: 'imap example com' }));
    expect(badHost.status).toBe(400);
    expect(JSON.stringify(badHost.body)).not.toContain(PASSWORD);

    await api(owner, 'POST', `/orgs/${org.slug}/mailboxes`, passwordMailbox('Twice'));
    const again = await api(owner, 'POST', `/orgs/${org.slug}/mailboxes`, passwordMailbox('Twice', { host: 'other.example.com' }));
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('mailbox_exists');
    // The failed attempt left no audit event behind.
    const events = await h.database.db.selectFrom('audit_event').select('summary').where('org_id', '=', org.id).where('action', '=', 'mailbox.create').execute();
    expect(events.filter((e) => (e.summary as { name: string }).name === 'Twice')).toHaveLength(1);
  });

  it('updates settings and replaces the password, auditing what changed', async () => {
    const created = await api(owner, 'POST', `/orgs/${org.slug}/mailboxes`, passwordMailbox('Changing'));
    const id = created.body.id as number;
    const before = await h.database.db.selectFrom('mailbox').select('password_sealed').where('id', '=', id).executeTakeFirstOrThrow();

    const updated = await api(member, 'PATCH', `/orgs/${org.slug}/mailboxes/${id}`, { host: 'mail.example.net', pollIntervalMinutes: 60, password: NEW_PASSWORD });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ host: 'mail.example.net', pollIntervalMinutes: 60, hasPassword: true });
    const after = await h.database.db.selectFrom('mailbox').select('password_sealed').where('id', '=', id).executeTakeFirstOrThrow();
    expect(Buffer.from(after.password_sealed!).equals(Buffer.from(before.password_sealed!))).toBe(false);

    const event = await h.database.db.selectFrom('audit_event').selectAll().where('action', '=', 'mailbox.update').where('target_id', '=', String(id)).executeTakeFirstOrThrow();
    expect(event.summary).toEqual({
      name: 'Changing',
      changes: { host: { before: 'imap.example.com', after: 'mail.example.net' }, pollIntervalMinutes: { before: 15, after: 60 } },
      replaced: ['password'],
    });
  });

  it('pauses, resumes and asks for a poll now', async () => {
    const created = await api(owner, 'POST', `/orgs/${org.slug}/mailboxes`, passwordMailbox('Pausing'));
    const id = created.body.id as number;
    await h.database.db.updateTable('mailbox').set({ next_poll_at: new Date('2099-01-01T00:00:00Z') }).where('id', '=', id).execute();

    const paused = await api(member, 'POST', `/orgs/${org.slug}/mailboxes/${id}/pause`);
    expect(paused.body).toMatchObject({ paused: true, status: 'paused', statusText: 'Paused: not polled until resumed.' });
    const refused = await api(member, 'POST', `/orgs/${org.slug}/mailboxes/${id}/poll`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('mailbox_paused');

    expect((await api(member, 'POST', `/orgs/${org.slug}/mailboxes/${id}/resume`)).body).toMatchObject({ paused: false, status: 'waiting' });
    const polled = await api(member, 'POST', `/orgs/${org.slug}/mailboxes/${id}/poll`);
    expect(polled.status).toBe(202);
    expect(new Date(polled.body.nextPollAt).getTime()).toBeLessThanOrEqual(Date.now());

    const actions = await h.database.db.selectFrom('audit_event').select('action').where('target_id', '=', String(id)).where('target_type', '=', 'mailbox').orderBy('seq').execute();
    expect(actions.map((a) => a.action)).toEqual(['mailbox.create', 'mailbox.pause', 'mailbox.resume', 'mailbox.poll_request']);
  });

  it('shows the last error in words', async () => {
    const created = await api(owner, 'POST', `/orgs/${org.slug}/mailboxes`, passwordMailbox('Failing'));
    await h.database.db
      .updateTable('mailbox')
      .set({ last_outcome: 'error', last_error: 'The server refused the connection on imap.example.com:993.', consecutive_failures: 3 })
      .where('id', '=', created.body.id)
      .execute();
    const failing = await api(viewer, 'GET', `/orgs/${org.slug}/mailboxes/${created.body.id}`);
    expect(failing.body.status).toBe('failing');
    expect(failing.body.statusText).toMatch(/^The last 3 polls failed: The server refused the connection/);
    await h.database.db.updateTable('mailbox').set({ needs_reauth: true, last_error: 'Sign-in failed: wrong user name or password.' }).where('id', '=', created.body.id).execute();
    expect((await api(viewer, 'GET', `/orgs/${org.slug}/mailboxes/${created.body.id}`)).body).toMatchObject({ status: 'needs_reauth', needsReauth: true });
    expect((await api(member, 'POST', `/orgs/${org.slug}/mailboxes/${created.body.id}/poll`)).status).toBe(409);
  });

  it('tests a connection and reports the failure in words', async () => {
    const port = await freePort();
    const created = await api(owner, 'POST', `/orgs/${org.slug}/mailboxes`, passwordMailbox('Nowhere', { host: '127.0.0.1', port }));
    const tested = await api(member, 'POST', `/orgs/${org.slug}/mailboxes/${created.body.id}/test`);
    expect(tested.status).toBe(200);
    expect(tested.body).toMatchObject({ ok: false, code: 'connect_failed', detail: null });
    expect(tested.body.problem).toContain('127.0.0.1');
  });

  it('roles: viewers and read keys cannot change anything; only admins delete', async () => {
    const created = await api(owner, 'POST', `/orgs/${org.slug}/mailboxes`, passwordMailbox('Guarded'));
    const id = created.body.id as number;
    const readKey = await keyFor(h, org.id, 'read');
    const writeKey = await keyFor(h, org.id, 'write');
    const adminKey = await keyFor(h, org.id, 'admin');

    for (const who of [viewer, { key: readKey }]) {
      expect((await api(who, 'POST', `/orgs/${org.slug}/mailboxes`, passwordMailbox('Viewer made'))).status).toBe(403);
      expect((await api(who, 'PATCH', `/orgs/${org.slug}/mailboxes/${id}`, { host: 'evil.example.com' })).status).toBe(403);
      for (const action of ['pause', 'resume', 'poll', 'test']) expect((await api(who, 'POST', `/orgs/${org.slug}/mailboxes/${id}/${action}`)).status).toBe(403);
      expect((await api(who, 'DELETE', `/orgs/${org.slug}/mailboxes/${id}`)).status).toBe(403);
      expect((await api(who, 'GET', `/orgs/${org.slug}/mailboxes/${id}`)).status).toBe(200);
    }
    expect((await api({ key: writeKey }, 'POST', `/orgs/${org.slug}/mailboxes`, passwordMailbox('Key made'))).status).toBe(201);
    expect((await api(member, 'DELETE', `/orgs/${org.slug}/mailboxes/${id}`)).status).toBe(403);
    expect((await api({ key: writeKey }, 'DELETE', `/orgs/${org.slug}/mailboxes/${id}`)).status).toBe(403);
    expect(await h.database.db.selectFrom('mailbox').select('host').where('id', '=', id).executeTakeFirstOrThrow()).toEqual({ host: 'imap.example.com' });

    expect((await api({ key: adminKey }, 'DELETE', `/orgs/${org.slug}/mailboxes/${id}`)).status).toBe(204);
    expect((await api(owner, 'GET', `/orgs/${org.slug}/mailboxes/${id}`)).status).toBe(404);
    const deleted = await h.database.db.selectFrom('audit_event').selectAll().where('action', '=', 'mailbox.delete').where('target_id', '=', String(id)).executeTakeFirstOrThrow();
    expect(deleted).toMatchObject({ actor_type: 'api_key', org_id: org.id });
  });

  it("keeps organisations apart: another organisation's mailbox is not found by id or name, and never listed", async () => {
    const theirs = await api(stranger, 'POST', `/orgs/${otherOrg.slug}/mailboxes`, passwordMailbox('Theirs'));
    const theirId = theirs.body.id as number;
    const ourKey = await keyFor(h, org.id, 'admin');
    const theirKey = await keyFor(h, otherOrg.id, 'admin');

    for (const who of [owner, { key: ourKey }]) {
      for (const ref of [theirId, 'Theirs', '99999999999999999999']) {
        expect((await api(who, 'GET', `/orgs/${org.slug}/mailboxes/${ref}`)).status).toBe(404);
        expect((await api(who, 'PATCH', `/orgs/${org.slug}/mailboxes/${ref}`, { host: 'evil.example.com' })).status).toBe(404);
        for (const action of ['pause', 'resume', 'poll', 'test']) expect((await api(who, 'POST', `/orgs/${org.slug}/mailboxes/${ref}/${action}`)).status).toBe(404);
        expect((await api(who, 'DELETE', `/orgs/${org.slug}/mailboxes/${ref}`)).status).toBe(404);
      }
      expect((await api(who, 'GET', `/orgs/${otherOrg.slug}/mailboxes`)).status).toBe(404);
      const ours = await api(who, 'GET', `/orgs/${org.slug}/mailboxes?limit=200`);
      expect(ours.body.items.map((m: { id: number }) => m.id)).not.toContain(theirId);
    }
    expect((await api({ key: theirKey }, 'GET', `/orgs/${org.slug}/mailboxes`)).status).toBe(404);
    const untouched = await api({ key: theirKey }, 'GET', `/orgs/${otherOrg.slug}/mailboxes/${theirId}`);
    expect(untouched.body).toMatchObject({ host: 'imap.example.com', paused: false });
  });

  it('lists mailboxes in pages', async () => {
    const pageOrg = await orgWith(h, 'Paged Mailboxes', owner);
    for (const name of ['Delta', 'Alpha', 'Charlie', 'Bravo', 'Echo']) await api(owner, 'POST', `/orgs/${pageOrg.slug}/mailboxes`, passwordMailbox(name));
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: Array<{ name: string }>; nextCursor: string | null } } = await api(owner, 'GET', `/orgs/${pageOrg.slug}/mailboxes?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.body.items.map((m) => m.name));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['Alpha', 'Bravo', 'Charlie', 'Delta', 'Echo']);
  });
});
