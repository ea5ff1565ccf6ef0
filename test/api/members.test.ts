import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Role } from '../../src/auth/roles.js';
import { openHarness, type Harness } from '../auth/harness.js';
import { describeEachBackend } from '../helpers/db.js';
import { callApi, keyFor, orgWith, signedIn, type Member } from './harness.js';

describeEachBackend('members API', (backend) => {
  let h: Harness;
  const people: Record<string, Member> = {};
  beforeAll(async () => {
    h = await openHarness(backend);
    for (const name of ['owner', 'owner2', 'admin', 'admin2', 'member', 'viewer', 'outsider']) people[name] = await signedIn(h, `${name}@members.example`);
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  const p = (name: string) => people[name] as Member;

  /** A fresh organisation: owner, admin, admin2, member, viewer (and owner2 as a second owner when asked). */
  async function team(name: string, options: { twoOwners?: boolean } = {}) {
    const others: Array<{ member: Member; role: Role }> = [
      { member: p('admin'), role: 'admin' },
      { member: p('admin2'), role: 'admin' },
      { member: p('member'), role: 'member' },
      { member: p('viewer'), role: 'viewer' },
    ];
    if (options.twoOwners) others.push({ member: p('owner2'), role: 'owner' });
    return orgWith(h, name, p('owner'), others);
  }

  const roleOf = async (orgId: number, userId: number) =>
    (await h.database.db.selectFrom('membership').select('role').where('org_id', '=', orgId).where('user_id', '=', userId).executeTakeFirst())?.role ?? null;

  it('lists members to every member, by address, in pages; others get 404', async () => {
    const org = await team('Listing');
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { items: Array<{ email: string; role: string; userId: number }>; nextCursor: string | null } } = await callApi(
        h,
        { browser: p('viewer').browser },
        'GET',
        `/orgs/${org.slug}/members?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((m) => `${m.email}:${m.role}`));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([
      'admin2@members.example:admin',
      'admin@members.example:admin',
      'member@members.example:member',
      'owner@members.example:owner',
      'viewer@members.example:viewer',
    ]);
    expect((await callApi(h, { browser: p('outsider').browser }, 'GET', `/orgs/${org.slug}/members`)).status).toBe(404);
    expect((await callApi(h, { key: await keyFor(h, org.id, 'read') }, 'GET', `/orgs/${org.slug}/members`)).status).toBe(200);
  });

  it('role changes: viewers and members 403; admins up to admin; only owners touch owners', async () => {
    const org = await team('Roles');
    const patch = (who: string, target: string, role: Role) => callApi(h, { browser: p(who).browser }, 'PATCH', `/orgs/${org.slug}/members/${p(target).userId}`, { role });

    for (const who of ['viewer', 'member']) {
      expect((await patch(who, 'viewer', 'member')).status).toBe(403);
      expect((await patch(who, who, 'admin')).status).toBe(403);
    }
    expect(await roleOf(org.id, p('viewer').userId)).toBe('viewer');

    const promoted = await patch('admin', 'viewer', 'admin');
    expect(promoted.status).toBe(200);
    expect(promoted.body).toMatchObject({ userId: p('viewer').userId, role: 'admin', email: 'viewer@members.example' });
    expect((await patch('admin', 'viewer', 'viewer')).status).toBe(200);

    const grantOwner = await patch('admin', 'member', 'owner');
    expect(grantOwner.status).toBe(403);
    expect(grantOwner.body.error.code).toBe('owner_only');
    // Nobody raises themselves above their own role.
    expect((await patch('admin', 'admin', 'owner')).status).toBe(403);
    expect((await patch('admin', 'owner', 'admin')).status).toBe(403);
    expect(await roleOf(org.id, p('owner').userId)).toBe('owner');
    expect(await roleOf(org.id, p('admin').userId)).toBe('admin');

    // An admin key acts as an admin: it manages members but never owners.
    const adminKey = await keyFor(h, org.id, 'admin');
    expect((await callApi(h, { key: adminKey }, 'PATCH', `/orgs/${org.slug}/members/${p('member').userId}`, { role: 'viewer' })).status).toBe(200);
    expect((await callApi(h, { key: adminKey }, 'PATCH', `/orgs/${org.slug}/members/${p('member').userId}`, { role: 'owner' })).status).toBe(403);
    expect((await callApi(h, { key: await keyFor(h, org.id, 'write') }, 'PATCH', `/orgs/${org.slug}/members/${p('member').userId}`, { role: 'member' })).status).toBe(403);

    // The last owner cannot step down; with a second owner, they can.
    const lastOwner = await patch('owner', 'owner', 'admin');
    expect(lastOwner.status).toBe(409);
    expect(lastOwner.body.error.code).toBe('last_owner');
    expect((await patch('owner', 'admin', 'owner')).status).toBe(200);
    expect((await patch('owner', 'owner', 'admin')).status).toBe(200);
    expect(await roleOf(org.id, p('owner').userId)).toBe('admin');
    expect(await roleOf(org.id, p('admin').userId)).toBe('owner');

    const events = await h.database.db.selectFrom('audit_event').select(['action', 'target_id', 'summary']).where('org_id', '=', org.id).where('action', '=', 'member.role_change').orderBy('seq').execute();
    expect(events[0]).toEqual({ action: 'member.role_change', target_id: String(p('viewer').userId), summary: { before: { role: 'viewer' }, after: { role: 'admin' } } });
    expect(events).toHaveLength(5);
  });

  it('answers 404 for someone who is not a member here, even a member elsewhere', async () => {
    const org = await team('Strangers');
    const elsewhere = await orgWith(h, 'Elsewhere', p('outsider'));
    const stranger = p('outsider').userId;
    expect((await callApi(h, { browser: p('owner').browser }, 'PATCH', `/orgs/${org.slug}/members/${stranger}`, { role: 'viewer' })).status).toBe(404);
    expect((await callApi(h, { browser: p('owner').browser }, 'DELETE', `/orgs/${org.slug}/members/${stranger}`)).status).toBe(404);
    // A member of the other organisation cannot reach this one's members through theirs.
    expect((await callApi(h, { browser: p('outsider').browser }, 'PATCH', `/orgs/${elsewhere.slug}/members/${p('viewer').userId}`, { role: 'owner' })).status).toBe(404);
    expect((await callApi(h, { browser: p('outsider').browser }, 'DELETE', `/orgs/${org.slug}/members/${p('viewer').userId}`)).status).toBe(404);
    expect(await roleOf(org.id, p('viewer').userId)).toBe('viewer');
    expect((await callApi(h, { browser: p('owner').browser }, 'PATCH', `/orgs/${org.slug}/members/0`, { role: 'viewer' })).status).toBe(400);
  });

  it('removal: admins remove others (not owners), anyone may leave, the last owner may not', async () => {
    const org = await team('Removal');
    const remove = (who: string, target: string) => callApi(h, { browser: p(who).browser }, 'DELETE', `/orgs/${org.slug}/members/${p(target).userId}`);

    expect((await remove('viewer', 'member')).status).toBe(403);
    expect((await remove('member', 'viewer')).status).toBe(403);
    expect((await remove('admin', 'owner')).status).toBe(403);
    expect(await roleOf(org.id, p('member').userId)).toBe('member');

    expect((await remove('admin', 'admin2')).status).toBe(204);
    expect(await roleOf(org.id, p('admin2').userId)).toBeNull();
    expect((await callApi(h, { browser: p('admin2').browser }, 'GET', `/orgs/${org.slug}`)).status).toBe(404);

    // Leaving.
    expect((await remove('viewer', 'viewer')).status).toBe(204);
    expect((await callApi(h, { browser: p('viewer').browser }, 'GET', `/orgs/${org.slug}/members`)).status).toBe(404);

    const lastOwner = await remove('owner', 'owner');
    expect(lastOwner.status).toBe(409);
    expect(lastOwner.body.error.message).toContain('last owner');
    expect(await roleOf(org.id, p('owner').userId)).toBe('owner');

    const events = await h.database.db.selectFrom('audit_event').select(['action', 'actor_id', 'target_id']).where('org_id', '=', org.id).where('action', 'in', ['member.remove', 'member.leave']).orderBy('seq').execute();
    expect(events).toEqual([
      { action: 'member.remove', actor_id: String(p('admin').userId), target_id: String(p('admin2').userId) },
      { action: 'member.leave', actor_id: String(p('viewer').userId), target_id: String(p('viewer').userId) },
    ]);
  });

  it('with two owners: one owner removes the other, who then cannot be the last to go', async () => {
    const org = await team('Two owners', { twoOwners: true });
    expect((await callApi(h, { browser: p('owner2').browser }, 'DELETE', `/orgs/${org.slug}/members/${p('owner').userId}`)).status).toBe(204);
    expect((await callApi(h, { browser: p('owner2').browser }, 'DELETE', `/orgs/${org.slug}/members/${p('owner2').userId}`)).status).toBe(409);
    expect((await callApi(h, { browser: p('owner2').browser }, 'PATCH', `/orgs/${org.slug}/members/${p('owner2').userId}`, { role: 'viewer' })).status).toBe(409);
  });

  it('two owners demoting each other at once leave one owner', async () => {
    const org = await team('Race', { twoOwners: true });
    const [a, b] = await Promise.all([
      callApi(h, { browser: p('owner').browser }, 'PATCH', `/orgs/${org.slug}/members/${p('owner2').userId}`, { role: 'admin' }),
      callApi(h, { browser: p('owner2').browser }, 'PATCH', `/orgs/${org.slug}/members/${p('owner').userId}`, { role: 'admin' }),
    ]);
    // The loser finds itself demoted (403: an admin cannot change an owner) or the other the last owner (409).
    expect([a.status, b.status].filter((s) => s === 200)).toHaveLength(1);
    expect([a.status, b.status].filter((s) => s !== 200)[0]).toBeOneOf([403, 409]);
    const owners = await h.database.db.selectFrom('membership').select('user_id').where('org_id', '=', org.id).where('role', '=', 'owner').execute();
    expect(owners).toHaveLength(1);
  });
});
