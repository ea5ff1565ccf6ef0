import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_URL, openHarness, type Browser, type Harness } from '../auth/harness.js';
import { orgWith, signedIn, type Member } from '../api/harness.js';
import { SAMPLES, part, type UploadPart } from '../api/upload-helpers.js';
import { storeReports } from '../helpers/aggregate-xml.js';
import { describeEachBackend } from '../helpers/db.js';
import { rawPreview } from '../../src/reports/raw-preview.js';

/** Sends the upload form as a browser does: multipart, with the page's `_csrf` field and our Origin. */
async function postUpload(browser: Browser, slug: string, files: UploadPart[], options: { csrf?: string | null } = {}): Promise<Response> {
  if (browser.csrf === null) await browser.get(`/o/${slug}/reports`);
  const form = new FormData();
  const csrf = options.csrf === undefined ? browser.csrf : options.csrf;
  if (csrf !== null) form.append('_csrf', csrf);
  for (const file of files) form.append('file', new Blob([new Uint8Array(file.bytes)]), file.name);
  return browser.request(`/o/${slug}/upload`, { method: 'POST', headers: { origin: PUBLIC_URL }, body: form });
}

const reportLinks = (html: string) => [...html.matchAll(/href="\/o\/[^/]+\/reports\/(aggregate|tls|failure)\/(\d+)"/g)].map((m) => ({ kind: m[1]!, id: Number(m[2]) }));

describeEachBackend('report, upload and ingest-log pages', (backend) => {
  let h: Harness;
  let owner: Member;
  let viewer: Member;
  let stranger: Member;
  let org: { id: number; slug: string };
  let otherOrg: { id: number; slug: string };
  let stored: Array<{ kind: string; id: number }>;

  const count = async (table: 'aggregate_report' | 'tls_report' | 'failure_report', orgId: number) =>
    Number((await h.database.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('org_id', '=', orgId).executeTakeFirstOrThrow()).n);

  beforeAll(async () => {
    h = await openHarness(backend);
    owner = await signedIn(h, 'owner@pages.example');
    viewer = await signedIn(h, 'viewer@pages.example');
    stranger = await signedIn(h, 'stranger@pages.example');
    org = await orgWith(h, 'Pages Inc', owner, [{ member: viewer, role: 'viewer' }]);
    otherOrg = await orgWith(h, 'Elsewhere Ltd', stranger);
  }, 60_000);
  afterAll(() => h.close());

  it('uploads real reports through the form and answers each document in words, with links to the reports', async () => {
    const response = await postUpload(owner.browser, org.slug, [part(SAMPLES.xml), part(SAMPLES.zip), part(SAMPLES.tls), part(SAMPLES.arf), { name: 'notes.txt', bytes: Buffer.from('hello') }]);
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('Upload results');
    expect(html).toContain('Documents found: 4 stored, 1 not a report.');
    expect(html).toContain('test.xml');
    expect(html).toContain('Test Inc. 1.id.0');
    stored = reportLinks(html);
    expect(stored.map((r) => r.kind)).toEqual(['aggregate', 'aggregate', 'tls', 'failure']);
    // One table per file, its documents in the order found; an answer to a POST offers no sort or download links (they would lose it).
    const captions = [...html.matchAll(/<caption>([^<]*)<\/caption>/g)].map((m) => m[1]!.replace(/ \([\d,]+ bytes\)$/, ''));
    expect(captions).toEqual(['test.xml', 'google.com!bluesun.net!1766102400!1766188799.zip', 'google.json', 'arf-18.eml', 'notes.txt']);
    expect(html).toMatch(/<th scope="col">Document<\/th><th scope="col">Kind<\/th><th scope="col">Outcome<\/th>/);
    expect(html).not.toContain('Download CSV');
    expect(html).toMatch(/<td>notes.txt<\/td><td><span class="muted">unknown<\/span><\/td><td><span class="outcome outcome-not_a_report">Not a report<\/span><\/td>/);
    expect(await count('aggregate_report', org.id)).toBe(2);

    // The same files again: already stored, nothing counted twice.
    const again = await postUpload(owner.browser, org.slug, [part(SAMPLES.xml)]);
    expect(await again.text()).toContain('Already stored');
    expect(await count('aggregate_report', org.id)).toBe(2);

    // The upload is audited as the person who sent it.
    const audit = await h.database.db.selectFrom('audit_event').select(['actor_type', 'actor_id']).where('org_id', '=', org.id).where('action', '=', 'report.upload').execute();
    expect(audit).toEqual([
      { actor_type: 'user', actor_id: String(owner.userId) },
      { actor_type: 'user', actor_id: String(owner.userId) },
    ]);
  });

  it('refuses an upload without the form token', async () => {
    const response = await postUpload(owner.browser, org.slug, [part(SAMPLES.gz)], { csrf: 'forged' });
    expect(response.status).toBe(403);
    expect(await count('aggregate_report', org.id)).toBe(2);
  });

  it('asks again, in words, when no file was chosen', async () => {
    const response = await postUpload(owner.browser, org.slug, []);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('Choose at least one file to upload.');
  });

  it('shows a viewer an explanation instead of the form, and refuses their upload', async () => {
    const page = await viewer.browser.get(`/o/${org.slug}/upload`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).not.toContain('type="file"');
    expect(html).toContain('your role is viewer');

    const response = await postUpload(viewer.browser, org.slug, [part(SAMPLES.gz)]);
    expect(response.status).toBe(403);
    expect(await count('aggregate_report', org.id)).toBe(2);
    // A viewer still reads the reports.
    expect((await viewer.browser.get(`/o/${org.slug}/reports`)).status).toBe(200);
  });

  it('lists the reports with filters, and downloads the same list as CSV and JSON', async () => {
    const all = await owner.browser.get(`/o/${org.slug}/reports`);
    expect(all.status).toBe(200);
    expect(reportLinks(await all.text()).length).toBeGreaterThanOrEqual(4);

    const tlsOnly = await (await owner.browser.get(`/o/${org.slug}/reports?kind=tls`)).text();
    expect(new Set(reportLinks(tlsOnly).map((r) => r.kind))).toEqual(new Set(['tls']));

    const byReporter = await (await owner.browser.get(`/o/${org.slug}/reports?reporter=${encodeURIComponent('Test Inc.')}`)).text();
    expect(new Set(reportLinks(byReporter).map((r) => r.id))).toEqual(new Set([stored[0]!.id]));

    const failing = reportLinks(await (await owner.browser.get(`/o/${org.slug}/reports?failures=true`)).text());
    expect(failing).toContainEqual(stored[0]);
    expect(failing).toContainEqual(stored[3]);
    expect(failing).not.toContainEqual(stored[2]);

    const csv = await owner.browser.get(`/o/${org.slug}/reports?kind=aggregate&format=csv`);
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toBe('Kind,Period,Reporter,Domain,Volume,Result,Report id,Received,Id');
    expect(lines).toHaveLength(3);
    expect(lines.join('\n')).toContain('Test Inc.');

    const json = await owner.browser.get(`/o/${org.slug}/reports?format=json`);
    const rows = (await json.json()) as Array<{ kind: string }>;
    expect(rows.map((r) => r.kind).sort()).toEqual(['aggregate', 'aggregate', 'failure', 'tls']);

    // Oldest first is the reverse of newest first.
    const newest = reportLinks(await (await owner.browser.get(`/o/${org.slug}/reports?dir=desc`)).text()).filter((_, i) => i % 2 === 0);
    const oldest = reportLinks(await (await owner.browser.get(`/o/${org.slug}/reports?sort=period&dir=asc`)).text()).filter((_, i) => i % 2 === 0);
    expect(oldest).toEqual([...newest].reverse());
  });

  it('says what is wrong with a filter, and what to do when nothing matches', async () => {
    const bad = await owner.browser.get(`/o/${org.slug}/reports?from=2026-03-10&to=2026-03-01`);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('The start of the period must not come after its end.');
    const none = await (await owner.browser.get(`/o/${org.slug}/reports?domain=nothing.example`)).text();
    expect(none).toContain('No reports match these filters');
    const cursor = await owner.browser.get(`/o/${org.slug}/reports?cursor=not-a-cursor`);
    expect(cursor.status).toBe(400);
  });

  it('shows an aggregate report: metadata, policy, every auth result, and the XML escaped beside it', async () => {
    const response = await owner.browser.get(`/o/${org.slug}/reports/aggregate/${stored[0]!.id}`);
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('Aggregate report from Test Inc. for test.net');
    expect(html).toContain('2 of 7 messages failed DMARC');
    expect(html).toContain('<code class="ip">192.168.1.1</code>');
    expect(html).toContain('2018-04-20');
    // The raw XML is text on the page, never markup.
    expect(html).toContain('&lt;feedback');
    expect(html).not.toContain('<feedback');
    expect(html).toContain(`/api/v1/orgs/${org.slug}/reports/aggregate/${stored[0]!.id}/raw`);

    const records = await owner.browser.get(`/o/${org.slug}/reports/aggregate/${stored[0]!.id}?format=csv`);
    const lines = (await records.text()).trim().split('\r\n');
    expect(lines[0]).toBe('Source IP,Messages,DMARC,Disposition,From / envelope,Aligned DKIM / SPF,Recomputed alignment,DKIM results,SPF results,Reasons');
    expect(lines).toHaveLength(3);

    // The original downloads with the session cookie.
    const raw = await owner.browser.get(`/api/v1/orgs/${org.slug}/reports/aggregate/${stored[0]!.id}/raw`, { accept: '*/*' });
    expect(raw.status).toBe(200);
    expect(await raw.text()).toContain('<feedback');
  });

  it('shows a TLS report with its policies and failures, and a failure report with its fields', async () => {
    const tls = await owner.browser.get(`/o/${org.slug}/reports/tls/${stored[2]!.id}`);
    expect(tls.status).toBe(200);
    const tlsHtml = await tls.text();
    expect(tlsHtml).toContain('SMTP TLS report from Google Inc.');
    expect(tlsHtml).toContain('Policy 1:');
    expect(tlsHtml).toContain('&quot;organization-name&quot;');

    const failure = await owner.browser.get(`/o/${org.slug}/reports/failure/${stored[3]!.id}`);
    expect(failure.status).toBe(200);
    const failureHtml = await failure.text();
    expect(failureHtml).toContain('Auth-Failure');
    expect(failureHtml).toContain('Message bodies are never stored');
  });

  it('pages the records of a big report, shows reasons with their comments, and cuts the XML at a megabyte with a link to all of it', async () => {
    const comment = `arc=pass as.1.google.com=pass ams.1.google.com=pass smtp.code=550 5.7.26 ${'x'.repeat(400)}`;
    const records = Array.from({ length: 2500 }, (_, i) => ({
      ip: `198.51.${Math.floor(i / 250)}.${i % 250}`,
      count: 1,
      dkim: 'fail' as const,
      spf: i % 2 === 0 ? ('pass' as const) : ('fail' as const),
      reasons: [{ type: 'local_policy', comment }],
    }));
    await storeReports(h.database.db, org.id, [{ domain: 'big.example', reportId: 'big-1', begin: new Date('2026-02-01T00:00:00Z'), records }]);
    const report = await h.database.db.selectFrom('aggregate_report').select('id').where('org_id', '=', org.id).where('external_id', '=', 'big-1').executeTakeFirstOrThrow();

    const first = await (await owner.browser.get(`/o/${org.slug}/reports/aggregate/${report.id}`)).text();
    expect(first).toContain('2,500 messages in 2,500 records; the records are below, page by page.');
    expect(first).toContain('198.51.0.0');
    expect(first).toContain('arc=pass as.1.google.com=pass');
    expect(first).toContain('Only the first megabyte is shown.');
    expect(first.match(/<code class="ip">/g)).toHaveLength(100);
    const next = /href="([^"]+cursor=[^"]+)">Next page/.exec(first)?.[1]?.replace(/&amp;/g, '&');
    expect(next).toBeDefined();
    const second = await (await owner.browser.get(next!)).text();
    expect(second).toContain('198.51.0.100');
    expect(second).not.toContain('>198.51.0.0<');
    expect(second).toContain('First page');
  });

  it("answers 404 for another organisation's reports and for organisations one is not in", async () => {
    for (const report of stored) {
      const response = await stranger.browser.get(`/o/${otherOrg.slug}/reports/${report.kind}/${report.id}`);
      expect(response.status).toBe(404);
      expect(await response.text()).not.toContain('Test Inc.');
    }
    expect((await stranger.browser.get(`/o/${org.slug}/reports`)).status).toBe(404);
    expect((await stranger.browser.get(`/o/${org.slug}/reports/aggregate/${stored[0]!.id}`)).status).toBe(404);
    expect((await stranger.browser.get(`/o/${org.slug}/ingest-log`)).status).toBe(404);
    const before = await count('aggregate_report', org.id);
    const upload = await postUpload(stranger.browser, org.slug, [part(SAMPLES.gz)]);
    expect(upload.status).toBe(404);
    expect((await stranger.browser.get(`/o/${otherOrg.slug}/reports/aggregate/not-a-number`)).status).toBe(404);
    expect(await count('aggregate_report', org.id)).toBe(before);
    expect(await count('aggregate_report', otherOrg.id)).toBe(0);
  });

  it('lists every document in the ingest log with its outcome in words, filtered and downloadable', async () => {
    const html = await (await owner.browser.get(`/o/${org.slug}/ingest-log`)).text();
    expect(html).toContain('Upload of test.xml');
    expect(html).toContain('Not a report');
    expect(reportLinks(html).length).toBeGreaterThanOrEqual(4);

    const notReports = await (await owner.browser.get(`/o/${org.slug}/ingest-log?outcome=not_a_report`)).text();
    expect(notReports).toContain('notes.txt');
    expect(notReports).not.toContain('Upload of test.xml');
    expect(await (await owner.browser.get(`/o/${org.slug}/ingest-log?sourceType=imap`)).text()).toContain('No documents match these filters');

    const csv = await (await owner.browser.get(`/o/${org.slug}/ingest-log?format=csv`)).text();
    expect(csv.split('\r\n')[0]).toBe('First seen,Outcome,Kind,Reason,Source,Item,Report,Last seen');
    expect(csv).toContain('not_a_report');
  });
});

describe('raw preview', () => {
  it('stops at the limit, on a character boundary, and says so', async () => {
    const text = `${'a'.repeat(9)}é${'b'.repeat(100)}`;
    const gz = zlib.gzipSync(Buffer.from(text));
    const preview = await rawPreview(gz, Buffer.byteLength(text), 10);
    expect(preview).toEqual({ text: 'a'.repeat(9), truncated: true });
    expect(await rawPreview(gz, Buffer.byteLength(text))).toEqual({ text, truncated: false });
  });
});
