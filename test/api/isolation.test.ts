import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ApiRoute } from '../../src/api/define.js';
import { apiRoutes } from '../../src/api/routes.js';
import { openHarness, type Harness } from '../auth/harness.js';
import { describeEachBackend } from '../helpers/db.js';
import { callApi, keyFor, orgWith, signedIn, type ApiCaller, type Member } from './harness.js';
import { SAMPLES, part, upload } from './upload-helpers.js';

/**
 * The tenant-isolation matrix: every API route, called by people and keys that must not get in.
 * Routes are read from the same list the router mounts, so a new route is covered as soon as it
 * exists — and this suite fails until its path parameters have a sample below.
 */

interface Tenant {
  slug: string;
  orgId: number;
  owner: Member;
  viewer: Member;
  keys: { read: string; write: string; admin: string };
  /** Ids of items inside this organisation, by path parameter name. */
  items: Record<string, string>;
}

const PARAM = /\{([A-Za-z0-9_]+)\}/g;

function paramsOf(route: ApiRoute): string[] {
  return [...route.path.matchAll(PARAM)].map((m) => m[1] as string);
}

function pathFor(route: ApiRoute, slug: string, items: Record<string, string>): string {
  return route.path.replace(PARAM, (_, name: string) => {
    if (name === 'org') return slug;
    const value = items[name];
    if (value === undefined) throw new Error(`no sample for {${name}} in ${route.operationId}`);
    return encodeURIComponent(value);
  });
}

function label(route: ApiRoute): string {
  return `${route.method.toUpperCase()} ${route.path}`;
}

/** A body that passes no validation: access is decided before input is read, so it never matters. */
const EMPTY_BODY = {};

async function tenant(h: Harness, name: string): Promise<Tenant> {
  const owner = await signedIn(h, `owner@${name}.example`);
  const viewer = await signedIn(h, `viewer@${name}.example`);
  const org = await orgWith(h, name, owner, [{ member: viewer, role: 'viewer' }]);
  const keys = { read: await keyFor(h, org.id, 'read'), write: await keyFor(h, org.id, 'write'), admin: await keyFor(h, org.id, 'admin') };
  const me = await callApi(h, { key: keys.admin }, 'GET', '/me');
  const sessions = await callApi(h, { browser: owner.browser }, 'GET', '/me/sessions');
  const uploaded = await upload(h, { key: keys.write }, org.slug, [part(SAMPLES.xml)]);
  const domain = await callApi(h, { key: keys.write }, 'POST', `/orgs/${org.slug}/domains`, { name: `${name}.example` });
  const mailbox = await callApi(h, { key: keys.write }, 'POST', `/orgs/${org.slug}/mailboxes`, { name: 'Reports', host: 'imap.example.com', username: 'dmarc', authMethod: 'password', password: 'unused' });
  const invitation = await callApi(h, { key: keys.admin }, 'POST', `/orgs/${org.slug}/invitations`, { email: `invitee@${name}.example`, role: 'viewer' });
  // A source address only this organisation knows (through its decision about it).
  const ip = `192.0.2.${name.length}`;
  await callApi(h, { key: keys.write }, 'PUT', `/orgs/${org.slug}/sources/${ip}/decision`, { decision: 'ignored' });
  // A service only this organisation defines (its own entry), with a decision about it.
  const service = `${name}-relay`;
  const entry = await callApi(h, { key: keys.admin }, 'PUT', `/orgs/${org.slug}/service-entries/${service}`, { name: `${name} relay`, category: 'crm', ptr: [`relay.${name}.example`] });
  if (entry.status !== 200) throw new Error(`could not add a service entry: ${JSON.stringify(entry.body)}`);
  await callApi(h, { key: keys.write }, 'PUT', `/orgs/${org.slug}/services/${service}/decision`, { decision: 'authorised' });
  const items: Record<string, string> = {
    apiKey: String(me.body.id),
    session: String(sessions.body.items[0].id),
    domain: String(domain.body.id),
    mailbox: String(mailbox.body.id),
    kind: 'aggregate',
    report: String(uploaded.body.files[0].documents[0].report.id),
    user: String(viewer.userId),
    invitation: String(invitation.body.invitation.id),
    ip,
    service,
  };
  return { slug: org.slug, orgId: org.id, owner, viewer, keys, items };
}

/** Every row of every table that belongs to the organisation, to prove that failed calls changed nothing. */
async function snapshot(h: Harness, orgId: number): Promise<string> {
  const tables = await h.database.db
    .selectFrom('information_schema.columns' as never)
    .select(['table_name' as never])
    .where('column_name' as never, '=', 'org_id' as never)
    .where('table_schema' as never, '=', 'public' as never)
    .execute();
  const names = (tables as Array<{ table_name: string }>).map((t) => t.table_name).sort();
  const parts: string[] = [];
  for (const table of names) {
    if (table === 'audit_event' || table === 'rate_limit') continue;
    const rows = await h.database.db
      .selectFrom(table as never)
      .selectAll()
      .where('org_id' as never, '=', orgId as never)
      .execute();
    const lines = rows.map((row) => JSON.stringify(row, (key, value: unknown) => (key === 'last_used_at' || key === 'last_seen_at' ? undefined : value))).sort();
    parts.push(`${table}:${lines.join('\n')}`);
  }
  return parts.join('\n');
}

describeEachBackend('tenant isolation matrix', (backend) => {
  let h: Harness;
  let victim: Tenant;
  let attacker: Tenant;
  let before: string;

  beforeAll(async () => {
    h = await openHarness(backend, { DMARCWATCH_API_RATE_LIMIT: '100000' });
    victim = await tenant(h, 'victim');
    attacker = await tenant(h, 'attacker');
    before = await snapshot(h, victim.orgId);
  }, 120_000);
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  const call = (caller: ApiCaller, route: ApiRoute, path: string) =>
    callApi(h, caller, route.method.toUpperCase(), path, route.method === 'get' || route.method === 'delete' ? undefined : EMPTY_BODY);

  it('has a sample for every path parameter of every route', () => {
    const missing = apiRoutes.flatMap((route) => paramsOf(route).filter((p) => p !== 'org' && victim.items[p] === undefined).map((p) => `${label(route)}: {${p}}`));
    expect(missing).toEqual([]);
  });

  it('anonymous callers get 401 everywhere', async () => {
    const wrong: string[] = [];
    for (const route of apiRoutes) {
      const response = await call({ anonymous: true }, route, pathFor(route, victim.slug, victim.items));
      if (response.status !== 401) wrong.push(`${label(route)} → ${response.status}`);
    }
    expect(wrong).toEqual([]);
  });

  it("another organisation's members and keys get 404 for everything inside it", async () => {
    const wrong: string[] = [];
    for (const route of apiRoutes.filter((r) => r.access !== 'user')) {
      const path = pathFor(route, victim.slug, victim.items);
      for (const [who, caller] of [
        ['owner session', { browser: attacker.owner.browser }],
        ['admin key', { key: attacker.keys.admin }],
      ] as const) {
        const response = await call(caller, route, path);
        if (response.status !== 404) wrong.push(`${label(route)} as the other org's ${who} → ${response.status}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("another organisation's item ids under one's own organisation get 404", async () => {
    const wrong: string[] = [];
    for (const route of apiRoutes.filter((r) => paramsOf(r).some((p) => p !== 'org'))) {
      const path = pathFor(route, attacker.slug, victim.items);
      const caller = route.access === 'user' || route.keys === false ? { browser: attacker.owner.browser } : { key: attacker.keys.admin };
      const response = await call(route.access === 'user' ? { browser: attacker.owner.browser } : caller, route, path);
      if (response.status !== 404 && response.status !== 400) wrong.push(`${label(route)} → ${response.status}`);
    }
    expect(wrong).toEqual([]);
  });

  it('viewers and keys without the scope get 403 for every write', async () => {
    const wrong: string[] = [];
    for (const route of apiRoutes) {
      if (route.access === 'user') continue;
      const path = pathFor(route, victim.slug, victim.items);
      const needed = route.access.org;
      const denied: Array<[string, ApiCaller]> = [];
      if (needed !== 'read') denied.push(['viewer', { browser: victim.viewer.browser }], ['read key', { key: victim.keys.read }]);
      if (needed === 'admin') denied.push(['write key', { key: victim.keys.write }]);
      for (const [who, caller] of denied) {
        const response = await call(caller, route, path);
        if (response.status !== 403) wrong.push(`${label(route)} as ${who} → ${response.status}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('API keys cannot call routes meant for people', async () => {
    const wrong: string[] = [];
    for (const route of apiRoutes.filter((r) => r.access === 'user' && !r.keys)) {
      const response = await call({ key: victim.keys.admin }, route, pathFor(route, victim.slug, victim.items));
      if (response.status !== 403) wrong.push(`${label(route)} → ${response.status}`);
    }
    expect(wrong).toEqual([]);
  });

  it("left the victim's data as it was", async () => {
    expect(await snapshot(h, victim.orgId)).toBe(before);
  });
  it('revoked and expired keys get 401 everywhere', async () => {
    const revoked = await keyFor(h, victim.orgId, 'admin');
    const revokedId = (await callApi(h, { key: revoked }, 'GET', '/me')).body.id;
    expect((await callApi(h, { browser: victim.owner.browser }, 'DELETE', `/orgs/${victim.slug}/api-keys/${revokedId}`)).status).toBe(204);
    const expiring = await keyFor(h, victim.orgId, 'admin', { expiresAt: new Date(h.clock().getTime() + 1000) });
    h.clock.advance(2000);
    const wrong: string[] = [];
    for (const route of apiRoutes) {
      // Bad keys are rate-limited per address; every route must still answer 401 rather than 429.
      await h.database.db.deleteFrom('rate_limit').execute();
      for (const [who, key] of [
        ['revoked', revoked],
        ['expired', expiring],
      ] as const) {
        const response = await call({ key }, route, pathFor(route, victim.slug, victim.items));
        if (response.status !== 401) wrong.push(`${label(route)} with a ${who} key → ${response.status}`);
      }
    }
    expect(wrong).toEqual([]);
  });

});

describe('matrix coverage', () => {
  it('covers the organisation routes of every feature', () => {
    expect(apiRoutes.length).toBeGreaterThan(0);
    expect(apiRoutes.every((route) => route.access === 'user' || route.path.startsWith('/orgs/{org}'))).toBe(true);
  });
});
