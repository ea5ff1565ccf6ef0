import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/lib/crypto/index.js';
import { openHarness, tokenOf, type Harness } from '../auth/harness.js';
import { describeEachBackend } from '../helpers/db.js';
import { callApi, keyFor, orgWith, signedIn, type Member } from './harness.js';

const DAY = 86_400_000;

/** The invitation link in a mail. */
function invitationLinkIn(text: string): string {
  const match = /https:\/\/dmarc\.example\.com\/invitations\/accept\?token=[A-Za-z0-9_-]{43}/.exec(text);
  if (!match) throw new Error(`no invitation link in:\n${text}`);
  return match[0];
}

describeEachBackend('invitations', (backend) => {
  let h: Harness;
  let owner: Member;
  let admin: Member;
  let member: Member;
  let viewer: Member;
  let org: { id: number; slug: string };
  beforeAll(async () => {
    h = await openHarness(backend);
    owner = await signedIn(h, 'owner@invite.example');
    admin = await signedIn(h, 'admin@invite.example');
    member = await signedIn(h, 'member@invite.example');
    viewer = await signedIn(h, 'viewer@invite.example');
    org = await orgWith(h, 'Invite Co', owner, [
      { member: admin, role: 'admin' },
      { member, role: 'member' },
      { member: viewer, role: 'viewer' },
    ]);
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  /** Invites through the API and returns the invitation and the token from the mail that arrived. */
  async function invite(by: Member, email: string, role = 'member', slug = org.slug) {
    const response = await callApi(h, { browser: by.browser }, 'POST', `/orgs/${slug}/invitations`, { email, role });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    const mail = await h.smtp.nextMailTo(email.toLowerCase());
    return { invitation: response.body.invitation, mailed: response.body.mailed as boolean, mail, token: tokenOf(invitationLinkIn(mail.text)) };
  }

  const membership = (userId: number, orgId = org.id) =>
    h.database.db.selectFrom('membership').select('role').where('org_id', '=', orgId).where('user_id', '=', userId).executeTakeFirst();

  it('mails the invitation link through SMTP and stores only the token’s hash', async () => {
    const { invitation, mailed, mail, token } = await invite(admin, 'New.Person@Example.org', 'viewer');
    expect(mailed).toBe(true);
    expect(invitation).toMatchObject({ email: 'new.person@example.org', role: 'viewer', invitedBy: admin.userId });
    expect(new Date(invitation.expiresAt).getTime() - new Date(invitation.createdAt).getTime()).toBe(14 * DAY);
    expect(mail.subject).toBe('Invitation to join Invite Co on DMARC Watch');
    expect(mail.text).toContain('admin@invite.example invited you to join Invite Co');
    expect(mail.html).toContain(`href="https://dmarc.example.com/invitations/accept?token=${token}"`);

    const row = await h.database.db.selectFrom('invitation').selectAll().where('id', '=', invitation.id).executeTakeFirstOrThrow();
    expect(Buffer.from(row.token_hash).equals(Buffer.from(hashToken(token)))).toBe(true);
    expect(JSON.stringify(row)).not.toContain(token);
    const listed = await callApi(h, { browser: owner.browser }, 'GET', `/orgs/${org.slug}/invitations`);
    expect(listed.body.items.map((i: { id: number }) => i.id)).toContain(invitation.id);
    expect(JSON.stringify(listed.body)).not.toContain(token);
    const event = await h.database.db.selectFrom('audit_event').selectAll().where('action', '=', 'invitation.create').where('target_id', '=', String(invitation.id)).executeTakeFirstOrThrow();
    expect(JSON.stringify(event)).not.toContain(token);
    expect(h.logs.join('\n')).not.toContain(token);
  });

  it('role matrix: viewers and members cannot invite, list or revoke; admins cannot invite owners; others get 404', async () => {
    for (const who of [viewer, member]) {
      expect((await callApi(h, { browser: who.browser }, 'POST', `/orgs/${org.slug}/invitations`, { email: 'x@example.org', role: 'viewer' })).status).toBe(403);
      expect((await callApi(h, { browser: who.browser }, 'GET', `/orgs/${org.slug}/invitations`)).status).toBe(403);
    }
    expect((await callApi(h, { key: await keyFor(h, org.id, 'write') }, 'POST', `/orgs/${org.slug}/invitations`, { email: 'x@example.org', role: 'viewer' })).status).toBe(403);
    const ownerByAdmin = await callApi(h, { browser: admin.browser }, 'POST', `/orgs/${org.slug}/invitations`, { email: 'boss@example.org', role: 'owner' });
    expect(ownerByAdmin.status).toBe(403);
    const byKey = await callApi(h, { key: await keyFor(h, org.id, 'admin') }, 'POST', `/orgs/${org.slug}/invitations`, { email: 'boss@example.org', role: 'owner' });
    expect(byKey.status).toBe(403);
    expect((await invite(owner, 'co-owner@example.org', 'owner')).invitation.role).toBe('owner');

    const already = await callApi(h, { browser: owner.browser }, 'POST', `/orgs/${org.slug}/invitations`, { email: 'MEMBER@invite.example', role: 'admin' });
    expect(already.status).toBe(409);
    expect(already.body.error.code).toBe('already_member');
    const bad = await callApi(h, { browser: owner.browser }, 'POST', `/orgs/${org.slug}/invitations`, { email: 'not an address', role: 'viewer' });
    expect(bad.status).toBe(400);

    const outsider = await signedIn(h, 'outsider@invite.example');
    const theirs = await orgWith(h, 'Theirs', outsider);
    const { invitation } = await invite(outsider, 'guest@example.org', 'viewer', theirs.slug);
    expect((await callApi(h, { browser: owner.browser }, 'DELETE', `/orgs/${org.slug}/invitations/${invitation.id}`)).status).toBe(404);
    expect((await callApi(h, { browser: owner.browser }, 'GET', `/orgs/${theirs.slug}/invitations`)).status).toBe(404);
    expect((await callApi(h, { browser: viewer.browser }, 'DELETE', `/orgs/${org.slug}/invitations/${invitation.id}`)).status).toBe(403);
    const pending = await h.database.db.selectFrom('invitation').select('revoked_at').where('id', '=', invitation.id).executeTakeFirstOrThrow();
    expect(pending.revoked_at).toBeNull();
  });

  it('accepting over the API: only the invited address, once; another address gets 404 and changes nothing', async () => {
    const invitee = await signedIn(h, 'invitee@example.org');
    const stranger = await signedIn(h, 'stranger@example.org');
    const { token } = await invite(admin, 'invitee@example.org', 'admin');

    const wrong = await callApi(h, { browser: stranger.browser }, 'POST', '/invitations/accept', { token });
    const unknown = await callApi(h, { browser: stranger.browser }, 'POST', '/invitations/accept', { token: 'A'.repeat(43) });
    expect(wrong.status).toBe(404);
    expect(wrong.body).toEqual(unknown.body);
    expect(await membership(stranger.userId)).toBeUndefined();

    const accepted = await callApi(h, { browser: invitee.browser }, 'POST', '/invitations/accept', { token });
    expect(accepted.status).toBe(200);
    expect(accepted.body).toEqual({ organization: { slug: org.slug, name: 'Invite Co' }, role: 'admin' });
    expect(await membership(invitee.userId)).toEqual({ role: 'admin' });

    expect((await callApi(h, { browser: invitee.browser }, 'POST', '/invitations/accept', { token })).status).toBe(404);
    const key = await keyFor(h, org.id, 'admin');
    expect((await callApi(h, { key }, 'POST', '/invitations/accept', { token })).status).toBe(403);
    const events = await h.database.db.selectFrom('audit_event').select(['action', 'actor_id']).where('org_id', '=', org.id).where('target_id', 'in', [String(invitee.userId)]).where('action', '=', 'member.add').execute();
    expect(events).toEqual([{ action: 'member.add', actor_id: String(invitee.userId) }]);
  });

  it('expired and revoked invitations cannot be accepted; inviting again replaces the old link', async () => {
    const late = await signedIn(h, 'late@example.org');
    const expiring = await invite(admin, 'late@example.org');
    // Fourteen days on (moving the clock would also end every session of this suite).
    await h.database.db.updateTable('invitation').set({ expires_at: new Date(h.clock().getTime() - 1) }).where('id', '=', expiring.invitation.id).execute();
    expect((await callApi(h, { browser: late.browser }, 'POST', '/invitations/accept', { token: expiring.token })).status).toBe(404);
    expect((await h.app.request(`https://dmarc.example.com/invitations/accept?token=${expiring.token}`)).status).toBe(404);
    const list = await callApi(h, { browser: admin.browser }, 'GET', `/orgs/${org.slug}/invitations`);
    expect(list.body.items.map((i: { id: number }) => i.id)).not.toContain(expiring.invitation.id);
    expect((await callApi(h, { browser: admin.browser }, 'DELETE', `/orgs/${org.slug}/invitations/${expiring.invitation.id}`)).status).toBe(404);

    const revoked = await invite(admin, 'late@example.org');
    expect((await callApi(h, { browser: admin.browser }, 'DELETE', `/orgs/${org.slug}/invitations/${revoked.invitation.id}`)).status).toBe(204);
    expect((await callApi(h, { browser: admin.browser }, 'DELETE', `/orgs/${org.slug}/invitations/${revoked.invitation.id}`)).status).toBe(404);
    expect((await callApi(h, { browser: late.browser }, 'POST', '/invitations/accept', { token: revoked.token })).status).toBe(404);

    const first = await invite(admin, 'late@example.org', 'viewer');
    const second = await invite(admin, 'late@example.org', 'member');
    expect((await callApi(h, { browser: late.browser }, 'POST', '/invitations/accept', { token: first.token })).status).toBe(404);
    expect((await callApi(h, { browser: late.browser }, 'POST', '/invitations/accept', { token: second.token })).body.role).toBe('member');
    expect(await membership(late.userId)).toEqual({ role: 'member' });
  });

  it('the invitation page never changes anything on GET; the invitee accepts with a CSRF-protected form', async () => {
    const { token } = await invite(admin, 'page@example.org', 'viewer');
    const url = `/invitations/accept?token=${token}`;
    const anonymous = h.browser();
    const shown = await anonymous.get(url);
    expect(shown.status).toBe(200);
    const html = await shown.text();
    expect(html).toContain('Invite Co');
    expect(html).toContain('page@example.org');
    expect(html).toContain('action="/sign-in"');

    const other = await signedIn(h, 'other-page@example.org');
    const otherPage = await (await other.browser.get(url)).text();
    expect(otherPage).toContain('another address');
    expect(otherPage).not.toContain('action="/invitations/accept"');
    expect((await other.browser.post('/invitations/accept', { token })).status).toBe(404);

    const invitee = await signedIn(h, 'page@example.org');
    // Signing in accepted it already; for the form, invite a second organisation.
    expect(await membership(invitee.userId)).toEqual({ role: 'viewer' });
    const second = await orgWith(h, 'Second Co', owner);
    const again = await invite(owner, 'page@example.org', 'member', second.slug);
    const page = await invitee.browser.get(`/invitations/accept?token=${again.token}`);
    expect(await page.text()).toContain('action="/invitations/accept"');
    expect(await membership(invitee.userId, second.id)).toBeUndefined();
    const pending = await h.database.db.selectFrom('invitation').select('accepted_at').where('id', '=', again.invitation.id).executeTakeFirstOrThrow();
    expect(pending.accepted_at).toBeNull();

    expect((await invitee.browser.post('/invitations/accept', { token: again.token }, { csrf: null })).status).toBe(403);
    expect(await membership(invitee.userId, second.id)).toBeUndefined();
    const joined = await invitee.browser.post('/invitations/accept', { token: again.token });
    expect(joined.status).toBe(200);
    expect(await joined.text()).toContain('You joined Second Co');
    expect(await membership(invitee.userId, second.id)).toEqual({ role: 'member' });
  });

  it('signing in with the invited address accepts the invitation', async () => {
    const known = await signedIn(h, 'known@example.org');
    await invite(admin, 'known@example.org', 'viewer');
    expect(await membership(known.userId)).toBeUndefined();
    await h.signIn('known@example.org');
    expect(await membership(known.userId)).toEqual({ role: 'viewer' });
    const accepted = await h.database.db.selectFrom('invitation').select('accepted_at').where('email', '=', 'known@example.org').executeTakeFirstOrThrow();
    expect(accepted.accepted_at).not.toBeNull();
  });
});

describeEachBackend('invite-only sign-up', (backend) => {
  let h: Harness;
  let owner: Member;
  let org: { id: number; slug: string };
  beforeAll(async () => {
    h = await openHarness(backend, { DMARCWATCH_SIGNUP: 'invite', DMARCWATCH_ADMIN_EMAIL: 'root@invite-only.example' });
    owner = await signedIn(h, 'root@invite-only.example');
    org = await orgWith(h, 'Closed Circle', owner);
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  async function confirm(email: string) {
    const browser = h.browser();
    const link = await browser.requestLink(email, h.smtp);
    const response = await browser.post('/auth/confirm', { token: tokenOf(link) });
    const user = await h.database.db.selectFrom('user_account').select('id').where('email', '=', email).executeTakeFirst();
    return { response, user };
  }

  async function invite(email: string) {
    const response = await callApi(h, { browser: owner.browser }, 'POST', `/orgs/${org.slug}/invitations`, { email, role: 'member' });
    expect(response.status).toBe(201);
    await h.smtp.nextMailTo(email);
    return response.body.invitation as { id: number };
  }

  it('an invited address gets its account and its membership, once', async () => {
    await invite('joiner@example.org');
    const first = await confirm('joiner@example.org');
    expect(first.response.status).toBe(303);
    const userId = first.user!.id;
    const second = await confirm('joiner@example.org');
    expect(second.response.status).toBe(303);

    const memberships = await h.database.db.selectFrom('membership').select(['org_id', 'role']).where('user_id', '=', userId).execute();
    expect(memberships).toEqual([{ org_id: org.id, role: 'member' }]);
    const added = await h.database.db.selectFrom('audit_event').select('action').where('org_id', '=', org.id).where('action', 'in', ['member.add', 'invitation.accept']).where('actor_id', '=', String(userId)).execute();
    expect(added.map((e) => e.action).sort()).toEqual(['invitation.accept', 'member.add']);
    // A later account is not given the default organisation.
    expect(memberships.some((m) => m.org_id !== org.id)).toBe(false);
  });

  it('an expired or revoked invitation creates neither the account nor a membership', async () => {
    const revoked = await invite('revoked@example.org');
    expect((await callApi(h, { browser: owner.browser }, 'DELETE', `/orgs/${org.slug}/invitations/${revoked.id}`)).status).toBe(204);
    const refused = await confirm('revoked@example.org');
    expect(refused.response.status).toBe(403);
    expect(refused.user).toBeUndefined();

    await invite('expired@example.org');
    h.clock.advance(14 * DAY - 60_000);
    owner = await signedIn(h, 'root@invite-only.example');
    await invite('fresh@example.org');
    h.clock.advance(60_001);
    const expired = await confirm('expired@example.org');
    expect(expired.response.status).toBe(403);
    expect(expired.user).toBeUndefined();
    // One made a minute later still works.
    expect((await confirm('fresh@example.org')).response.status).toBe(303);
    const members = await h.database.db.selectFrom('membership').select('user_id').where('org_id', '=', org.id).execute();
    expect(members).toHaveLength(3);
  });
});

describe('invitation mail', () => {
  it('escapes the organisation name in HTML', async () => {
    const { invitationMail } = await import('../../src/mail/invitation-mail.js');
    const mail = invitationMail({ to: 'a@example.org', organization: '<b>Evil</b> & Co', role: 'viewer', invitedBy: null, link: 'https://x.example/invitations/accept?token=t', origin: 'https://x.example', validDays: 14 });
    expect(mail.html).toContain('&lt;b&gt;Evil&lt;/b&gt; &amp; Co');
    expect(mail.html).not.toContain('<b>Evil');
    expect(mail.text).toContain('An administrator invited you');
  });
});
