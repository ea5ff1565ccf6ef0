import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { enrichDueSources } from '../../src/enrich/enrich-job.js';
import { createDnsResolver } from '../../src/lib/dns.js';
import { silentLogger } from '../../src/lib/logger.js';
import { refreshSourceEvidence } from '../../src/sources/evidence-job.js';
import { callApi, keyFor, orgWith, signedIn, type Member } from '../api/harness.js';
import { openHarness, type Harness } from '../auth/harness.js';
import { storeReports, type HandReport, utcDayBefore } from '../helpers/aggregate-xml.js';
import { describeEachBackend } from '../helpers/db.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';

/** Named by its confirmed PTR and by DKIM; passes (signs with our domain too). */
const SENDGRID_PTR = '167.89.0.10';
/** Named by DKIM alone (sendgrid.net); never aligned: fails DMARC. */
const SENDGRID_DKIM = '167.89.0.11';
/** A relay of our CRM: its PTR is confirmed, but only our own entry knows the name. */
const RELAY = '203.0.113.80';
const SPOOFER = '198.51.100.23';

function reports(start: Date): HandReport[] {
  const day = (n: number) => utcDayBefore(start, n);
  const out: HandReport[] = [];
  for (let i = 1; i <= 7; i += 1) {
    out.push({
      domain: 'example.com',
      reportId: `svc-week-${i}`,
      begin: day(i),
      records: [
        { ip: SENDGRID_PTR, count: 100, dkim: 'pass', spf: 'fail', dkimResults: [{ domain: 'example.com', result: 'pass' }, { domain: 'sendgrid.net', result: 'pass' }] },
        { ip: RELAY, count: 5, dkim: 'fail', spf: 'fail', spfResults: [{ domain: 'crm.example.net', result: 'pass' }] },
        { ip: SPOOFER, count: 3, dkim: 'fail', spf: 'fail' },
      ],
    });
    out.push({
      domain: 'shop.example',
      reportId: `svc-shop-${i}`,
      begin: day(i),
      records: [{ ip: SENDGRID_DKIM, count: 10, dkim: 'fail', spf: 'fail', dkimResults: [{ domain: 'sendgrid.net', result: 'pass' }] }],
    });
  }
  return out;
}

const RELAY_FORM = {
  id: 'crm-relay',
  name: 'Our CRM relay',
  category: 'crm',
  ptr: 'relay-*.crm.example.net\n',
  asns: '',
  dkim: '',
  notes: '',
};

describeEachBackend('services: the service page, decisions about services, and the organisation’s own entries', (backend) => {
  let dns: TestDnsServer;
  let h: Harness;
  let owner: Member;
  let viewer: Member;
  let stranger: Member;
  let org: { id: number; slug: string };
  let other: { id: number; slug: string };

  const audit = async (actionPrefix: string) =>
    h.database.db
      .selectFrom('audit_event')
      .select(['action', 'target_type', 'target_id', 'summary'])
      .where('org_id', '=', org.id)
      .where('action', 'like', `${actionPrefix}%`)
      .orderBy('seq')
      .execute();

  beforeAll(async () => {
    dns = await startDnsServer();
    h = await openHarness(backend);
    owner = await signedIn(h, 'owner@services.example');
    viewer = await signedIn(h, 'viewer@services.example');
    stranger = await signedIn(h, 'owner@elsewhere.example');
    org = await orgWith(h, 'Services Inc', owner, [{ member: viewer, role: 'viewer' }]);
    other = await orgWith(h, 'Elsewhere', stranger);
    await storeReports(h.database.db, org.id, reports(h.clock()));

    dns.setPtr(SENDGRID_PTR, ['o1.ptr1234.sendgrid.net']);
    dns.set('o1.ptr1234.sendgrid.net', { a: [SENDGRID_PTR] });
    dns.setPtr(RELAY, ['relay-1.crm.example.net']);
    dns.set('relay-1.crm.example.net', { a: [RELAY] });
    await enrichDueSources({ db: h.database.db, resolver: createDnsResolver({ servers: [dns.address], timeoutMs: 200, tries: 1 }), logger: silentLogger, clock: h.clock });
    expect(await refreshSourceEvidence({ db: h.database.db, logger: silentLogger, clock: h.clock })).toMatchObject({ domains: 2, sources: 4 });
    for (const m of [owner, viewer, stranger]) await m.browser.get('/settings/security');
  }, 60_000);
  afterAll(async () => {
    await h.close();
    await dns.close();
  });
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  describe('the service page', () => {
    it('answers a catalogue service over the API: rules, verdict, history and the addresses identified as it', async () => {
      const response = await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/services/sendgrid`);
      expect(response.status).toBe(200);
      const body = response.body;
      expect(body).toMatchObject({ id: 'sendgrid', name: 'SendGrid (Twilio)', category: 'delivery', custom: false, rules: { own: null, catalogue: { id: 'sendgrid', dkim: ['sendgrid.net'] } } });
      expect(body.messages).toBe(770);
      expect(body.dmarcPass).toBe(700);
      expect(body.daily).toHaveLength(30);
      expect(body.domains).toEqual([
        { domain: 'example.com', messages: 700, pass: 700 },
        { domain: 'shop.example', messages: 70, pass: 0 },
      ]);
      expect(body.addresses.map((a: { ip: string }) => a.ip)).toEqual([SENDGRID_PTR, SENDGRID_DKIM]);
      expect(body.addresses[0]).toMatchObject({ messages: 700, dmarcPass: 700, domains: ['example.com'], ptr: 'o1.ptr1234.sendgrid.net', classification: { kind: 'known_service' }, decision: null });
      expect(body.addresses[0].identifiedBy).toContain('PTR o1.ptr1234.sendgrid.net → SendGrid (Twilio)');
      expect(body.addresses[1]).toMatchObject({ messages: 70, dmarcPass: 0, domains: ['shop.example'], identifiedBy: ['DKIM signed by sendgrid.net → SendGrid (Twilio)'] });
      expect(body.verdict.tone).toBe('warn');
      expect(body.verdict.text).toContain('70 of 770 messages from its 2 addresses failed DMARC');
      expect(body.decision).toBeNull();
      expect(body.truncated).toBe(false);
    });

    it('answers 404 for an id nobody defines, 400 for one that cannot be an id, and a service without addresses in words', async () => {
      expect((await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/services/no-such-service`)).status).toBe(404);
      expect((await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/services/Not_An_Id`)).status).toBe(400);
      expect((await viewer.browser.get(`/o/${org.slug}/services/no-such-service`)).status).toBe(404);
      const mailgun = await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/services/mailgun`);
      expect(mailgun.status).toBe(200);
      expect(mailgun.body).toMatchObject({ messages: 0, addresses: [], verdict: { tone: 'neutral' } });
      expect(mailgun.body.verdict.text).toContain('No address sending as your domains was identified as Mailgun');
    });

    it('shows the page: verdict, rules, a chart with its table, addresses linked to their pages; CSV download', async () => {
      const response = await viewer.browser.get(`/o/${org.slug}/services/sendgrid?days=7`);
      expect(response.status).toBe(200);
      const html = await response.text();
      expect(html).toContain('Service: SendGrid (Twilio)');
      expect(html).toContain('Email delivery (transactional, API)');
      expect(html).toContain('<code>sendgrid.net</code>');
      expect(html).toContain('AS11377');
      expect(html).toContain('failed DMARC');
      expect(html).toContain('id="service-daily"');
      expect(html).toContain('Show the numbers');
      expect(html).toContain('<strong aria-current="true">Last 7 days</strong>');
      expect(html).toContain(`href="/o/${org.slug}/sources/${SENDGRID_PTR}"`);
      expect(html).toContain(`href="/o/${org.slug}/sources/${SENDGRID_DKIM}"`);
      expect(html).toContain(`href="/o/${org.slug}/domains/shop.example"`);
      expect(html).not.toContain(RELAY);
      expect(html).toContain('Viewers cannot change decisions');

      const csv = await (await viewer.browser.get(`/o/${org.slug}/services/sendgrid?format=csv`)).text();
      const lines = csv.trim().split('\r\n');
      expect(lines[0]).toBe('Address,Host,Identified by,Classification,Decision,Messages,DMARC pass,Domains,Seen');
      expect(lines).toHaveLength(3);
    });

    it('links the service wherever its name is shown: the domain page groups and the source page', async () => {
      const domain = await (await viewer.browser.get(`/o/${org.slug}/domains/example.com`)).text();
      expect(domain).toContain(`<a href="/o/${org.slug}/services/sendgrid">SendGrid (Twilio)</a>`);
      const source = await (await viewer.browser.get(`/o/${org.slug}/sources/${SENDGRID_DKIM}`)).text();
      expect(source).toContain(`<a href="/o/${org.slug}/services/sendgrid">SendGrid (Twilio)</a>`);
    });

    it('authorises a service from its page, audited; its addresses follow, except one with its own decision, which wins', async () => {
      const page = `/o/${org.slug}/services/sendgrid`;
      await owner.browser.get(page);
      const denied = await viewer.browser.post(`${page}/decision`, { decision: 'authorised', note: 'mine' });
      expect(denied.status).toBe(403);

      const posted = await owner.browser.post(`${page}/decision`, { decision: 'authorised', note: 'Our newsletters' });
      expect(posted.status).toBe(303);
      expect(posted.headers.get('location')).toBe(page);
      expect(await audit('source.')).toEqual([
        { action: 'source.authorise', target_type: 'service', target_id: 'sendgrid', summary: { before: null, after: { decision: 'authorised', note: 'Our newsletters' } } },
      ]);

      let body = (await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/services/sendgrid`)).body;
      expect(body.decision).toMatchObject({ decision: 'authorised', note: 'Our newsletters', subject: { type: 'service', value: 'sendgrid' }, decidedBy: 'owner@services.example' });
      expect(body.addresses.map((a: { classification: { kind: string } }) => a.classification.kind)).toEqual(['authorised', 'authorised']);
      expect(body.verdict).toMatchObject({ tone: 'good' });
      const source = await (await owner.browser.get(`/o/${org.slug}/sources/${SENDGRID_DKIM}`)).text();
      expect(source).toContain(`through its service <a href="/o/${org.slug}/services/sendgrid">SendGrid (Twilio)</a>`);

      // The address's own decision wins over its service's.
      expect((await callApi(h, { browser: owner.browser }, 'PUT', `/orgs/${org.slug}/sources/${SENDGRID_DKIM}/decision`, { decision: 'ignored', note: 'Old test account' })).status).toBe(200);
      body = (await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/services/sendgrid`)).body;
      expect(body.addresses[1]).toMatchObject({ ip: SENDGRID_DKIM, classification: { kind: 'known_service' }, decision: { decision: 'ignored', subject: { type: 'ip', value: SENDGRID_DKIM } } });
      expect(body.verdict.text).toContain('except 1 address with a decision of its own');
      const html = await (await owner.browser.get(page)).text();
      expect(html).toContain('One address has a decision of its own, which wins over the service');
      expect(html).toContain('Ignored (its own decision, which wins)');
      expect(html).toContain('Authorised (the service&#39;s decision)');
      const sourcePage = await (await owner.browser.get(`/o/${org.slug}/sources/${SENDGRID_DKIM}`)).text();
      expect(sourcePage).toContain('this address&#39;s own decision wins over the service&#39;s');

      expect((await owner.browser.post(`${page}/decision`, { decision: 'maybe' })).status).toBe(400);
      expect((await owner.browser.post(`${page}/decision`, { decision: 'undo' })).status).toBe(303);
      expect((await callApi(h, { browser: owner.browser }, 'DELETE', `/orgs/${org.slug}/sources/${SENDGRID_DKIM}/decision`)).status).toBe(204);
      expect((await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/services/sendgrid`)).body.decision).toBeNull();
      expect((await audit('source.')).map((e) => e.action)).toEqual(['source.authorise', 'source.ignore', 'source.decision_remove', 'source.decision_remove']);
    });

    it('decides about a service over the API: writers only, known services only, audited undo', async () => {
      const path = `/orgs/${org.slug}/services/sendgrid/decision`;
      expect((await callApi(h, { browser: viewer.browser }, 'PUT', path, { decision: 'ignored' })).status).toBe(403);
      expect((await callApi(h, { key: await keyFor(h, org.id, 'read') }, 'PUT', path, { decision: 'ignored' })).status).toBe(403);
      expect((await callApi(h, { browser: owner.browser }, 'PUT', `/orgs/${org.slug}/services/no-such-service/decision`, { decision: 'ignored' })).status).toBe(404);
      expect((await callApi(h, { browser: stranger.browser }, 'PUT', path, { decision: 'ignored' })).status).toBe(404);
      const put = await callApi(h, { key: await keyFor(h, org.id, 'write') }, 'PUT', path, { decision: 'ignored', note: 'Known' });
      expect(put.status).toBe(200);
      expect(put.body).toMatchObject({ decision: 'ignored', subject: { type: 'service', value: 'sendgrid' }, decidedBy: 'API key “write key”' });
      expect((await callApi(h, { browser: owner.browser }, 'DELETE', path)).status).toBe(204);
      expect((await callApi(h, { browser: owner.browser }, 'DELETE', path)).status).toBe(404);
    });
  });

  describe("the organisation's own entries", () => {
    it('refuses viewers, members without admin, and other organisations', async () => {
      const entry = { name: 'Our CRM relay', category: 'crm', ptr: ['relay-*.crm.example.net'] };
      expect((await callApi(h, { browser: viewer.browser }, 'PUT', `/orgs/${org.slug}/service-entries/crm-relay`, entry)).status).toBe(403);
      expect((await callApi(h, { key: await keyFor(h, org.id, 'write') }, 'PUT', `/orgs/${org.slug}/service-entries/crm-relay`, entry)).status).toBe(403);
      expect((await callApi(h, { browser: stranger.browser }, 'PUT', `/orgs/${org.slug}/service-entries/crm-relay`, entry)).status).toBe(404);
      await viewer.browser.get(`/o/${org.slug}/settings/services`);
      expect((await viewer.browser.post(`/o/${org.slug}/settings/services`, RELAY_FORM)).status).toBe(403);
      const list = await (await viewer.browser.get(`/o/${org.slug}/settings/services`)).text();
      expect(list).toContain('Only admins can add, change or delete entries.');
      expect(list).not.toContain('Add the entry');
      expect(await h.database.db.selectFrom('org_service').selectAll().execute()).toEqual([]);
    });

    it('refuses invalid entries with the problem in words next to the field', async () => {
      const bad = await callApi(h, { browser: owner.browser }, 'PUT', `/orgs/${org.slug}/service-entries/crm-relay`, { name: 'Relay', category: 'crm', ptr: ['not a host'] });
      expect(bad.status).toBe(400);
      expect(bad.body.error.message).toContain('ptr');
      const empty = await callApi(h, { browser: owner.browser }, 'PUT', `/orgs/${org.slug}/service-entries/crm-relay`, { name: 'Relay', category: 'crm' });
      expect(empty.status).toBe(400);
      expect(empty.body.error.message).toBe('Give at least one PTR, ASN or DKIM rule: without one the entry names no sender.');
      expect((await callApi(h, { browser: owner.browser }, 'PUT', `/orgs/${org.slug}/service-entries/crm-relay`, { name: 'Relay', category: 'spam', ptr: ['x.example'] })).status).toBe(400);

      await owner.browser.get(`/o/${org.slug}/settings/services`);
      const response = await owner.browser.post(`/o/${org.slug}/settings/services`, { ...RELAY_FORM, id: 'CRM relay', category: '', ptr: 'relay-*.crm.example.net\nnot a host', asns: 'AS64500\nsixty', dkim: 'crm' });
      expect(response.status).toBe(400);
      const html = await response.text();
      expect(html).toContain('id="s-id-problem"');
      expect(html).toContain('Use 1 to 63 lower-case letters, digits and dashes');
      expect(html).toContain('Choose what kind of service it is.');
      expect(html).toContain('“not a host” is not a host name, a domain, or a pattern');
      expect(html).toContain('“sixty” is not an AS number');
      expect(html).toContain('“crm” is not a domain name such as example.net');
      // What was typed is kept.
      expect(html).toContain('relay-*.crm.example.net\nnot a host</textarea>');
      const none = await owner.browser.post(`/o/${org.slug}/settings/services`, { ...RELAY_FORM, ptr: '' });
      expect(none.status).toBe(400);
      expect(await none.text()).toContain('Give at least one PTR, ASN or DKIM rule');
      expect(await h.database.db.selectFrom('org_service').selectAll().execute()).toEqual([]);
      expect(await audit('service_entry.')).toEqual([]);
    });

    it('adds an entry from the settings page, audited, and it names the source at once', async () => {
      const before = await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/sources/${RELAY}`);
      expect(before.body.classification).toMatchObject({ kind: 'suspicious', service: null });
      expect((await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/services/crm-relay`)).status).toBe(404);

      await owner.browser.get(`/o/${org.slug}/settings/services`);
      const created = await owner.browser.post(`/o/${org.slug}/settings/services`, { ...RELAY_FORM, forwards: 'on' });
      expect(created.status).toBe(303);
      expect(created.headers.get('location')).toBe(`/o/${org.slug}/settings/services?done=created`);
      const list = await (await owner.browser.get(created.headers.get('location') ?? '')).text();
      expect(list).toContain('Entry added');
      expect(list).toContain(`<a href="/o/${org.slug}/services/crm-relay">Our CRM relay</a>`);
      expect(list).toContain('PTR relay-*.crm.example.net · forwards mail');
      expect(list).toContain(`href="/o/${org.slug}/settings/services"`);
      expect(await audit('service_entry.')).toEqual([
        {
          action: 'service_entry.create',
          target_type: 'service',
          target_id: 'crm-relay',
          summary: { before: null, after: { id: 'crm-relay', name: 'Our CRM relay', category: 'crm', ptr: ['relay-*.crm.example.net'], forwards: true } },
        },
      ]);

      // No background job has run since: the classification reads the entries when it is asked.
      const after = await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/sources/${RELAY}`);
      expect(after.body.classification).toMatchObject({ kind: 'known_service', service: { id: 'crm-relay', name: 'Our CRM relay', custom: true, confidence: 'ptr' } });
      const service = await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/services/crm-relay`);
      expect(service.body).toMatchObject({ id: 'crm-relay', name: 'Our CRM relay', category: 'crm', custom: true, rules: { catalogue: null, own: { ptr: ['relay-*.crm.example.net'] } }, messages: 35 });
      expect(service.body.addresses.map((a: { ip: string }) => a.ip)).toEqual([RELAY]);
      const domain = await (await viewer.browser.get(`/o/${org.slug}/domains/example.com`)).text();
      expect(domain).toContain(`<a href="/o/${org.slug}/services/crm-relay">Our CRM relay</a>`);
      // The evidence job has nothing to redo for it.
      expect(await refreshSourceEvidence({ db: h.database.db, logger: silentLogger, clock: h.clock })).toMatchObject({ domains: 0 });

      const again = await owner.browser.post(`/o/${org.slug}/settings/services`, RELAY_FORM);
      expect(again.status).toBe(409);
      expect(await again.text()).toContain('exists already');
    });

    it('lists and reads entries over the API; another organisation sees none of them', async () => {
      const list = await callApi(h, { key: await keyFor(h, org.id, 'read') }, 'GET', `/orgs/${org.slug}/service-entries`);
      expect(list.status).toBe(200);
      expect(list.body.items).toEqual([expect.objectContaining({ id: 'crm-relay', name: 'Our CRM relay', updatedAt: expect.any(String) })]);
      expect(list.body.nextCursor).toBeNull();
      expect((await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/service-entries/crm-relay`)).body).toMatchObject({ id: 'crm-relay', forwards: true });

      expect((await callApi(h, { browser: stranger.browser }, 'GET', `/orgs/${org.slug}/service-entries`)).status).toBe(404);
      expect((await callApi(h, { browser: stranger.browser }, 'GET', `/orgs/${other.slug}/service-entries`)).body.items).toEqual([]);
      expect((await callApi(h, { browser: stranger.browser }, 'GET', `/orgs/${other.slug}/service-entries/crm-relay`)).status).toBe(404);
      expect((await callApi(h, { browser: stranger.browser }, 'GET', `/orgs/${other.slug}/services/crm-relay`)).status).toBe(404);
      expect((await callApi(h, { browser: stranger.browser }, 'DELETE', `/orgs/${other.slug}/service-entries/crm-relay`)).status).toBe(404);
      expect((await stranger.browser.get(`/o/${other.slug}/services/crm-relay`)).status).toBe(404);
      expect((await stranger.browser.get(`/o/${other.slug}/settings/services/crm-relay`)).status).toBe(404);
      expect((await stranger.browser.get(`/o/${org.slug}/services/crm-relay`)).status).toBe(404);
    });

    it('edits and deletes an entry, audited; the source is named by what remains', async () => {
      const edit = await owner.browser.get(`/o/${org.slug}/settings/services/crm-relay`);
      expect(edit.status).toBe(200);
      const form = await edit.text();
      expect(form).toContain('relay-*.crm.example.net</textarea>');
      expect(form).toContain('Save the entry');
      expect((await viewer.browser.get(`/o/${org.slug}/settings/services/crm-relay`)).status).toBe(403);

      const saved = await owner.browser.post(`/o/${org.slug}/settings/services/crm-relay`, { ...RELAY_FORM, name: 'CRM relay (EU)', asns: 'AS64500' });
      expect(saved.status).toBe(303);
      expect((await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/sources/${RELAY}`)).body.classification.service.name).toBe('CRM relay (EU)');
      const update = (await audit('service_entry.update'))[0];
      expect(update).toMatchObject({
        target_id: 'crm-relay',
        summary: { before: { name: 'Our CRM relay', forwards: true }, after: { name: 'CRM relay (EU)', asns: [64500] } },
      });
      expect((update?.summary as { after: Record<string, unknown> }).after.forwards).toBeUndefined();

      const put = await callApi(h, { key: await keyFor(h, org.id, 'admin') }, 'PUT', `/orgs/${org.slug}/service-entries/crm-relay`, { name: 'CRM relay', category: 'crm', ptr: ['crm.example.net'] });
      expect(put.status).toBe(200);
      expect(put.body).toMatchObject({ id: 'crm-relay', name: 'CRM relay', ptr: ['crm.example.net'] });

      expect((await callApi(h, { browser: owner.browser }, 'PUT', `/orgs/${org.slug}/services/crm-relay/decision`, { decision: 'authorised' })).status).toBe(200);
      await owner.browser.get(`/o/${org.slug}/settings/services`);
      const deleted = await owner.browser.post(`/o/${org.slug}/settings/services/crm-relay/delete`, {});
      expect(deleted.status).toBe(303);
      expect((await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/sources/${RELAY}`)).body.classification).toMatchObject({ kind: 'suspicious', service: null });
      // The decision outlives the entry: the service's page still shows it, to be undone.
      const orphan = await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/services/crm-relay`);
      expect(orphan.body).toMatchObject({ category: null, addresses: [], decision: { decision: 'authorised' } });
      expect(orphan.body.verdict.text).toContain('No entry defines “crm-relay” any more');
      expect((await callApi(h, { browser: owner.browser }, 'PUT', `/orgs/${org.slug}/services/crm-relay/decision`, { decision: 'ignored' })).status).toBe(404);
      expect((await callApi(h, { browser: owner.browser }, 'DELETE', `/orgs/${org.slug}/services/crm-relay/decision`)).status).toBe(204);
      expect((await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/services/crm-relay`)).status).toBe(404);
      expect((await owner.browser.post(`/o/${org.slug}/settings/services/crm-relay/delete`, {})).status).toBe(404);
      expect((await callApi(h, { browser: owner.browser }, 'DELETE', `/orgs/${org.slug}/service-entries/crm-relay`)).status).toBe(404);
      expect((await audit('service_entry.')).map((e) => e.action)).toEqual(['service_entry.create', 'service_entry.update', 'service_entry.update', 'service_entry.delete']);
    });

    it('keeps to 500 entries per organisation', async () => {
      const rows = Array.from({ length: 500 }, (_, i) => ({ org_id: org.id, service_id: `bulk-${i}`, entry: JSON.stringify({ id: `bulk-${i}`, name: `Bulk ${i}`, category: 'delivery', dkim: [`bulk-${i}.example`] }) }));
      await h.database.db.insertInto('org_service').values(rows).execute();
      const refused = await callApi(h, { browser: owner.browser }, 'PUT', `/orgs/${org.slug}/service-entries/one-more`, { name: 'One more', category: 'crm', ptr: ['one.example'] });
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatchObject({ code: 'too_many_entries', message: 'An organisation has at most 500 entries; delete one first.' });
      // Replacing one of them is no addition.
      expect((await callApi(h, { browser: owner.browser }, 'PUT', `/orgs/${org.slug}/service-entries/bulk-1`, { name: 'Bulk one', category: 'crm', ptr: ['one.example'] })).status).toBe(200);
      const page = await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/service-entries?limit=200`);
      expect(page.body.items).toHaveLength(200);
      const next = await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/service-entries?limit=200&cursor=${page.body.nextCursor}`);
      expect(next.body.items[0].id > page.body.items[199].id).toBe(true);
      await h.database.db.deleteFrom('org_service').where('org_id', '=', org.id).execute();
    });
  });
});
