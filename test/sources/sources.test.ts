import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { enrichDueSources } from '../../src/enrich/enrich-job.js';
import { createDnsResolver } from '../../src/lib/dns.js';
import { silentLogger } from '../../src/lib/logger.js';
import { classifySources, groupByService } from '../../src/sources/classify-sources.js';
import { refreshSourceEvidence } from '../../src/sources/evidence-job.js';
import { sourcesByIp } from '../../src/reports/queries/sources.js';
import { callApi, keyFor, orgWith, signedIn, type Member } from '../api/harness.js';
import { openHarness, type Harness } from '../auth/harness.js';
import { storeReports, type HandReport, utcDayBefore } from '../helpers/aggregate-xml.js';
import { describeEachBackend } from '../helpers/db.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';

const DAY = 86_400_000;

const SENDGRID = '167.89.0.10';
const FORWARDER = '209.85.220.41';
const SPOOFER = '198.51.100.23';
const UNKNOWN = '203.0.113.50';

/** A week of reports: a service signing with its own domain and ours, a forwarder, a spoofer, a small unknown sender. */
function reports(start: Date): HandReport[] {
  const day = (n: number) => utcDayBefore(start, n);
  const out: HandReport[] = [];
  for (let i = 1; i <= 7; i += 1) {
    out.push({
      domain: 'example.com',
      reportId: `week-${i}`,
      begin: day(i),
      p: 'none',
      records: [
        { ip: SENDGRID, count: 100, dkim: 'pass', spf: 'fail', dkimResults: [{ domain: 'example.com', result: 'pass' }, { domain: 'sendgrid.net', result: 'pass' }], spfResults: [{ domain: 'em123.sendgrid.net', result: 'pass', scope: 'mfrom' }] },
        {
          ip: FORWARDER,
          count: 20,
          dkim: 'fail',
          spf: 'fail',
          dkimResults: [{ domain: 'example.com', result: 'fail' }],
          spfResults: [{ domain: 'lists.example.org', result: 'pass' }],
          reasons: [{ type: 'local_policy', comment: 'arc=pass as[2].d=google.com as[2].s=arc-20160816 as[1].google.com=pass' }],
        },
        { ip: SPOOFER, count: 30, dkim: 'fail', spf: 'fail', disposition: 'none', spfResults: [{ domain: 'spoof.example.net', result: 'pass' }] },
        { ip: UNKNOWN, count: 1, dkim: 'fail', spf: 'fail' },
      ],
    });
  }
  return out;
}

describeEachBackend('sources: classification, detail, authorise and ignore', (backend) => {
  let dns: TestDnsServer;
  let h: Harness;
  let owner: Member;
  let viewer: Member;
  let stranger: Member;
  let org: { id: number; slug: string };
  let other: { id: number; slug: string };

  beforeAll(async () => {
    dns = await startDnsServer();
    h = await openHarness(backend);
    owner = await signedIn(h, 'owner@sources.example');
    viewer = await signedIn(h, 'viewer@sources.example');
    stranger = await signedIn(h, 'owner@elsewhere.example');
    org = await orgWith(h, 'Sources Inc', owner, [{ member: viewer, role: 'viewer' }]);
    other = await orgWith(h, 'Elsewhere', stranger);
    await storeReports(h.database.db, org.id, reports(h.clock()));

    dns.setPtr(SENDGRID, ['o1.ptr1234.sendgrid.net']);
    dns.set('o1.ptr1234.sendgrid.net', { a: [SENDGRID] });
    dns.setPtr(FORWARDER, ['mail-sor-f41.google.com']);
    dns.set('mail-sor-f41.google.com', { a: [FORWARDER] });
    // The spoofer claims to be Google; the name does not lead back to it.
    dns.setPtr(SPOOFER, ['mail-x.google.com']);
    dns.set('mail-x.google.com', { a: ['192.0.2.99'] });
    const summary = await enrichDueSources({ db: h.database.db, resolver: createDnsResolver({ servers: [dns.address], timeoutMs: 200, tries: 1 }), logger: silentLogger, clock: h.clock });
    expect(summary.checked).toBe(4);
    expect(await refreshSourceEvidence({ db: h.database.db, logger: silentLogger, clock: h.clock })).toMatchObject({ domains: 1, sources: 4 });
  }, 60_000);
  afterAll(async () => {
    await h.close();
    await dns.close();
  });
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  const period = () => {
    const toDay = h.clock().toISOString().slice(0, 10);
    return { fromDay: new Date(h.clock().getTime() - 29 * DAY).toISOString().slice(0, 10), toDay };
  };

  it('classifies each source with evidence and groups them by service, forwarded mail apart', async () => {
    const rows = await sourcesByIp(h.database.db, org.id, { ...period(), domain: 'example.com' }, { limit: 50, after: null });
    const views = await classifySources(h.database.db, org.id, rows, { domain: 'example.com', now: h.clock() });
    const byIp = new Map(views.map((v) => [v.ip, v]));

    const sendgrid = byIp.get(SENDGRID)!;
    expect(sendgrid.classification.kind).toBe('known_service');
    expect(sendgrid.classification.service?.service.id).toBe('sendgrid');
    expect(sendgrid.classification.service?.confidence).toBe('ptr+dkim');
    expect(sendgrid.dkim.map((d) => d.domain)).toEqual(['example.com', 'sendgrid.net']);
    expect(sendgrid.records).toBe(7);

    const forwarder = byIp.get(FORWARDER)!;
    expect(forwarder.classification.kind).toBe('forwarder');
    expect(forwarder.classification.evidence[0]).toBe('ARC pass reported by google.com');
    expect(forwarder.reasons[0]?.comment).toContain('arc=pass');

    const spoofer = byIp.get(SPOOFER)!;
    expect(spoofer.classification.kind).toBe('suspicious');
    // An unconfirmed PTR names no service.
    expect(spoofer.classification.service).toBeNull();
    expect(spoofer.enrichment).toMatchObject({ ptrHost: 'mail-x.google.com', ptrConfirmed: false });

    expect(byIp.get(UNKNOWN)!.classification.kind).toBe('unknown');
    expect(byIp.get(UNKNOWN)!.enrichment).toMatchObject({ ptrHost: null, asn: null, country: null });

    const groups = groupByService(views);
    expect(groups.map((g) => [g.key, g.serviceId, g.messages])).toEqual([
      ['service:sendgrid', 'sendgrid', 700],
      ['unidentified', null, 217],
      ['forwarded', null, 140],
    ]);
  });

  it('answers a source over the API with its enrichment, classification and reports; unknown facts stay null', async () => {
    const response = await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/sources/${SPOOFER}`);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      ip: SPOOFER,
      messages: 210,
      dmarcPass: 0,
      enrichment: { ptr: 'mail-x.google.com', ptrConfirmed: false, asn: null, country: null, lastError: null },
      classification: { kind: 'suspicious', service: null, totals: { messages: 210, failedBoth: 210 }, analysis: { status: 'ready', windowDays: 90 } },
      decision: null,
    });
    expect(response.body.reports).toHaveLength(7);
    expect(response.body.daily).toHaveLength(30);
    expect(response.body.domains).toEqual([{ domain: 'example.com', messages: 210, pass: 0 }]);
  });

  it('authorises a source with a note, audited, and classifies it as authorised; undo restores the evidence', async () => {
    const path = `/orgs/${org.slug}/sources/${SPOOFER}/decision`;
    const put = await callApi(h, { browser: owner.browser }, 'PUT', path, { decision: 'authorised', note: 'Our old newsletter server' });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ decision: 'authorised', note: 'Our old newsletter server', subject: { type: 'ip', value: SPOOFER }, decidedBy: 'owner@sources.example' });

    const after = await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/sources/${SPOOFER}`);
    expect(after.body.classification.kind).toBe('authorised');
    expect(after.body.classification.evidence[0]).toBe('Authorised by a member of this organisation: Our old newsletter server');

    const audit = await h.database.db.selectFrom('audit_event').select(['action', 'target_id', 'summary']).where('org_id', '=', org.id).where('action', 'like', 'source.%').execute();
    expect(audit).toEqual([{ action: 'source.authorise', target_id: SPOOFER, summary: { before: null, after: { decision: 'authorised', note: 'Our old newsletter server' } } }]);

    expect((await callApi(h, { browser: owner.browser }, 'DELETE', path)).status).toBe(204);
    expect((await callApi(h, { browser: owner.browser }, 'DELETE', path)).status).toBe(404);
    const undone = await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/sources/${SPOOFER}`);
    expect(undone.body.classification.kind).toBe('suspicious');
    expect(undone.body.decision).toBeNull();
  });

  it('refuses viewers and read keys, other organisations, and things that are not addresses', async () => {
    const path = `/orgs/${org.slug}/sources/${SPOOFER}/decision`;
    expect((await callApi(h, { browser: viewer.browser }, 'PUT', path, { decision: 'ignored' })).status).toBe(403);
    expect((await callApi(h, { key: await keyFor(h, org.id, 'read') }, 'PUT', path, { decision: 'ignored' })).status).toBe(403);
    expect((await callApi(h, { browser: stranger.browser }, 'GET', `/orgs/${org.slug}/sources/${SPOOFER}`)).status).toBe(404);
    // The stranger's own organisation never saw the address.
    expect((await callApi(h, { browser: stranger.browser }, 'GET', `/orgs/${other.slug}/sources/${SPOOFER}`)).status).toBe(404);
    expect((await callApi(h, { browser: owner.browser }, 'GET', `/orgs/${org.slug}/sources/not-an-ip`)).status).toBe(400);
    expect((await callApi(h, { browser: owner.browser }, 'PUT', path, { decision: 'trusted' })).status).toBe(400);
    const count = await h.database.db.selectFrom('source_decision').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(0);
  });

  it('authorises and ignores from the source page; viewers cannot post; IPv6 addresses are normalised', async () => {
    const page = `/o/${org.slug}/sources/${SENDGRID}`;
    let html = await (await owner.browser.get(page)).text();
    expect(html).toContain('SendGrid');
    expect(html).toContain('o1.ptr1234.sendgrid.net (forward-confirmed');
    expect(html).toContain('unknown'); // network and country without an MMDB file

    const denied = await viewer.browser.get(page).then(() => viewer.browser.post(`${page}/decision`, { decision: 'authorised', note: 'mine' }));
    expect(denied.status).toBe(403);
    expect(await (await viewer.browser.get(page)).text()).toContain('Viewers cannot change decisions');

    const posted = await owner.browser.post(`${page}/decision`, { decision: 'ignored', note: 'Marketing, known' });
    expect(posted.status).toBe(303);
    expect(posted.headers.get('location')).toBe(page);
    html = await (await owner.browser.get(page)).text();
    expect(html).toContain('Ignored by owner@sources.example');
    expect(html).toContain('Undo the decision');

    const bad = await owner.browser.post(`${page}/decision`, { decision: 'maybe' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('Choose Authorise, Ignore or Undo.');

    expect((await owner.browser.post(`${page}/decision`, { decision: 'undo' })).status).toBe(303);
    expect(await h.database.db.selectFrom('source_decision').selectAll().where('org_id', '=', org.id).execute()).toEqual([]);

    const v6 = await callApi(h, { browser: owner.browser }, 'PUT', `/orgs/${org.slug}/sources/${encodeURIComponent('2001:DB8:0::1')}/decision`, { decision: 'authorised' });
    expect(v6.body.subject.value).toBe('2001:db8::1');
    expect((await callApi(h, { browser: owner.browser }, 'GET', `/orgs/${org.slug}/sources/${encodeURIComponent('2001:db8::1')}`)).body.decision.decision).toBe('authorised');

    expect((await stranger.browser.get(page)).status).toBe(404);
  });
});
