import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openHarness, type Harness } from '../auth/harness.js';
import { callApi, orgWith, signedIn, type Member } from '../api/harness.js';
import { describeEachBackend } from '../helpers/db.js';

const PASSWORD = 'never-shown-Secr3t-9f2c';

/** The add-mailbox form as a browser sends it. */
function mailboxForm(name: string, extra: Record<string, string> = {}): Record<string, string> {
  return { name, protocol: 'imap', host: 'imap.pages.example', port: '', tlsMode: 'implicit', caPem: '', username: 'dmarc@pages.example', authMethod: 'password', password: PASSWORD, folder: 'INBOX', afterProcessing: 'move', processedFolder: 'DMARC Watch/Processed', invalidFolder: 'DMARC Watch/Invalid', pollIntervalMinutes: '15', ...extra };
}

describeEachBackend('mailbox, settings and audit pages', (backend) => {
  let h: Harness;
  let owner: Member;
  let admin: Member;
  let member: Member;
  let viewer: Member;
  let stranger: Member;
  let org: { id: number; slug: string };
  let otherOrg: { id: number; slug: string };
  let otherMailboxId: number;

  const auditActions = async (orgId: number) =>
    (await h.database.db.selectFrom('audit_event').select('action').where('org_id', '=', orgId).orderBy('seq').execute()).map((r) => r.action);
  const mailboxIds = async (orgId: number) => (await h.database.db.selectFrom('mailbox').select('id').where('org_id', '=', orgId).execute()).map((r) => r.id);

  beforeAll(async () => {
    h = await openHarness(backend);
    owner = await signedIn(h, 'owner@settings.example');
    admin = await signedIn(h, 'admin@settings.example');
    member = await signedIn(h, 'member@settings.example');
    viewer = await signedIn(h, 'viewer@settings.example');
    stranger = await signedIn(h, 'stranger@settings.example');
    org = await orgWith(h, 'Settings Inc', owner, [
      { member: admin, role: 'admin' },
      { member, role: 'member' },
      { member: viewer, role: 'viewer' },
    ]);
    otherOrg = await orgWith(h, 'Other Ltd', stranger);
    await stranger.browser.get(`/o/${otherOrg.slug}/mailboxes`);
    const created = await stranger.browser.post(`/o/${otherOrg.slug}/mailboxes`, mailboxForm('Theirs'));
    expect(created.status).toBe(303);
    [otherMailboxId] = (await mailboxIds(otherOrg.id)) as [number];
    for (const m of [owner, admin, member, viewer]) await m.browser.get(`/o/${org.slug}/settings`);
  }, 90_000);
  afterAll(() => h.close());

  describe('mailboxes', () => {
    it('explains what a rua mailbox is when there is none, and offers the form to writers only', async () => {
      const page = await (await member.browser.get(`/o/${org.slug}/mailboxes`)).text();
      expect(page).toContain('No mailbox connected yet');
      expect(page).toContain('rua=');
      expect(page).toContain(`href="/o/${org.slug}/mailboxes/new"`);
      const forViewer = await (await viewer.browser.get(`/o/${org.slug}/mailboxes`)).text();
      expect(forViewer).not.toContain(`href="/o/${org.slug}/mailboxes/new"`);
      expect((await viewer.browser.get(`/o/${org.slug}/mailboxes/new`)).status).toBe(403);
    });

    it('adds a mailbox for a member, audited, and never shows the password again', async () => {
      const response = await member.browser.post(`/o/${org.slug}/mailboxes`, mailboxForm('Reports'));
      expect(response.status).toBe(303);
      const location = response.headers.get('location') ?? '';
      expect(location).toMatch(new RegExp(`^/o/${org.slug}/mailboxes/\\d+\\?done=created$`));
      const page = await (await member.browser.get(location)).text();
      expect(page).toContain('Mailbox added');
      expect(page).toContain('Waiting for the first poll');
      expect(page).toContain('Leave empty to keep the current password');
      expect(page).not.toContain(PASSWORD);
      const list = await (await member.browser.get(`/o/${org.slug}/mailboxes`)).text();
      expect(list).toContain('Reports');
      expect(list).not.toContain(PASSWORD);
      const csv = await (await member.browser.get(`/o/${org.slug}/mailboxes?format=csv`)).text();
      expect(csv.split('\r\n')[0]).toBe('Mailbox,Server,Status,Last poll,Outcome,Messages processed,Reports stored');
      expect(csv).not.toContain(PASSWORD);
      expect(await auditActions(org.id)).toContain('mailbox.create');
      const audit = await h.database.db.selectFrom('audit_event').select('summary').where('org_id', '=', org.id).where('action', '=', 'mailbox.create').executeTakeFirstOrThrow();
      expect(JSON.stringify(audit.summary)).not.toContain(PASSWORD);
    });

    it('answers a bad form in words, keeping what was typed but not the password', async () => {
      const response = await member.browser.post(`/o/${org.slug}/mailboxes`, mailboxForm('Broken', { host: 'not a host!', pollIntervalMinutes: '0' }));
      expect(response.status).toBe(400);
      const page = await response.text();
      expect(page).toContain('Server: expected a host name such as imap.example.com');
      expect(page).toContain('Poll every (minutes):');
      expect(page).toContain('value="Broken"');
      expect(page).not.toContain(PASSWORD);
      const duplicate = await member.browser.post(`/o/${org.slug}/mailboxes`, mailboxForm('Reports'));
      expect(duplicate.status).toBe(400);
      expect(await duplicate.text()).toContain('a mailbox named &quot;Reports&quot; already exists');
    });

    it('edits only what changed, keeps the password when the field is empty, and audits it', async () => {
      const [id] = (await mailboxIds(org.id)) as [number];
      const before = await h.database.db.selectFrom('mailbox').select(['password_sealed', 'uid_validity']).where('id', '=', id).executeTakeFirstOrThrow();
      await h.database.db.updateTable('mailbox').set({ uid_validity: 7, last_uid: 40 }).where('id', '=', id).execute();
      const form = { name: 'Reports', host: 'imap.pages.example', port: '993', tlsMode: 'implicit', caPem: '', username: 'dmarc@pages.example', password: '', folder: 'INBOX', afterProcessing: 'seen', processedFolder: 'DMARC Watch/Processed', invalidFolder: 'DMARC Watch/Invalid', pollIntervalMinutes: '30' };
      const response = await member.browser.post(`/o/${org.slug}/mailboxes/${id}`, form);
      expect(response.status).toBe(303);
      const after = await h.database.db.selectFrom('mailbox').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      expect(Buffer.from(after.password_sealed!).equals(Buffer.from(before.password_sealed!))).toBe(true);
      expect(after.after_processing).toBe('seen');
      expect(after.poll_interval_seconds).toBe(1800);
      // The folder was sent unchanged: its reading position stays.
      expect(after.uid_validity).toBe(7);
      const event = await h.database.db.selectFrom('audit_event').select('summary').where('org_id', '=', org.id).where('action', '=', 'mailbox.update').orderBy('seq', 'desc').executeTakeFirstOrThrow();
      expect(event.summary).toMatchObject({ changes: { afterProcessing: { before: 'move', after: 'seen' }, pollIntervalMinutes: { before: 15, after: 30 } }, replaced: [] });
    });

    it('pauses, resumes and polls for writers; refuses viewers with 403', async () => {
      const [id] = (await mailboxIds(org.id)) as [number];
      for (const action of ['pause', 'resume', 'poll', 'test']) {
        const refused = await viewer.browser.post(`/o/${org.slug}/mailboxes/${id}/${action}`, {});
        expect(refused.status).toBe(403);
      }
      expect((await viewer.browser.post(`/o/${org.slug}/mailboxes`, mailboxForm('Viewer box'))).status).toBe(403);
      expect((await viewer.browser.post(`/o/${org.slug}/mailboxes/${id}`, { name: 'Renamed by viewer' })).status).toBe(403);
      expect((await member.browser.post(`/o/${org.slug}/mailboxes/${id}/pause`, {})).status).toBe(303);
      expect((await h.database.db.selectFrom('mailbox').select('paused').where('id', '=', id).executeTakeFirstOrThrow()).paused).toBe(true);
      const paused = await member.browser.post(`/o/${org.slug}/mailboxes/${id}/poll`, {});
      expect(paused.status).toBe(409);
      expect(await paused.text()).toContain('The mailbox is paused: resume it to poll.');
      expect(await (await member.browser.get(`/o/${org.slug}/mailboxes/${id}`)).text()).toContain('Paused');
      expect((await member.browser.post(`/o/${org.slug}/mailboxes/${id}/resume?from=list`, {})).headers.get('location')).toBe(`/o/${org.slug}/mailboxes?done=resumed`);
      expect((await member.browser.post(`/o/${org.slug}/mailboxes/${id}/poll`, {})).status).toBe(303);
      expect(await auditActions(org.id)).toEqual(expect.arrayContaining(['mailbox.pause', 'mailbox.resume', 'mailbox.poll_request']));
    });

    it('says in words why a connection test failed', async () => {
      const [id] = (await mailboxIds(org.id)) as [number];
      await h.database.db.updateTable('mailbox').set({ host: '127.0.0.1', port: 9 }).where('id', '=', id).execute();
      const response = await member.browser.post(`/o/${org.slug}/mailboxes/${id}/test`, {});
      expect(response.status).toBe(200);
      const page = await response.text();
      expect(page).toContain('The connection test failed');
      expect(page).not.toContain(PASSWORD);
    });

    it('explains a failing mailbox and what to do', async () => {
      const [id] = (await mailboxIds(org.id)) as [number];
      await h.database.db.updateTable('mailbox').set({ last_outcome: 'error', last_error: 'The server refused the connection.', consecutive_failures: 3, last_poll_finished_at: h.clock() }).where('id', '=', id).execute();
      const list = await (await viewer.browser.get(`/o/${org.slug}/mailboxes`)).text();
      expect(list).toContain('Failing');
      expect(list).toContain('The last 3 polls failed: The server refused the connection.');
      expect(list).toContain('Fix what the error says');
      await h.database.db.updateTable('mailbox').set({ needs_reauth: true }).where('id', '=', id).execute();
      const page = await (await member.browser.get(`/o/${org.slug}/mailboxes/${id}`)).text();
      expect(page).toContain('Needs re-authorisation');
      expect(page).toContain('Enter the current password');
    });

    it("answers 404 for another organisation's mailbox, for every action", async () => {
      expect((await owner.browser.get(`/o/${org.slug}/mailboxes/${otherMailboxId}`)).status).toBe(404);
      for (const action of ['', '/pause', '/resume', '/poll', '/test', '/delete']) {
        expect((await owner.browser.post(`/o/${org.slug}/mailboxes/${otherMailboxId}${action}`, { name: 'Stolen' })).status).toBe(404);
      }
      expect((await owner.browser.get(`/o/${otherOrg.slug}/mailboxes`)).status).toBe(404);
      expect((await owner.browser.post(`/o/${otherOrg.slug}/mailboxes/${otherMailboxId}/delete`, {})).status).toBe(404);
      expect(await mailboxIds(otherOrg.id)).toEqual([otherMailboxId]);
      const theirs = await h.database.db.selectFrom('mailbox').select(['name', 'paused']).where('id', '=', otherMailboxId).executeTakeFirstOrThrow();
      expect(theirs).toEqual({ name: 'Theirs', paused: false });
    });

    it('removes a mailbox only for admins, after a confirmation step', async () => {
      const [id] = (await mailboxIds(org.id)) as [number];
      expect((await member.browser.get(`/o/${org.slug}/mailboxes/${id}/delete`)).status).toBe(403);
      expect((await member.browser.post(`/o/${org.slug}/mailboxes/${id}/delete`, {})).status).toBe(403);
      const confirm = await admin.browser.get(`/o/${org.slug}/mailboxes/${id}/delete`);
      expect(confirm.status).toBe(200);
      expect(await confirm.text()).toContain('Remove mailbox');
      const removed = await admin.browser.post(`/o/${org.slug}/mailboxes/${id}/delete`, {});
      expect(removed.headers.get('location')).toBe(`/o/${org.slug}/mailboxes?done=deleted`);
      expect(await mailboxIds(org.id)).toEqual([]);
      expect(await auditActions(org.id)).toContain('mailbox.delete');
    });
  });

  describe('settings', () => {
    it('shows the settings to every member, with links to their own sessions and two-factor pages', async () => {
      const page = await (await viewer.browser.get(`/o/${org.slug}/settings`)).text();
      expect(page).toContain('Settings Inc');
      expect(page).toContain('href="/settings/sessions"');
      expect(page).toContain('href="/settings/security"');
      expect(page).toContain('only an admin can rename it');
      expect(page).not.toContain(`/o/${org.slug}/settings/api-keys`);
      expect((await stranger.browser.get(`/o/${org.slug}/settings`)).status).toBe(404);
      expect((await stranger.browser.get(`/o/${org.slug}/settings/members`)).status).toBe(404);
      expect((await stranger.browser.get(`/o/${org.slug}/audit`)).status).toBe(404);
    });

    it('refuses every settings POST from a viewer, and admin actions from a member', async () => {
      const posts: Array<[string, Record<string, string>]> = [
        ['/settings/name', { name: 'Taken over' }],
        [`/settings/members/${member.userId}/role`, { role: 'viewer' }],
        [`/settings/members/${admin.userId}/remove`, {}],
        ['/settings/invitations', { email: 'friend@settings.example', role: 'viewer' }],
        ['/settings/invitations/1/revoke', {}],
        ['/settings/api-keys', { name: 'mine', scope: 'admin', expires: '' }],
        ['/settings/api-keys/1/revoke', {}],
        ['/settings/delete', { confirm: 'Settings Inc' }],
      ];
      for (const who of [viewer, member]) {
        for (const [path, form] of posts) {
          const response = await who.browser.post(`/o/${org.slug}${path}`, form);
          expect(response.status, `${who.email} ${path}`).toBe(403);
        }
        expect((await who.browser.get(`/o/${org.slug}/settings/api-keys`)).status).toBe(403);
        expect((await who.browser.get(`/o/${org.slug}/settings/invitations`)).status).toBe(403);
        expect((await who.browser.get(`/o/${org.slug}/audit`)).status).toBe(403);
      }
      expect((await h.database.db.selectFrom('organization').select('name').where('id', '=', org.id).executeTakeFirstOrThrow()).name).toBe('Settings Inc');
      expect(await h.database.db.selectFrom('api_key').select('id').where('org_id', '=', org.id).execute()).toEqual([]);
      expect(await h.database.db.selectFrom('invitation').select('id').where('org_id', '=', org.id).execute()).toEqual([]);
    });

    it('refuses a POST without the form token, and one from another site', async () => {
      const noToken = await owner.browser.post(`/o/${org.slug}/settings/name`, { name: 'Forged' }, { csrf: null });
      expect(noToken.status).toBe(403);
      const otherSite = await owner.browser.post(`/o/${org.slug}/settings/name`, { name: 'Forged' }, { origin: 'https://evil.example' });
      expect(otherSite.status).toBe(403);
      expect((await h.database.db.selectFrom('organization').select('name').where('id', '=', org.id).executeTakeFirstOrThrow()).name).toBe('Settings Inc');
    });

    it('renames for admins, in words when the name is bad', async () => {
      const bad = await admin.browser.post(`/o/${org.slug}/settings/name`, { name: '   ' });
      expect(bad.status).toBe(400);
      expect(await bad.text()).toContain('The name must be 1 to 100 characters');
      const renamed = await admin.browser.post(`/o/${org.slug}/settings/name`, { name: 'Settings Group' });
      expect(renamed.status).toBe(303);
      expect(await (await admin.browser.get(`/o/${org.slug}/settings?done=renamed`)).text()).toContain('value="Settings Group"');
      expect(await auditActions(org.id)).toContain('organization.rename');
    });

    it('changes roles within the rules and says why not otherwise', async () => {
      const promoted = await admin.browser.post(`/o/${org.slug}/settings/members/${viewer.userId}/role`, { role: 'member' });
      expect(promoted.status).toBe(303);
      const aboveOwn = await admin.browser.post(`/o/${org.slug}/settings/members/${viewer.userId}/role`, { role: 'owner' });
      expect(aboveOwn.status).toBe(403);
      expect(await aboveOwn.text()).toContain('Only an owner can make someone an owner');
      const lastOwner = await owner.browser.post(`/o/${org.slug}/settings/members/${owner.userId}/role`, { role: 'admin' });
      expect(lastOwner.status).toBe(409);
      expect(await lastOwner.text()).toContain('This is the last owner.');
      const leaving = await owner.browser.post(`/o/${org.slug}/settings/members/${owner.userId}/remove`, {});
      expect(leaving.status).toBe(409);
      expect(await leaving.text()).toContain('You are the last owner.');
      const stranger404 = await admin.browser.post(`/o/${org.slug}/settings/members/${stranger.userId}/role`, { role: 'viewer' });
      expect(stranger404.status).toBe(404);
      const roles = await h.database.db.selectFrom('membership').select(['user_id', 'role']).where('org_id', '=', org.id).execute();
      expect(Object.fromEntries(roles.map((r) => [r.user_id, r.role]))).toEqual({ [owner.userId]: 'owner', [admin.userId]: 'admin', [member.userId]: 'member', [viewer.userId]: 'member' });
      await admin.browser.post(`/o/${org.slug}/settings/members/${viewer.userId}/role`, { role: 'viewer' });
      const members = await (await admin.browser.get(`/o/${org.slug}/settings/members`)).text();
      expect(members).toContain('viewer@settings.example');
      expect(members).toContain('(you)');
    });

    it('invites by mail and revokes, audited', async () => {
      const bad = await admin.browser.post(`/o/${org.slug}/settings/invitations`, { email: 'not-an-address', role: 'member' });
      expect(bad.status).toBe(400);
      const already = await admin.browser.post(`/o/${org.slug}/settings/invitations`, { email: 'member@settings.example', role: 'member' });
      expect(already.status).toBe(409);
      expect(await already.text()).toContain('is already a member');
      const ownerInvite = await admin.browser.post(`/o/${org.slug}/settings/invitations`, { email: 'boss@settings.example', role: 'owner' });
      expect(ownerInvite.status).toBe(403);
      const sent = await admin.browser.post(`/o/${org.slug}/settings/invitations`, { email: 'new@settings.example', role: 'member' });
      expect(sent.headers.get('location')).toBe(`/o/${org.slug}/settings/invitations?done=invited`);
      const mail = await h.smtp.nextMailTo('new@settings.example');
      expect(mail.text).toContain('/invitations/accept?token=');
      const page = await (await admin.browser.get(`/o/${org.slug}/settings/invitations`)).text();
      expect(page).toContain('new@settings.example');
      const id = /\/settings\/invitations\/(\d+)\/revoke/.exec(page)?.[1];
      expect(id).toBeDefined();
      expect((await stranger.browser.post(`/o/${org.slug}/settings/invitations/${id}/revoke`, {})).status).toBe(404);
      expect((await admin.browser.post(`/o/${org.slug}/settings/invitations/${id}/revoke`, {})).status).toBe(303);
      expect(await (await admin.browser.get(`/o/${org.slug}/settings/invitations`)).text()).not.toContain('new@settings.example');
      expect((await admin.browser.post(`/o/${org.slug}/settings/invitations/${id}/revoke`, {})).status).toBe(404);
      expect(await auditActions(org.id)).toEqual(expect.arrayContaining(['invitation.create', 'invitation.revoke']));
    });

    it('shows a new API key once, lists it by prefix, and revokes it', async () => {
      const past = await admin.browser.post(`/o/${org.slug}/settings/api-keys`, { name: 'old', scope: 'read', expires: '2020-01-01' });
      expect(past.status).toBe(400);
      expect(await past.text()).toContain('The expiry date must be in the future');
      const created = await admin.browser.post(`/o/${org.slug}/settings/api-keys`, { name: 'SIEM export', scope: 'read', expires: '2099-01-01' });
      expect(created.status).toBe(200);
      const html = await created.text();
      const key = /value="(dmw_[A-Za-z0-9_-]{43})"/.exec(html)?.[1];
      expect(key).toBeDefined();
      expect(html).toContain('shown only this once');
      const me = await callApi(h, { key: key! }, 'GET', '/me');
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ kind: 'api_key', scope: 'read', organization: org.slug });
      const list = await (await admin.browser.get(`/o/${org.slug}/settings/api-keys`)).text();
      expect(list).toContain('SIEM export');
      expect(list).toContain(`${key!.slice(0, 8)}…`);
      expect(list).not.toContain(key!);
      const id = /\/settings\/api-keys\/(\d+)\/revoke/.exec(list)?.[1];
      expect((await admin.browser.post(`/o/${org.slug}/settings/api-keys/${id}/revoke`, {})).status).toBe(303);
      expect((await callApi(h, { key: key! }, 'GET', '/me')).status).toBe(401);
      expect(await (await admin.browser.get(`/o/${org.slug}/settings/api-keys`)).text()).toContain('revoked');
      expect(await auditActions(org.id)).toEqual(expect.arrayContaining(['api_key.create', 'api_key.revoke']));
    });

    it('lets only an owner delete the organisation, after typing its name; never the default one', async () => {
      const doomed = await orgWith(h, 'Doomed Co', owner, [{ member: admin, role: 'admin' }]);
      await owner.browser.get(`/o/${doomed.slug}/settings`);
      expect(await (await owner.browser.get(`/o/${doomed.slug}/settings`)).text()).toContain('Delete this organisation…');
      expect((await admin.browser.get(`/o/${doomed.slug}/settings/delete`)).status).toBe(403);
      expect((await admin.browser.post(`/o/${doomed.slug}/settings/delete`, { confirm: 'Doomed Co' })).status).toBe(403);
      const wrong = await owner.browser.post(`/o/${doomed.slug}/settings/delete`, { confirm: 'doomed co' });
      expect(wrong.status).toBe(400);
      expect(await wrong.text()).toContain('Type the name exactly as shown');
      const gone = await owner.browser.post(`/o/${doomed.slug}/settings/delete`, { confirm: 'Doomed Co' });
      expect(gone.status).toBe(303);
      expect(await h.database.db.selectFrom('organization').select('id').where('id', '=', doomed.id).execute()).toEqual([]);
      const chain = await h.database.db.selectFrom('audit_event').select('action').where('chain', '=', `org:${doomed.id}`).orderBy('seq', 'desc').executeTakeFirst();
      expect(chain?.action).toBe('organization.delete');

      // The first account owns the default organisation: the page does not offer to delete it.
      const first = await h.database.db.selectFrom('membership as m').innerJoin('organization as o', 'o.id', 'm.org_id').select('m.user_id').where('o.slug', '=', 'default').executeTakeFirstOrThrow();
      expect(first.user_id).toBe(owner.userId);
      const defaultPage = await (await owner.browser.get('/o/default/settings')).text();
      expect(defaultPage).toContain('cannot be deleted');
      expect(defaultPage).not.toContain('Delete this organisation…');
      expect((await owner.browser.post('/o/default/settings/delete', { confirm: 'Default' })).status).toBe(409);
    });
  });

  describe('audit log', () => {
    it('lists events for admins with their actor, filters by action, and links the export', async () => {
      const page = await (await admin.browser.get(`/o/${org.slug}/audit`)).text();
      expect(page).toContain('api_key.revoke');
      expect(page).toContain('admin@settings.example');
      expect(page).toContain(`href="/api/v1/orgs/${org.slug}/audit-log/export"`);
      expect(page).toContain('dmarcwatch audit verify');
      const filtered = await (await admin.browser.get(`/o/${org.slug}/audit?action=member.role_change`)).text();
      expect(filtered).toContain('member.role_change');
      expect(filtered).not.toContain('api_key.revoke');
      const exported = await admin.browser.get(`/api/v1/orgs/${org.slug}/audit-log/export`);
      expect(exported.status).toBe(200);
      const lines = (await exported.text()).trim().split('\n');
      expect(lines.length).toBe((await auditActions(org.id)).length);
    });

    it('pages through a long trail with cursors', async () => {
      for (let i = 0; i < 60; i += 1) await admin.browser.post(`/o/${org.slug}/settings/name`, { name: `Settings ${i}` });
      const first = await (await admin.browser.get(`/o/${org.slug}/audit`)).text();
      const next = /href="([^"]*cursor=[^"]+)"/.exec(first)?.[1]?.replace(/&amp;/g, '&');
      expect(next).toBeDefined();
      const second = await (await admin.browser.get(next!)).text();
      expect(second).toContain('First page');
      expect((await admin.browser.get(`/o/${org.slug}/audit?cursor=bogus`)).status).toBe(303);
    });
  });
});
