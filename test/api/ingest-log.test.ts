import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { openHarness, type Harness } from '../auth/harness.js';
import { describeEachBackend } from '../helpers/db.js';
import { callApi, keyFor, orgWith, signedIn, type Member } from './harness.js';
import { SAMPLES, part, upload } from './upload-helpers.js';

interface Entry {
  id: number;
  source: string;
  item: string;
  kind: string | null;
  outcome: string;
  reason: string | null;
  problemCode: string | null;
  sha256: string | null;
  firstSeenAt: string;
  lastSeenAt: string;
}

describeEachBackend('ingest log API', (backend) => {
  let h: Harness;
  let owner: Member;
  let viewer: Member;
  let org: { id: number; slug: string };
  let writeKey: string;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const get = (path: string) => callApi<any>(h, { browser: viewer.browser }, 'GET', path);
  const all = async (query = '', limit = 2): Promise<Entry[]> => {
    const items: Entry[] = [];
    let cursor: string | null = null;
    do {
      const page = await get(`/orgs/${org.slug}/ingest-log?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      items.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    return items;
  };

  beforeAll(async () => {
    h = await openHarness(backend, { DMARCWATCH_API_RATE_LIMIT: '100000' });
    owner = await signedIn(h, 'owner@log.example');
    viewer = await signedIn(h, 'viewer@log.example');
    org = await orgWith(h, 'Log Inc', owner, [{ member: viewer, role: 'viewer' }]);
    writeKey = await keyFor(h, org.id, 'write');
    await upload(h, { key: writeKey }, org.slug, [part(SAMPLES.xml), part(SAMPLES.tls), { name: 'notes.txt', bytes: Buffer.from('hello, not a report') }]);
    h.clock.advance(60_000);
    await upload(h, { key: writeKey }, org.slug, [part(SAMPLES.zip), { name: 'doctype.xml', bytes: Buffer.from('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><feedback/>') }]);
  }, 60_000);
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  it('lists every document seen with outcome, reason, source and item, newest first, in pages', async () => {
    const entries = await all();
    expect(entries).toHaveLength(5);
    const byItem = new Map(entries.map((e) => [e.item, e]));
    expect(byItem.get('test.xml')).toMatchObject({ kind: 'aggregate', outcome: 'stored', reason: null, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(byItem.get('google.json')).toMatchObject({ kind: 'tls', outcome: 'stored' });
    expect(byItem.get('notes.txt')).toMatchObject({ outcome: 'not_a_report', problemCode: 'not_a_report', reason: expect.stringContaining('not a report') });
    expect(byItem.get('doctype.xml')).toMatchObject({ outcome: 'refused', problemCode: 'dtd_refused', reason: expect.any(String) });
    for (const e of entries) expect(e.source).toMatch(/^upload:[0-9a-f]{16}:/);
    expect(byItem.get('test.xml')!.source.endsWith(':test.xml')).toBe(true);
    const times = entries.map((e) => e.firstSeenAt);
    expect([...times].sort().reverse()).toEqual(times);
    expect((await all('', 100)).map((e) => e.id)).toEqual(entries.map((e) => e.id));
  });

  it('filters by outcome, source type and source', async () => {
    expect((await all('&outcome=refused')).map((e) => e.item)).toEqual(['doctype.xml']);
    expect((await all('&outcome=stored')).map((e) => e.item).sort()).toEqual(['google.com!bluesun.net!1766102400!1766188799.zip › google.com!bluesun.net!1766102400!1766188799.xml', 'google.json', 'test.xml']);
    expect(await all('&sourceType=imap')).toEqual([]);
    expect(await all('&sourceType=upload')).toHaveLength(5);
    const one = (await all()).find((e) => e.item === 'test.xml')!;
    expect((await all(`&source=${encodeURIComponent(one.source)}`)).map((e) => e.item)).toEqual(['test.xml']);
    expect((await get(`/orgs/${org.slug}/ingest-log?outcome=lost`)).status).toBe(400);
  });

  it('keeps one entry per document when the same file comes again', async () => {
    const before = await all();
    h.clock.advance(60_000);
    const again = await upload(h, { key: writeKey }, org.slug, [part(SAMPLES.xml)]);
    expect(again.body.files[0].documents[0].outcome).toBe('duplicate');
    const after = await all();
    expect(after.map((e) => [e.id, e.outcome])).toEqual(before.map((e) => [e.id, e.outcome]));
  });

  it("shows nothing of another organisation's log, and no log to outsiders", async () => {
    const stranger = await signedIn(h, 'stranger@log.example');
    const other = await orgWith(h, 'Other Log', stranger);
    const theirs = await callApi(h, { browser: stranger.browser }, 'GET', `/orgs/${other.slug}/ingest-log`);
    expect(theirs.status).toBe(200);
    expect(theirs.body.items).toEqual([]);
    expect((await callApi(h, { browser: stranger.browser }, 'GET', `/orgs/${org.slug}/ingest-log`)).status).toBe(404);
    expect((await callApi(h, { key: await keyFor(h, other.id, 'admin') }, 'GET', `/orgs/${org.slug}/ingest-log`)).status).toBe(404);
  });
});
