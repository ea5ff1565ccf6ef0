import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { openHarness, type Harness } from '../auth/harness.js';
import { describeEachBackend } from '../helpers/db.js';
import { callApi, keyFor, orgWith, signedIn, type Member } from './harness.js';
import { aggregateXml } from '../helpers/aggregate-xml.js';
import { SAMPLES, download, part, sample, upload } from './upload-helpers.js';

interface ReportRef {
  kind: 'aggregate' | 'tls' | 'failure';
  id: number;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describeEachBackend('reports API', (backend) => {
  let h: Harness;
  let owner: Member;
  let viewer: Member;
  let org: { id: number; slug: string };
  let readKey: string;
  let stranger: Member;
  let otherOrg: { id: number; slug: string };
  let otherKey: string;
  /** The report each sample became, by sample name. */
  const reports: Record<string, ReportRef> = {};

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const get = (path: string, key = readKey) => callApi<any>(h, { key }, 'GET', path);
  const listAll = async (query: string, limit = 2) => {
    const items: Array<{ kind: string; id: number; endAt: string }> = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 20; pages++) {
      const page = await get(`/orgs/${org.slug}/reports?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(limit);
      items.push(...page.body.items);
      cursor = page.body.nextCursor;
      if (cursor === null) return items;
    }
    throw new Error('the list did not end');
  };

  beforeAll(async () => {
    h = await openHarness(backend, { DMARCWATCH_API_RATE_LIMIT: '100000' });
    owner = await signedIn(h, 'owner@reports.example');
    viewer = await signedIn(h, 'viewer@reports.example');
    org = await orgWith(h, 'Reports Inc', owner, [{ member: viewer, role: 'viewer' }]);
    readKey = await keyFor(h, org.id, 'read');
    stranger = await signedIn(h, 'stranger@reports.example');
    otherOrg = await orgWith(h, 'Other Reports', stranger);
    otherKey = await keyFor(h, otherOrg.id, 'admin');

    const names = ['xml', 'gz', 'zip', 'eml', 'tls', 'arf'] as const;
    const response = await upload(h, { browser: owner.browser }, org.slug, names.map((n) => part(SAMPLES[n])));
    expect(response.status).toBe(200);
    names.forEach((name, i) => {
      reports[name] = response.body.files[i].documents[0].report;
    });
    // The other organisation holds a report of its own.
    const theirs = await upload(h, { key: await keyFor(h, otherOrg.id, 'write') }, otherOrg.slug, [part(SAMPLES.gz)]);
    reports.foreign = theirs.body.files[0].documents[0].report;
  }, 60_000);
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  it('lists every report newest period end first, paging without gaps or repeats', async () => {
    const one = await listAll('', 100);
    expect(one).toHaveLength(6);
    const ends = one.map((r) => r.endAt);
    expect([...ends].sort().reverse()).toEqual(ends);
    const paged = await listAll('', 2);
    expect(paged.map((r) => `${r.kind}:${r.id}`)).toEqual(one.map((r) => `${r.kind}:${r.id}`));
    const kinds = one.map((r) => r.kind).sort();
    expect(kinds).toEqual(['aggregate', 'aggregate', 'aggregate', 'aggregate', 'failure', 'tls']);
    expect(one.map((r) => `${r.kind}:${r.id}`)).not.toContain(`${reports.foreign!.kind}:${reports.foreign!.id}`);

    const viewerList = await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/reports?limit=1`);
    expect(viewerList.status).toBe(200);
    expect(viewerList.body.nextCursor).toEqual(expect.any(String));
  });

  it('filters by kind, domain, reporter, period and failures', async () => {
    const ids = (items: Array<{ kind: string; id: number }>) => items.map((r) => `${r.kind}:${r.id}`).sort();
    const ref = (r: ReportRef) => `${r.kind}:${r.id}`;

    expect(ids(await listAll('&kind=tls'))).toEqual([ref(reports.tls!)]);
    expect(ids(await listAll('&kind=failure'))).toEqual([ref(reports.arf!)]);
    expect(await listAll('&kind=aggregate')).toHaveLength(4);

    expect(ids(await listAll('&domain=TEST.NET.'))).toEqual([ref(reports.xml!)]);
    expect(ids(await listAll('&domain=bluesun.net'))).toEqual([ref(reports.zip!)]);
    expect(await listAll('&domain=nobody.example')).toEqual([]);

    expect(ids(await listAll('&reporter=test%20inc.'))).toEqual([ref(reports.xml!)]);
    expect(ids(await listAll('&reporter=comcast.net&kind=aggregate'))).toEqual([ref(reports.gz!)]);

    // test.xml covers 2018-04-20; the period filter matches reports whose range reaches into it.
    expect(ids(await listAll('&from=2018-04-20&to=2018-04-20'))).toEqual([ref(reports.xml!)]);
    expect(ids(await listAll('&from=2018-04-19T00:00:00Z&to=2018-04-20T00:00:01Z'))).toEqual([ref(reports.xml!)]);
    expect(await listAll('&from=2018-04-21&to=2018-04-22')).toEqual([]);
    const recent = await listAll('&from=2026-01-01');
    expect(ids(recent)).toContain(ref(reports.gz!));
    expect(ids(recent)).not.toContain(ref(reports.xml!));

    // test.xml has 2 messages failing DMARC; the failure report is a failure by nature.
    const failing = ids(await listAll('&failures=true'));
    expect(failing).toContain(ref(reports.xml!));
    expect(failing).toContain(ref(reports.arf!));
    const clean = ids(await listAll('&failures=false'));
    expect(clean).not.toContain(ref(reports.xml!));
    expect(clean).not.toContain(ref(reports.arf!));
    expect([...failing, ...clean].sort()).toEqual(ids(await listAll('')));

    const bad = await get(`/orgs/${org.slug}/reports?kind=dmarc`);
    expect(bad.status).toBe(400);
    expect((await get(`/orgs/${org.slug}/reports?cursor=not-a-cursor`)).status).toBe(400);
    expect((await get(`/orgs/${org.slug}/reports?from=2026-02-01&to=2026-01-01`)).status).toBe(400);
  });

  it('shows an aggregate report with its policy and every record, paged', async () => {
    const detail = await get(`/orgs/${org.slug}/reports/aggregate/${reports.xml!.id}`);
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({
      kind: 'aggregate',
      reporter: 'Test Inc.',
      reporterEmail: 'postmaster@test',
      reportId: '1.id.0',
      beginAt: '2018-04-20T00:00:00.000Z',
      policy: { domain: 'test.net', adkim: 'r', aspf: 'r', p: 'none', pct: 100 },
      recordCount: 2,
      messageCount: 7,
    });
    const [first, second] = detail.body.records.items;
    expect(first).toMatchObject({
      ordinal: 0,
      sourceIp: '192.168.1.1',
      count: 5,
      disposition: 'none',
      dkim: 'pass',
      spf: 'pass',
      headerFrom: 'test.net',
      dkimResults: [
        { domain: 'test1.net', selector: 'selector1', result: 'fail' },
        { domain: 'test2.net', selector: 'selector2', result: 'pass' },
      ],
      spfResults: [{ domain: 'test.net', scope: 'mfrom', result: 'pass' }],
    });
    expect(second).toMatchObject({ ordinal: 1, sourceIp: '10.1.1.1', count: 2, dkim: 'fail', spf: 'fail' });
    expect(detail.body.records.nextCursor).toBeNull();

    const page1 = await get(`/orgs/${org.slug}/reports/aggregate/${reports.xml!.id}?recordsLimit=1`);
    expect(page1.body.records.items.map((r: { ordinal: number }) => r.ordinal)).toEqual([0]);
    expect(page1.body.records.items[0].dkimResults).toHaveLength(2);
    const page2 = await get(`/orgs/${org.slug}/reports/aggregate/${reports.xml!.id}?recordsLimit=1&recordsCursor=${page1.body.records.nextCursor}`);
    expect(page2.body.records.items.map((r: { ordinal: number }) => r.ordinal)).toEqual([1]);
    expect(page2.body.records.items[0].dkimResults).toEqual(second.dkimResults);
    expect(page2.body.records.nextCursor).toBeNull();
  });

  it('shows a TLS report with policies and failure details, and a failure report with its ARF fields', async () => {
    const tls = await get(`/orgs/${org.slug}/reports/tls/${reports.tls!.id}`);
    expect(tls.status).toBe(200);
    const json = JSON.parse(sample(SAMPLES.tls).toString('utf8'));
    expect(tls.body).toMatchObject({ kind: 'tls', reporter: json['organization-name'], reportId: json['report-id'] });
    expect(tls.body.policies).toHaveLength(json.policies.length);
    expect(tls.body.policies[0].policyDomain).toBe(json.policies[0].policy['policy-domain']);
    expect(tls.body.successfulSessions).toBe(json.policies.reduce((n: number, p: { summary: { 'total-successful-session-count': number } }) => n + p.summary['total-successful-session-count'], 0));

    const failure = await get(`/orgs/${org.slug}/reports/failure/${reports.arf!.id}`);
    expect(failure.status).toBe(200);
    expect(failure.body.kind).toBe('failure');
    expect(failure.body.feedbackType).toBe('auth-failure');
    expect(failure.body.originalHeaders).toEqual(expect.any(String));
    expect(failure.body.reportedDomain).toEqual(expect.any(String));

    expect((await get(`/orgs/${org.slug}/reports/tls/${reports.tls!.id + 1000}`)).status).toBe(404);
    expect((await get(`/orgs/${org.slug}/reports/failure/${reports.arf!.id + 1000}`)).status).toBe(404);
    expect((await get(`/orgs/${org.slug}/reports/aggregate/${reports.xml!.id + 1000}`)).status).toBe(404);
  });

  it('lists each report as its detail describes it', async () => {
    const listed = await listAll('', 100);
    expect(listed).toHaveLength(6);
    for (const item of listed as Array<Record<string, unknown> & { kind: ReportRef['kind']; id: number }>) {
      const { body: detail } = await get(`/orgs/${org.slug}/reports/${item.kind}/${item.id}`);
      expect(item.receivedAt).toBe(detail.receivedAt);
      if (item.kind === 'aggregate') {
        expect(item).toEqual({
          kind: 'aggregate',
          id: detail.id,
          beginAt: detail.beginAt,
          endAt: detail.endAt,
          receivedAt: detail.receivedAt,
          reporter: detail.reporter,
          reporterEmail: detail.reporterEmail,
          reportId: detail.reportId,
          domain: detail.policy.domain,
          policy: detail.policy.p,
          messages: detail.messageCount,
          records: detail.recordCount,
          warnings: detail.warnings.length,
        });
      } else if (item.kind === 'tls') {
        const domains = [...new Set(detail.policies.map((p: { policyDomain: string }) => p.policyDomain))].sort();
        expect(item).toEqual({
          kind: 'tls',
          id: detail.id,
          beginAt: detail.beginAt,
          endAt: detail.endAt,
          receivedAt: detail.receivedAt,
          reporter: detail.reporter,
          reportId: detail.reportId,
          domains,
          successfulSessions: detail.successfulSessions,
          failedSessions: detail.failedSessions,
        });
      } else {
        expect(item).toMatchObject({ kind: 'failure', id: detail.id, domain: detail.reportedDomain, sourceIp: detail.sourceIp, feedbackType: detail.feedbackType });
        expect(item.endAt).toBe(detail.arrivalAt ?? item.endAt);
      }
    }
  });

  it('writes names with quotes, backslashes, markup and other scripts as they were sent', async () => {
    const awkward = await orgWith(h, 'Awkward Names', owner);
    const reporter = 'Ünïcødé "Mail" \\ Co. <b>☃</b> 郵便';
    const reportId = String.raw`id "1" \n \u0000 </script>`;
    const xml = aggregateXml({ domain: 'awkward.example', reporter, reportId, begin: new Date('2026-05-01T00:00:00Z'), records: [{ ip: '192.0.2.1', count: 3, dkim: 'pass', spf: 'fail' }] });
    const stored = await upload(h, { key: await keyFor(h, awkward.id, 'write') }, awkward.slug, [{ name: 'awkward.xml', bytes: Buffer.from(xml, 'utf8') }]);
    expect(stored.status).toBe(200);
    const list = await get(`/orgs/${awkward.slug}/reports`, await keyFor(h, awkward.id, 'read'));
    expect(list.body.items).toEqual([expect.objectContaining({ kind: 'aggregate', reporter, reportId, domain: 'awkward.example', messages: 3 })]);
  });

  it('downloads the original documents byte for byte, plain or gzip-encoded', async () => {
    const plain = await download(h, readKey, `/orgs/${org.slug}/reports/aggregate/${reports.xml!.id}/raw`);
    expect(plain.status).toBe(200);
    expect(plain.bytes.equals(sample(SAMPLES.xml))).toBe(true);
    expect(plain.headers.get('content-type')).toBe('application/xml');
    expect(plain.headers.get('content-disposition')).toBe('attachment; filename="Test_Inc.!test.net!1524182400!1524268799!1.id.0.xml"');
    expect(plain.headers.get('x-content-sha256')).toBe(sha256(plain.bytes));

    // The gz upload: the document is the XML inside.
    const fromGz = await download(h, readKey, `/orgs/${org.slug}/reports/aggregate/${reports.gz!.id}/raw`);
    expect(fromGz.bytes.equals(zlib.gunzipSync(sample(SAMPLES.gz)))).toBe(true);

    const encoded = await download(h, readKey, `/orgs/${org.slug}/reports/aggregate/${reports.gz!.id}/raw`, { 'accept-encoding': 'br, gzip;q=0.8' });
    expect(encoded.headers.get('content-encoding')).toBe('gzip');
    expect(zlib.gunzipSync(encoded.bytes).equals(fromGz.bytes)).toBe(true);
    const refused = await download(h, readKey, `/orgs/${org.slug}/reports/aggregate/${reports.gz!.id}/raw`, { 'accept-encoding': 'gzip;q=0' });
    expect(refused.headers.get('content-encoding')).toBeNull();

    const fromZip = await download(h, readKey, `/orgs/${org.slug}/reports/aggregate/${reports.zip!.id}/raw`);
    expect(fromZip.bytes.toString('utf8')).toContain('<policy_published>');
    expect(fromZip.headers.get('x-content-sha256')).toBe(sha256(fromZip.bytes));

    const tls = await download(h, readKey, `/orgs/${org.slug}/reports/tls/${reports.tls!.id}/raw`);
    expect(tls.bytes.equals(sample(SAMPLES.tls))).toBe(true);
    expect(tls.headers.get('content-disposition')).toMatch(/^attachment; filename="Google_Inc.!.+\.json"$/);

    const arf = await download(h, readKey, `/orgs/${org.slug}/reports/failure/${reports.arf!.id}/raw`);
    expect(arf.status).toBe(404);
    expect(JSON.parse(arf.bytes.toString('utf8')).error.code).toBe('raw_not_kept');

    // An id that is no report of that kind: not found.
    expect((await download(h, readKey, `/orgs/${org.slug}/reports/tls/${reports.tls!.id + 1000}/raw`)).status).toBe(404);
    expect((await download(h, readKey, `/orgs/${org.slug}/reports/report/${reports.xml!.id}/raw`)).status).toBe(400);
  });

  it("answers 404 for another organisation's report ids, through list, detail and raw", async () => {
    const foreign = reports.foreign!;
    expect((await get(`/orgs/${org.slug}/reports/aggregate/${foreign.id}`)).status).toBe(404);
    expect((await download(h, readKey, `/orgs/${org.slug}/reports/aggregate/${foreign.id}/raw`)).status).toBe(404);
    // Our ids under the other organisation, by its own admin key.
    expect((await get(`/orgs/${otherOrg.slug}/reports/aggregate/${reports.xml!.id}`, otherKey)).status).toBe(404);
    expect((await get(`/orgs/${otherOrg.slug}/reports/tls/${reports.tls!.id}`, otherKey)).status).toBe(404);
    expect((await get(`/orgs/${otherOrg.slug}/reports/failure/${reports.arf!.id}`, otherKey)).status).toBe(404);
    expect((await download(h, otherKey, `/orgs/${otherOrg.slug}/reports/aggregate/${reports.xml!.id}/raw`)).status).toBe(404);
    // Our organisation through their key or their owner: 404, not 403.
    expect((await get(`/orgs/${org.slug}/reports`, otherKey)).status).toBe(404);
    expect((await callApi(h, { browser: stranger.browser }, 'GET', `/orgs/${org.slug}/reports/aggregate/${reports.xml!.id}`)).status).toBe(404);
    expect((await download(h, otherKey, `/orgs/${org.slug}/reports/aggregate/${reports.xml!.id}/raw`)).status).toBe(404);
    // Their list shows only their report.
    const theirs = await get(`/orgs/${otherOrg.slug}/reports`, otherKey);
    expect(theirs.body.items.map((r: ReportRef) => `${r.kind}:${r.id}`)).toEqual([`${foreign.kind}:${foreign.id}`]);
  });

  it('sums messages per source IP from the daily rollups, pages by volume, and keeps to the organisation', async () => {
    const all = await get(`/orgs/${org.slug}/sources?from=2018-04-20&to=2018-04-20`);
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ from: '2018-04-20', to: '2018-04-20', nextCursor: null });
    expect(all.body.items).toEqual([
      { sourceIp: '192.168.1.1', messages: 5, dmarcPass: 5, dmarcFail: 0, dispositions: { none: 5, quarantine: 0, reject: 0, other: 0 }, headerFrom: ['test.net'], firstDay: '2018-04-20', lastDay: '2018-04-20' },
      { sourceIp: '10.1.1.1', messages: 2, dmarcPass: 0, dmarcFail: 2, dispositions: { none: 2, quarantine: 0, reject: 0, other: 0 }, headerFrom: ['test2.net'], firstDay: '2018-04-20', lastDay: '2018-04-20' },
    ]);

    // Every source over a wide period, one per page, in the same order as all at once.
    const wide = await get(`/orgs/${org.slug}/sources?from=2000-01-01&to=2026-03-02&limit=200`);
    const paged: Array<{ sourceIp: string; messages: number }> = [];
    let cursor: string | null = null;
    do {
      const page = await get(`/orgs/${org.slug}/sources?from=2000-01-01&to=2026-03-02&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      paged.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    expect(paged).toEqual(wide.body.items);
    expect(wide.body.items.length).toBeGreaterThan(2);
    const volumes = wide.body.items.map((s: { messages: number }) => s.messages);
    expect([...volumes].sort((a, b) => b - a)).toEqual(volumes);
    const total = wide.body.items.reduce((n: number, s: { messages: number }) => n + s.messages, 0);
    const stored = await h.database.db.selectFrom('aggregate_report').select((eb) => eb.fn.sum<number>('message_count').as('n')).where('org_id', '=', org.id).executeTakeFirstOrThrow();
    expect(total).toBe(Number(stored.n));

    const domain = await get(`/orgs/${org.slug}/sources?from=2000-01-01&to=2026-03-02&domain=bluesun.net`);
    expect(domain.body.items.length).toBeGreaterThan(0);
    expect(domain.body.items.map((s: { sourceIp: string }) => s.sourceIp)).not.toContain('192.168.1.1');

    // The default period is the last 30 days (the test clock says 2026-03-02): nothing uploaded falls in it.
    const recent = await get(`/orgs/${org.slug}/sources`);
    expect(recent.body).toMatchObject({ from: '2026-02-01', to: '2026-03-02', items: [] });

    // The other organisation sees only its own sources.
    const theirs = await get(`/orgs/${otherOrg.slug}/sources?from=2000-01-01&to=2026-03-02`, otherKey);
    expect(theirs.body.items.map((s: { sourceIp: string }) => s.sourceIp)).not.toContain('192.168.1.1');
    expect(theirs.body.items.length).toBeGreaterThan(0);
  });

  it('publishes the routes in the OpenAPI document', async () => {
    const doc = await h.app.request('https://dmarc.example.com/api/v1/openapi.json');
    const { paths } = (await doc.json()) as { paths: Record<string, Record<string, Record<string, unknown>>> };
    expect(Object.keys(paths)).toEqual(
      expect.arrayContaining(['/orgs/{org}/reports/upload', '/orgs/{org}/reports', '/orgs/{org}/reports/aggregate/{report}', '/orgs/{org}/reports/{kind}/{report}/raw', '/orgs/{org}/sources']),
    );
    expect(paths['/orgs/{org}/reports/upload']!.post!['x-permission']).toBe('write');
  });
});
