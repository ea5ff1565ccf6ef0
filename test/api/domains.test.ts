import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { domainProofJob } from '../../src/domains/proof-job.js';
import { Scheduler } from '../../src/jobs/scheduler.js';
import { createDnsResolver } from '../../src/lib/dns.js';
import { createLogger } from '../../src/lib/logger.js';
import { openHarness, type Harness } from '../auth/harness.js';
import { describeEachBackend } from '../helpers/db.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { callApi, keyFor, orgWith, signedIn, type Member } from './harness.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describeEachBackend('domains and DNS ownership proof', (backend) => {
  let dns: TestDnsServer;
  let h: Harness;
  let owner: Member;
  let viewer: Member;
  let member: Member;
  let stranger: Member;
  let org: { id: number; slug: string };
  let otherOrg: { id: number; slug: string };

  beforeAll(async () => {
    dns = await startDnsServer();
    h = await openHarness(backend, { DMARCWATCH_DNS_SERVERS: dns.address, DMARCWATCH_DNS_TIMEOUT_MS: '150' });
    owner = await signedIn(h, 'owner@domains.example');
    viewer = await signedIn(h, 'viewer@domains.example');
    member = await signedIn(h, 'member@domains.example');
    stranger = await signedIn(h, 'owner@elsewhere.example');
    org = await orgWith(h, 'Domains Inc', owner, [
      { member: viewer, role: 'viewer' },
      { member, role: 'member' },
    ]);
    otherOrg = await orgWith(h, 'Elsewhere', stranger);
  });
  afterAll(async () => {
    await h.close();
    await dns.close();
  });
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  const add = (name: string, who: Member = owner, slug = org.slug) => callApi(h, { browser: who.browser }, 'POST', `/orgs/${slug}/domains`, { name });
  const verify = (ref: string | number, who: Member = owner) => callApi(h, { browser: who.browser }, 'POST', `/orgs/${org.slug}/domains/${ref}/verify`);
  const publish = (domain: string, ...txt: string[]) => dns.set(`_dmarcwatch.${domain}`, { txt });

  function runJob(): Promise<void> {
    const logger = createLogger({ level: 'error', write: (line) => h.logs.push(line) });
    const job = domainProofJob({ db: h.database.db, resolver: createDnsResolver({ servers: [dns.address], timeoutMs: 150 }), logger, clock: h.clock });
    const scheduler = new Scheduler(h.database.db, logger);
    return scheduler.trigger(job).finally(() => scheduler.stop());
  }

  it('adds a domain with its normalised name and the exact record to publish', async () => {
    const created = await add('  Example.COM. ');
    expect(created.status).toBe(201);
    const token = created.body.proof.record.value.replace('dmarcwatch-verification=', '');
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(created.body).toMatchObject({
      name: 'example.com',
      displayName: 'example.com',
      usable: true,
      proof: {
        required: false,
        status: 'pending',
        record: { name: '_dmarcwatch.example.com', type: 'TXT', value: `dmarcwatch-verification=${token}` },
        verifiedAt: null,
        lastCheckedAt: null,
        lastOutcome: null,
        problem: null,
        missedChecks: 0,
      },
    });
    expect(created.body.proof.statusText).toContain('_dmarcwatch.example.com');

    const byName = await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/domains/EXAMPLE.com`);
    expect(byName.status).toBe(200);
    expect(byName.body.id).toBe(created.body.id);

    const events = await h.database.db.selectFrom('audit_event').selectAll().where('org_id', '=', org.id).where('action', '=', 'domain.create').execute();
    expect(events.map((e) => e.target_id)).toContain(String(created.body.id));
  });

  it('stores internationalised names in punycode and refuses duplicates in any spelling', async () => {
    const idn = await add('Bücher.Example');
    expect(idn.status).toBe(201);
    expect(idn.body.name).toBe('xn--bcher-kva.example');
    expect(idn.body.displayName).toBe('bücher.example');
    expect(idn.body.proof.record.name).toBe('_dmarcwatch.xn--bcher-kva.example');

    for (const again of ['xn--bcher-kva.example', 'BÜCHER.example.']) {
      const duplicate = await add(again);
      expect(duplicate.status).toBe(409);
      expect(duplicate.body.error.code).toBe('domain_exists');
    }
    // Another organisation may add the same name (it proves ownership with its own token).
    const elsewhere = await add('bücher.example', stranger, otherOrg.slug);
    expect(elsewhere.status).toBe(201);
    expect(elsewhere.body.proof.record.value).not.toBe(idn.body.proof.record.value);
  });

  it('refuses what is not a registrable-looking host name', async () => {
    for (const bad of ['', 'localhost', '192.0.2.1', 'https://example.com', 'example.com/path', 'user@example.com', 'a..example.com', '_dmarc.example.com', `${'a'.repeat(64)}.com`, '-bad.example.com', 'example.123']) {
      const response = await add(bad);
      expect(response.status, bad).toBe(400);
      expect(response.body.error.code, bad).toBe('invalid_domain');
      expect(response.body.error.message, bad).toMatch(/^name: /);
    }
  });

  it('verifies when the TXT record holds the token, and explains each kind of failure', async () => {
    const created = await add('proof.example');
    const id = created.body.id as number;
    const value: string = created.body.proof.record.value;

    const missing = await verify(id);
    expect(missing.status).toBe(200);
    expect(missing.body.proof).toMatchObject({ status: 'pending', lastOutcome: 'missing', problem: 'no TXT record at _dmarcwatch.proof.example' });
    expect(missing.body.proof.lastCheckedAt).toBe(h.clock().toISOString());

    publish('proof.example', 'v=spf1 -all');
    expect((await verify(id)).body.proof.problem).toBe('no dmarcwatch-verification TXT record at _dmarcwatch.proof.example (1 other TXT record there)');

    publish('proof.example', 'dmarcwatch-verification=someone-elses-token');
    const wrong = await verify(id);
    expect(wrong.body.proof.lastOutcome).toBe('wrong_token');
    expect(wrong.body.proof.problem).toMatch(/^the TXT record holds a different token/);
    expect(wrong.body.proof.status).toBe('pending');

    dns.set('_dmarcwatch.proof.example', { silent: true });
    const timeout = await verify(id);
    expect(timeout.body.proof.lastOutcome).toBe('dns_error');
    expect(timeout.body.proof.problem).toMatch(/^DNS timed out/);

    h.clock.advance(1000);
    publish('proof.example', 'v=spf1 -all', value);
    const found = await verify(id);
    expect(found.body.proof).toMatchObject({ status: 'verified', lastOutcome: 'found', problem: null, verifiedAt: h.clock().toISOString() });
    expect(found.body.proof.nextCheckAt).toBe(new Date(h.clock().getTime() + DAY).toISOString());

    const events = await h.database.db.selectFrom('audit_event').select(['action', 'actor_type', 'summary']).where('org_id', '=', org.id).where('target_id', '=', String(id)).orderBy('seq').execute();
    expect(events.map((e) => e.action)).toEqual(['domain.create', 'domain.check', 'domain.check', 'domain.check', 'domain.check', 'domain.verified']);
    expect(events.every((e) => e.actor_type === 'user')).toBe(true);
  });

  it('joins a token split across character-strings and accepts a value published with its quotes', async () => {
    const created = await add('quoted.example');
    publish('quoted.example', `"${created.body.proof.record.value}"`);
    expect((await verify(created.body.id)).body.proof.status).toBe('verified');
  });

  it('the periodic job checks pending domains hourly, verified ones daily, and drops verification only after three misses in a row', async () => {
    const jobOrg = await orgWith(h, 'Job Co', owner);
    const created = await add('job.example', owner, jobOrg.slug);
    const id = created.body.id as number;
    const get = async () => (await callApi(h, { browser: owner.browser }, 'GET', `/orgs/${jobOrg.slug}/domains/${id}`)).body;

    // Due at once: the first run checks it and finds nothing.
    await runJob();
    let domain = await get();
    expect(domain.proof).toMatchObject({ lastOutcome: 'missing', status: 'pending' });
    expect(domain.proof.nextCheckAt).toBe(new Date(h.clock().getTime() + HOUR).toISOString());
    const firstCheck = domain.proof.lastCheckedAt;

    // Not due yet: nothing happens.
    publish('job.example', created.body.proof.record.value);
    h.clock.advance(HOUR - 60_000);
    await runJob();
    expect((await get()).proof.lastCheckedAt).toBe(firstCheck);

    h.clock.advance(60_000);
    await runJob();
    domain = await get();
    expect(domain.proof.status).toBe('verified');
    expect(domain.proof.nextCheckAt).toBe(new Date(h.clock().getTime() + DAY).toISOString());

    // The record goes away: two daily checks miss it, a DNS timeout counts neither way, the domain stays verified.
    dns.delete('_dmarcwatch.job.example');
    for (const expected of [1, 2]) {
      h.clock.advance(DAY);
      await runJob();
      domain = await get();
      expect(domain.proof).toMatchObject({ status: 'verified', missedChecks: expected, lastOutcome: 'missing' });
      expect(domain.proof.statusText).toContain(`after ${3 - expected} more check`);
    }
    dns.set('_dmarcwatch.job.example', { silent: true });
    h.clock.advance(DAY);
    await runJob();
    expect((await get()).proof).toMatchObject({ status: 'verified', missedChecks: 2, lastOutcome: 'dns_error' });

    // The third miss in a row drops it.
    dns.delete('_dmarcwatch.job.example');
    h.clock.advance(DAY);
    await runJob();
    domain = await get();
    expect(domain.proof).toMatchObject({ status: 'pending', missedChecks: 0, verifiedAt: null, problem: 'no TXT record at _dmarcwatch.job.example' });

    const events = await h.database.db.selectFrom('audit_event').select(['action', 'actor_type', 'actor_id']).where('org_id', '=', jobOrg.id).where('target_id', '=', String(id)).orderBy('seq').execute();
    expect(events.map((e) => e.action)).toEqual(['domain.create', 'domain.verified', 'domain.verification_lost']);
    expect(events.slice(1).every((e) => e.actor_type === 'system' && e.actor_id === 'domain-proof')).toBe(true);

    // A record that comes back within the grace period resets the count.
    publish('job.example', created.body.proof.record.value);
    await callApi(h, { browser: owner.browser }, 'POST', `/orgs/${jobOrg.slug}/domains/${id}/verify`);
    dns.delete('_dmarcwatch.job.example');
    h.clock.advance(DAY);
    await runJob();
    publish('job.example', created.body.proof.record.value);
    h.clock.advance(DAY);
    await runJob();
    expect((await get()).proof).toMatchObject({ status: 'verified', missedChecks: 0 });
  });

  it('lists domains in pages', async () => {
    const listOrg = await orgWith(h, 'Many Domains', owner);
    for (const name of ['c.example', 'a.example', 'e.example', 'b.example', 'd.example']) expect((await add(name, owner, listOrg.slug)).status).toBe(201);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: Array<{ name: string }>; nextCursor: string | null } } = await callApi(h, { browser: owner.browser }, 'GET', `/orgs/${listOrg.slug}/domains?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.body.items.map((d) => d.name));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['a.example', 'b.example', 'c.example', 'd.example', 'e.example']);
  });

  it("keeps organisations apart: another organisation's domain is not found, by id, by name or with its keys", async () => {
    const theirs = await add('theirs.example', stranger, otherOrg.slug);
    const theirId = theirs.body.id as number;
    const strangerKey = await keyFor(h, otherOrg.id, 'admin');
    const ourKey = await keyFor(h, org.id, 'admin');

    for (const ref of [theirId, 'theirs.example', '99999999999999999999']) {
      expect((await callApi(h, { browser: owner.browser }, 'GET', `/orgs/${org.slug}/domains/${ref}`)).status).toBe(404);
      expect((await callApi(h, { browser: owner.browser }, 'POST', `/orgs/${org.slug}/domains/${ref}/verify`)).status).toBe(404);
      expect((await callApi(h, { browser: owner.browser }, 'DELETE', `/orgs/${org.slug}/domains/${ref}`)).status).toBe(404);
      expect((await callApi(h, { key: ourKey }, 'DELETE', `/orgs/${org.slug}/domains/${ref}`)).status).toBe(404);
    }
    // Their organisation itself is invisible to us, and ours to their key.
    expect((await callApi(h, { browser: owner.browser }, 'GET', `/orgs/${otherOrg.slug}/domains/${theirId}`)).status).toBe(404);
    expect((await callApi(h, { key: strangerKey }, 'GET', `/orgs/${org.slug}/domains`)).status).toBe(404);
    const ours = await callApi(h, { browser: owner.browser }, 'GET', `/orgs/${org.slug}/domains?limit=200`);
    expect(ours.body.items.map((d: { id: number }) => d.id)).not.toContain(theirId);
    // Still there.
    expect((await callApi(h, { key: strangerKey }, 'GET', `/orgs/${otherOrg.slug}/domains/${theirId}`)).status).toBe(200);
  });

  it('roles: viewers and read keys only read, members cannot delete, admins can (audited)', async () => {
    const created = await add('roles.example');
    const id = created.body.id as number;
    const readKey = await keyFor(h, org.id, 'read');
    const writeKey = await keyFor(h, org.id, 'write');

    expect((await add('viewer.example', viewer)).status).toBe(403);
    expect((await verify(id, viewer)).status).toBe(403);
    expect((await callApi(h, { browser: viewer.browser }, 'DELETE', `/orgs/${org.slug}/domains/${id}`)).status).toBe(403);
    expect((await callApi(h, { key: readKey }, 'POST', `/orgs/${org.slug}/domains`, { name: 'readkey.example' })).status).toBe(403);
    expect((await callApi(h, { key: readKey }, 'GET', `/orgs/${org.slug}/domains/${id}`)).status).toBe(200);

    expect((await add('member.example', member)).status).toBe(201);
    expect((await callApi(h, { key: writeKey }, 'POST', `/orgs/${org.slug}/domains/${id}/verify`)).status).toBe(200);
    expect((await callApi(h, { browser: member.browser }, 'DELETE', `/orgs/${org.slug}/domains/${id}`)).status).toBe(403);
    expect((await callApi(h, { key: writeKey }, 'DELETE', `/orgs/${org.slug}/domains/${id}`)).status).toBe(403);

    expect((await callApi(h, { browser: owner.browser }, 'DELETE', `/orgs/${org.slug}/domains/${id}`)).status).toBe(204);
    expect((await callApi(h, { browser: owner.browser }, 'GET', `/orgs/${org.slug}/domains/${id}`)).status).toBe(404);
    const deleted = await h.database.db.selectFrom('audit_event').selectAll().where('org_id', '=', org.id).where('action', '=', 'domain.delete').where('target_id', '=', String(id)).execute();
    expect(deleted).toHaveLength(1);
    expect(deleted[0]!.summary).toMatchObject({ name: 'roles.example' });
  });
});

describe('domains when the instance requires ownership proof', () => {
  it('a domain is usable only once verified', async () => {
    const dns = await startDnsServer();
    const h = await openHarness('pglite', { DMARCWATCH_DNS_SERVERS: dns.address, DMARCWATCH_REQUIRE_DOMAIN_PROOF: 'true' });
    try {
      const owner = await signedIn(h, 'owner@hosted.example');
      const org = await orgWith(h, 'Hosted', owner);
      const created = await callApi(h, { browser: owner.browser }, 'POST', `/orgs/${org.slug}/domains`, { name: 'hosted.example' });
      expect(created.body).toMatchObject({ usable: false, proof: { required: true, status: 'pending' } });
      dns.set('_dmarcwatch.hosted.example', { txt: [created.body.proof.record.value] });
      const verified = await callApi(h, { browser: owner.browser }, 'POST', `/orgs/${org.slug}/domains/${created.body.id}/verify`);
      expect(verified.body).toMatchObject({ usable: true, proof: { required: true, status: 'verified' } });
    } finally {
      await h.close();
      await dns.close();
    }
  });
});
