import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openHarness, type Harness } from '../auth/harness.js';
import { describeEachBackend } from '../helpers/db.js';
import { callApi, keyFor, orgWith, signedIn, type Member } from './harness.js';

const MINUTE = 60_000;

describeEachBackend('API keys and bearer authentication', (backend) => {
  let h: Harness;
  let owner: Member;
  let viewer: Member;
  let org: { id: number; slug: string };
  beforeAll(async () => {
    h = await openHarness(backend);
    owner = await signedIn(h, 'owner@keys.example');
    viewer = await signedIn(h, 'viewer@keys.example');
    org = await orgWith(h, 'Keys Inc', owner, [{ member: viewer, role: 'viewer' }]);
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  it('creates a key shown once, stores only its hash, and the key then authenticates', async () => {
    const created = await callApi(h, { browser: owner.browser }, 'POST', `/orgs/${org.slug}/api-keys`, { name: 'CI export', scope: 'read' });
    expect(created.status).toBe(201);
    const key: string = created.body.key;
    expect(key).toMatch(/^dmw_[A-Za-z0-9_-]{43}$/);
    expect(created.body.apiKey).toMatchObject({ name: 'CI export', scope: 'read', prefix: key.slice(0, 8), revokedAt: null });

    const stored = await h.database.db.selectFrom('api_key').selectAll().where('id', '=', created.body.apiKey.id).executeTakeFirstOrThrow();
    expect(Buffer.from(stored.token_hash).toString('hex')).not.toContain(Buffer.from(key).toString('hex'));
    expect(JSON.stringify(stored)).not.toContain(key.slice(8));

    const me = await callApi(h, { key }, 'GET', '/me');
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ kind: 'api_key', id: created.body.apiKey.id, scope: 'read', organization: org.slug });

    const listed = await callApi(h, { browser: owner.browser }, 'GET', `/orgs/${org.slug}/api-keys`);
    expect(listed.status).toBe(200);
    expect(JSON.stringify(listed.body)).not.toContain(key.slice(8));
    expect(h.logs.join('\n')).not.toContain(key.slice(8));
  });

  it('records last use at most once a minute', async () => {
    const key = await keyFor(h, org.id, 'read');
    await callApi(h, { key }, 'GET', '/me');
    const first = await h.database.db.selectFrom('api_key').select('last_used_at').where('prefix', '=', key.slice(0, 8)).executeTakeFirstOrThrow();
    expect(first.last_used_at).not.toBeNull();
    h.clock.advance(10_000);
    await callApi(h, { key }, 'GET', '/me');
    const second = await h.database.db.selectFrom('api_key').select('last_used_at').where('prefix', '=', key.slice(0, 8)).executeTakeFirstOrThrow();
    expect(new Date(second.last_used_at!).getTime()).toBe(new Date(first.last_used_at!).getTime());
    h.clock.advance(MINUTE);
    await callApi(h, { key }, 'GET', '/me');
    const third = await h.database.db.selectFrom('api_key').select('last_used_at').where('prefix', '=', key.slice(0, 8)).executeTakeFirstOrThrow();
    expect(new Date(third.last_used_at!).getTime()).toBeGreaterThan(new Date(first.last_used_at!).getTime());
  });

  it('refuses revoked, expired, malformed and unknown keys with 401, even alongside a valid session', async () => {
    const revoked = await keyFor(h, org.id, 'admin');
    const revokedId = (await callApi(h, { key: revoked }, 'GET', '/me')).body.id;
    expect((await callApi(h, { browser: owner.browser }, 'DELETE', `/orgs/${org.slug}/api-keys/${revokedId}`)).status).toBe(204);
    expect((await callApi(h, { key: revoked }, 'GET', '/me')).status).toBe(401);
    expect((await callApi(h, { browser: owner.browser }, 'DELETE', `/orgs/${org.slug}/api-keys/${revokedId}`)).status).toBe(404);

    const expiring = await keyFor(h, org.id, 'read', { expiresAt: new Date(h.clock().getTime() + MINUTE) });
    expect((await callApi(h, { key: expiring }, 'GET', '/me')).status).toBe(200);
    h.clock.advance(MINUTE + 1);
    const expired = await callApi(h, { key: expiring }, 'GET', '/me');
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe('invalid_api_key');
    expect(expired.headers.get('www-authenticate')).toContain('Bearer');

    for (const bad of ['dmw_short', `dmw_${'A'.repeat(43)}`, 'not-a-key']) {
      expect((await callApi(h, { key: bad }, 'GET', '/me')).status).toBe(401);
    }
    // A bad Authorization header is not rescued by the browser's cookie.
    const cookie = owner.browser.cookieHeader()!;
    const mixed = await h.app.request('https://dmarc.example.com/api/v1/me', { headers: { cookie, authorization: 'Bearer dmw_nope', accept: 'application/json' } });
    expect(mixed.status).toBe(401);
  });

  it('limits requests with bad keys per client address', async () => {
    const bad = `dmw_${'B'.repeat(43)}`;
    let last = 0;
    for (let i = 0; i < 31; i += 1) last = (await callApi(h, { key: bad }, 'GET', '/me')).status;
    expect(last).toBe(429);
    // Another address is not affected.
    const other = await h.app.request('https://dmarc.example.com/api/v1/me', { headers: { authorization: `Bearer ${bad}` } }, { incoming: { socket: { remoteAddress: '192.0.2.99' } } });
    expect(other.status).toBe(401);
  });

  it('scopes: a read key cannot create keys, an admin key can; members below admin cannot list keys', async () => {
    const read = await keyFor(h, org.id, 'read');
    const write = await keyFor(h, org.id, 'write');
    const admin = await keyFor(h, org.id, 'admin');
    expect((await callApi(h, { key: read }, 'POST', `/orgs/${org.slug}/api-keys`, { name: 'x', scope: 'read' })).status).toBe(403);
    expect((await callApi(h, { key: write }, 'GET', `/orgs/${org.slug}/api-keys`)).status).toBe(403);
    expect((await callApi(h, { key: admin }, 'POST', `/orgs/${org.slug}/api-keys`, { name: 'x', scope: 'read' })).status).toBe(201);
    const asViewer = await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/api-keys`);
    expect(asViewer.status).toBe(403);
    expect(asViewer.body.error.message).toContain('viewer');
  });

  it('validates input with one error shape', async () => {
    const bad = await callApi(h, { browser: owner.browser }, 'POST', `/orgs/${org.slug}/api-keys`, { name: '', scope: 'root' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_request');
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['name', 'scope']);

    const past = await callApi(h, { browser: owner.browser }, 'POST', `/orgs/${org.slug}/api-keys`, { name: 'old', scope: 'read', expiresAt: '2001-01-01T00:00:00Z' });
    expect(past.status).toBe(400);

    const notJson = await owner.browser.request('/api/v1/orgs/' + org.slug + '/api-keys', {
      method: 'POST',
      headers: { 'content-type': 'text/plain', origin: 'https://dmarc.example.com', 'x-csrf-token': owner.browser.csrf ?? '', accept: 'application/json' },
      body: '{}',
    });
    expect(notJson.status).toBe(415);
    const cursor = await callApi(h, { browser: owner.browser }, 'GET', `/orgs/${org.slug}/api-keys?cursor=garbage`);
    expect(cursor.status).toBe(400);
    expect(cursor.body.error.code).toBe('invalid_cursor');
  });

  it('pages the key list with cursors', async () => {
    const pageOrg = await orgWith(h, 'Paged Keys', owner);
    for (let i = 0; i < 5; i += 1) {
      await keyFor(h, pageOrg.id, 'read');
      h.clock.advance(1000);
    }
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: Array<{ id: number }>; nextCursor: string | null } } = await callApi(h, { browser: owner.browser }, 'GET', `/orgs/${pageOrg.slug}/api-keys?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.body.items.map((k) => k.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(5);
    expect([...seen].sort((a, b) => b - a)).toEqual(seen);
  });

  it('a session request that changes something needs the CSRF token', async () => {
    const response = await owner.browser.request(`/api/v1/orgs/${org.slug}/api-keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://dmarc.example.com', accept: 'application/json' },
      body: JSON.stringify({ name: 'csrf', scope: 'read' }),
    });
    expect(response.status).toBe(403);
  });

  it('audits key creation and revocation without the key', async () => {
    const created = await callApi(h, { browser: owner.browser }, 'POST', `/orgs/${org.slug}/api-keys`, { name: 'audited', scope: 'write' });
    await callApi(h, { browser: owner.browser }, 'DELETE', `/orgs/${org.slug}/api-keys/${created.body.apiKey.id}`);
    const events = await h.database.db.selectFrom('audit_event').selectAll().where('org_id', '=', org.id).where('target_id', '=', String(created.body.apiKey.id)).orderBy('seq').execute();
    expect(events.map((e) => e.action)).toEqual(['api_key.create', 'api_key.revoke']);
    expect(events[0]!.actor_type).toBe('user');
    expect(JSON.stringify(events)).not.toContain(created.body.key.slice(8));
  });
});

describe('the OpenAPI document', () => {
  it('is served and describes every route', async () => {
    const { apiRoutes } = await import('../../src/api/routes.js');
    const h = await openHarness('pglite');
    try {
      const response = await h.app.request('https://dmarc.example.com/api/v1/openapi.json');
      expect(response.status).toBe(200);
      const document = (await response.json()) as { openapi: string; paths: Record<string, Record<string, { operationId: string }>> };
      expect(document.openapi).toBe('3.1.0');
      const operations = Object.values(document.paths).flatMap((methods) => Object.values(methods).map((op) => op.operationId));
      expect(operations.sort()).toEqual(apiRoutes.map((r) => r.operationId).sort());
      expect(new Set(operations).size).toBe(operations.length);
      const reference = await h.app.request('https://dmarc.example.com/api/docs');
      expect(reference.status).toBe(200);
      const html = await reference.text();
      for (const route of apiRoutes) expect(html).toContain(route.operationId);
    } finally {
      await h.close();
    }
  });
});
