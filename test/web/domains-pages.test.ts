import { afterAll, beforeAll, expect, it } from 'vitest';
import { orgWith, signedIn, type Member } from '../api/harness.js';
import { openHarness, type Harness } from '../auth/harness.js';
import { describeEachBackend } from '../helpers/db.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';

describeEachBackend('the domains page', (backend) => {
  let h: Harness;
  let dns: TestDnsServer;
  let owner: Member;
  let viewer: Member;
  let stranger: Member;
  let org: { id: number; slug: string };
  beforeAll(async () => {
    dns = await startDnsServer();
    h = await openHarness(backend, { DMARCWATCH_DNS_SERVERS: dns.address, DMARCWATCH_DNS_TIMEOUT_MS: '300' });
    owner = await signedIn(h, 'owner@domains.example');
    viewer = await signedIn(h, 'viewer@domains.example');
    stranger = await signedIn(h, 'stranger@domains.example');
    org = await orgWith(h, 'Domains Ltd', owner, [{ member: viewer, role: 'viewer' }]);
    await orgWith(h, 'Elsewhere', stranger);
  });
  afterAll(async () => {
    await h.close();
    await dns.close();
  });

  it('adds a domain, shows the record to publish, verifies it when published, and removes it', async () => {
    const empty = await owner.browser.get(`/o/${org.slug}/domains`);
    expect(await empty.text()).toContain('No domains yet');

    const bad = await owner.browser.post(`/o/${org.slug}/domains`, { name: 'not a domain' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('aria-invalid="true"');

    expect((await owner.browser.post(`/o/${org.slug}/domains`, { name: 'Example.COM.' })).status).toBe(303);
    expect((await owner.browser.post(`/o/${org.slug}/domains`, { name: 'example.com' })).status).toBe(409);
    const row = await h.database.db.selectFrom('domain').selectAll().where('org_id', '=', org.id).executeTakeFirstOrThrow();
    expect(row.name).toBe('example.com');
    const page = await (await owner.browser.get(`/o/${org.slug}/domains`)).text();
    // The record to publish, as read-only fields with Copy buttons (shown by /assets/copy.js).
    expect(page).toContain(`id="proof-name-${row.id}" class="secret" readonly="" value="_dmarcwatch.example.com"`);
    expect(page).toContain(`id="proof-value-${row.id}" class="secret" readonly="" value="dmarcwatch-verification=${row.verification_token}"`);
    expect(page).toMatch(new RegExp(`<button type="button" class="secondary copy-button" data-copy="proof-value-${row.id}" aria-label="Copy the TXT value for example.com" hidden="">`));
    expect(page).toContain('Not verified yet');

    dns.set('_dmarcwatch.example.com', { txt: [`dmarcwatch-verification=${row.verification_token}`] });
    expect((await owner.browser.post(`/o/${org.slug}/domains/${row.id}/verify`, {})).status).toBe(303);
    expect(await (await owner.browser.get(`/o/${org.slug}/domains`)).text()).toContain('Verified: the TXT record at _dmarcwatch.example.com');
    const events = await h.database.db.selectFrom('audit_event').select('action').where('org_id', '=', org.id).where('target_type', '=', 'domain').orderBy('seq').execute();
    expect(events.map((e) => e.action)).toEqual(['domain.create', 'domain.verified']);

    expect((await owner.browser.post(`/o/${org.slug}/domains/${row.id}/delete`, {})).status).toBe(303);
    expect(await h.database.db.selectFrom('domain').select('id').where('org_id', '=', org.id).execute()).toEqual([]);
  });

  it('lets a viewer look but not change, and hides the page from other organisations', async () => {
    await owner.browser.post(`/o/${org.slug}/domains`, { name: 'kept.example' });
    const row = await h.database.db.selectFrom('domain').selectAll().where('org_id', '=', org.id).where('name', '=', 'kept.example').executeTakeFirstOrThrow();
    const seen = await (await viewer.browser.get(`/o/${org.slug}/domains`)).text();
    expect(seen).toContain('kept.example');
    expect(seen).not.toContain('Add domain');
    expect((await viewer.browser.post(`/o/${org.slug}/domains`, { name: 'sneaky.example' })).status).toBe(403);
    expect((await viewer.browser.post(`/o/${org.slug}/domains/${row.id}/delete`, {})).status).toBe(403);
    expect((await stranger.browser.get(`/o/${org.slug}/domains`)).status).toBe(404);
    // Another organisation's domain id under one's own organisation is not found.
    const strangerOrg = await h.database.db.selectFrom('organization').select('slug').where('name', '=', 'Elsewhere').executeTakeFirstOrThrow();
    expect((await stranger.browser.post(`/o/${strangerOrg.slug}/domains/${row.id}/delete`, {})).status).toBe(404);
    expect(await h.database.db.selectFrom('domain').select('id').where('id', '=', row.id).executeTakeFirst()).toBeDefined();
  });
});
