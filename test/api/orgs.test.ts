import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { openHarness, type Harness } from '../auth/harness.js';
import { describeEachBackend } from '../helpers/db.js';
import { callApi, keyFor, orgWith, signedIn, type Member } from './harness.js';

describeEachBackend('organisations API', (backend) => {
  let h: Harness;
  let owner: Member;
  let admin: Member;
  let member: Member;
  let viewer: Member;
  let outsider: Member;
  let org: { id: number; slug: string };
  let otherOrg: { id: number; slug: string };
  beforeAll(async () => {
    h = await openHarness(backend);
    owner = await signedIn(h, 'owner@orgs.example');
    admin = await signedIn(h, 'admin@orgs.example');
    member = await signedIn(h, 'member@orgs.example');
    viewer = await signedIn(h, 'viewer@orgs.example');
    outsider = await signedIn(h, 'outsider@orgs.example');
    org = await orgWith(h, 'Orgs Inc', owner, [
      { member: admin, role: 'admin' },
      { member, role: 'member' },
      { member: viewer, role: 'viewer' },
    ]);
    otherOrg = await orgWith(h, 'Elsewhere Ltd', outsider);
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  it('lists the caller’s organisations with their role; an API key sees only its own', async () => {
    const mine = await callApi(h, { browser: viewer.browser }, 'GET', '/orgs');
    expect(mine.status).toBe(200);
    expect(mine.body.items).toEqual([{ slug: org.slug, name: 'Orgs Inc', role: 'viewer', createdAt: expect.any(String) }]);

    // The first account on the instance runs it and owns the default organisation.
    const owners = await callApi(h, { browser: owner.browser }, 'GET', '/orgs');
    expect(owners.body.items.map((o: { slug: string; role: string }) => [o.slug, o.role])).toEqual([
      ['default', 'owner'],
      [org.slug, 'owner'],
    ]);

    const key = await keyFor(h, org.id, 'write');
    const byKey = await callApi(h, { key }, 'GET', '/orgs');
    expect(byKey.status).toBe(200);
    expect(byKey.body.items).toEqual([{ slug: org.slug, name: 'Orgs Inc', role: 'member', createdAt: expect.any(String) }]);
  });

  it('creates an organisation with a slug from its name; the creator is its owner', async () => {
    const created = await callApi(h, { browser: member.browser }, 'POST', '/orgs', { name: '  Ünïcode Café & Co  ' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ slug: 'unicode-cafe-co', name: 'Ünïcode Café & Co', role: 'owner' });
    const again = await callApi(h, { browser: viewer.browser }, 'POST', '/orgs', { name: 'Unicode cafe co' });
    expect(again.body.slug).toBe('unicode-cafe-co-2');
    const reserved = await callApi(h, { browser: viewer.browser }, 'POST', '/orgs', { name: 'Default' });
    expect(reserved.body.slug).toBe('default-2');

    const members = await h.database.db.selectFrom('membership as m').innerJoin('organization as o', 'o.id', 'm.org_id').select(['m.user_id', 'm.role']).where('o.slug', '=', 'unicode-cafe-co').execute();
    expect(members).toEqual([{ user_id: member.userId, role: 'owner' }]);
    const createdId = (await h.database.db.selectFrom('organization').select('id').where('slug', '=', 'unicode-cafe-co').executeTakeFirstOrThrow()).id;
    const event = await h.database.db.selectFrom('audit_event').select(['actor_id', 'chain']).where('action', '=', 'organization.create').where('target_id', '=', String(createdId)).executeTakeFirstOrThrow();
    expect(event.chain).toBe(`org:${createdId}`);
    expect(event.actor_id).toBe(String(member.userId));

    for (const name of ['', '   ', 'x'.repeat(101), 'Line\nbreak', 'Tab\there']) {
      const bad = await callApi(h, { browser: member.browser }, 'POST', '/orgs', { name });
      expect(bad.status, JSON.stringify(name)).toBe(400);
    }
    const key = await keyFor(h, org.id, 'admin');
    expect((await callApi(h, { key }, 'POST', '/orgs', { name: 'By key' })).status).toBe(403);
    expect((await callApi(h, { anonymous: true }, 'POST', '/orgs', { name: 'Nobody' })).status).toBe(401);
  });

  it('shows an organisation to its members and keys only; anyone else gets the same 404 as for no organisation', async () => {
    const seen = await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}`);
    expect(seen.status).toBe(200);
    expect(seen.body).toEqual({ slug: org.slug, name: 'Orgs Inc', role: 'viewer', createdAt: expect.any(String) });

    const hidden = await callApi(h, { browser: outsider.browser }, 'GET', `/orgs/${org.slug}`);
    const missing = await callApi(h, { browser: outsider.browser }, 'GET', '/orgs/no-such-org');
    expect(hidden.status).toBe(404);
    expect(hidden.body).toEqual(missing.body);
    const otherKey = await keyFor(h, otherOrg.id, 'admin');
    expect((await callApi(h, { key: otherKey }, 'GET', `/orgs/${org.slug}`)).status).toBe(404);
    expect((await callApi(h, { key: otherKey }, 'PATCH', `/orgs/${org.slug}`, { name: 'Taken over' })).status).toBe(404);
    expect((await callApi(h, { key: otherKey }, 'DELETE', `/orgs/${org.slug}`)).status).toBe(404);
    expect((await callApi(h, { browser: outsider.browser }, 'DELETE', `/orgs/${org.slug}`)).status).toBe(404);
  });

  it('renames (admin and above; the slug stays) and audits the change', async () => {
    for (const caller of [member, viewer]) {
      const refused = await callApi(h, { browser: caller.browser }, 'PATCH', `/orgs/${org.slug}`, { name: 'Nope' });
      expect(refused.status).toBe(403);
    }
    expect((await callApi(h, { key: await keyFor(h, org.id, 'write') }, 'PATCH', `/orgs/${org.slug}`, { name: 'Nope' })).status).toBe(403);

    const renamed = await callApi(h, { browser: admin.browser }, 'PATCH', `/orgs/${org.slug}`, { name: 'Orgs International' });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ slug: org.slug, name: 'Orgs International', role: 'admin' });
    const byKey = await callApi(h, { key: await keyFor(h, org.id, 'admin') }, 'PATCH', `/orgs/${org.slug}`, { name: 'Orgs Inc' });
    expect(byKey.status).toBe(200);

    const events = await h.database.db.selectFrom('audit_event').select(['summary', 'actor_type']).where('org_id', '=', org.id).where('action', '=', 'organization.rename').orderBy('seq').execute();
    expect(events).toEqual([
      { actor_type: 'user', summary: { before: { name: 'Orgs Inc' }, after: { name: 'Orgs International' } } },
      { actor_type: 'api_key', summary: { before: { name: 'Orgs International' }, after: { name: 'Orgs Inc' } } },
    ]);
  });

  it('deletes only for an owner: not admins, not API keys, never the default organisation', async () => {
    const doomed = await orgWith(h, 'Doomed', owner, [
      { member: admin, role: 'admin' },
      { member: viewer, role: 'viewer' },
    ]);
    expect((await callApi(h, { browser: viewer.browser }, 'DELETE', `/orgs/${doomed.slug}`)).status).toBe(403);
    const byAdmin = await callApi(h, { browser: admin.browser }, 'DELETE', `/orgs/${doomed.slug}`);
    expect(byAdmin.status).toBe(403);
    expect(byAdmin.body.error.code).toBe('owner_only');
    expect((await callApi(h, { key: await keyFor(h, doomed.id, 'admin') }, 'DELETE', `/orgs/${doomed.slug}`)).status).toBe(403);

    const defaultOrg = await callApi(h, { browser: owner.browser }, 'DELETE', '/orgs/default');
    expect(defaultOrg.status).toBe(409);
    expect(defaultOrg.body.error.code).toBe('default_organization');
    expect(await h.database.db.selectFrom('organization').select('id').where('slug', '=', 'default').executeTakeFirst()).toBeDefined();

    expect((await callApi(h, { browser: owner.browser }, 'DELETE', `/orgs/${doomed.slug}`)).status).toBe(204);
    expect((await callApi(h, { browser: owner.browser }, 'GET', `/orgs/${doomed.slug}`)).status).toBe(404);
    expect((await callApi(h, { browser: viewer.browser }, 'GET', '/orgs')).body.items.map((o: { slug: string }) => o.slug)).not.toContain(doomed.slug);
    expect((await callApi(h, { browser: owner.browser }, 'DELETE', `/orgs/${doomed.slug}`)).status).toBe(404);
  });

  it('lists every route of this module in the OpenAPI document with a summary', async () => {
    const document = (await (await h.app.request('https://dmarc.example.com/api/v1/openapi.json')).json()) as { paths: Record<string, Record<string, { operationId: string; summary: string }>> };
    for (const [path, method] of [
      ['/orgs', 'get'],
      ['/orgs', 'post'],
      ['/orgs/{org}', 'get'],
      ['/orgs/{org}', 'patch'],
      ['/orgs/{org}', 'delete'],
    ] as const) {
      expect(document.paths[path]?.[method]?.summary, `${method} ${path}`).toBeTruthy();
    }
  });
});
