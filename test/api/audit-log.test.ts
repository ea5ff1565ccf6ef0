import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { exportAuditJsonl } from '../../src/audit/export.js';
import { recordAuditEvent } from '../../src/audit/record.js';
import { PUBLIC_URL, openHarness, type Harness } from '../auth/harness.js';
import { describeEachBackend } from '../helpers/db.js';
import { callApi, keyFor, orgWith, signedIn, type Member } from './harness.js';

async function collect(lines: AsyncIterable<string>): Promise<string> {
  let text = '';
  for await (const line of lines) text += line;
  return text;
}

describeEachBackend('audit log API', (backend) => {
  let h: Harness;
  let owner: Member;
  let admin: Member;
  let member: Member;
  let org: { id: number; slug: string };
  let adminKey: string;

  const exportText = async (query: string, key = adminKey) => {
    const response = await h.app.request(`${PUBLIC_URL}/api/v1/orgs/${org.slug}/audit-log/export${query}`, { headers: { authorization: `Bearer ${key}` } }, { incoming: { socket: { remoteAddress: '198.51.100.7' } } });
    return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
  };
  const seqs = (text: string) => text.trimEnd().split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { seq: number }).seq);

  beforeAll(async () => {
    h = await openHarness(backend, { DMARCWATCH_API_RATE_LIMIT: '100000' });
    owner = await signedIn(h, 'owner@audit.example');
    admin = await signedIn(h, 'admin@audit.example');
    member = await signedIn(h, 'member@audit.example');
    org = await orgWith(h, 'Audit Inc', owner, [
      { member: admin, role: 'admin' },
      { member, role: 'member' },
    ]);
    adminKey = await keyFor(h, org.id, 'admin');
    for (let i = 0; i < 7; i++) {
      await recordAuditEvent(h.database.db, { orgId: org.id, actor: { type: 'user', id: owner.userId }, action: 'test.step', target: { type: 'step', id: i }, summary: { step: i, token: 'secret-value' } });
    }
  }, 60_000);
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  it('pages the trail newest first for admins, with hashes and no secrets', async () => {
    const first = await callApi(h, { browser: admin.browser }, 'GET', `/orgs/${org.slug}/audit-log?limit=3`);
    expect(first.status).toBe(200);
    const collected = [...first.body.items];
    let cursor = first.body.nextCursor;
    while (cursor) {
      const page = await callApi(h, { key: adminKey }, 'GET', `/orgs/${org.slug}/audit-log?limit=3&cursor=${cursor}`);
      collected.push(...page.body.items);
      cursor = page.body.nextCursor;
    }
    const seqList = collected.map((e: { seq: number }) => e.seq);
    expect(seqList).toEqual([...seqList].sort((a, b) => b - a));
    expect(seqList[seqList.length - 1]).toBe(1);
    expect(new Set(seqList).size).toBe(seqList.length);
    const step = collected.find((e: { action: string; target: { id: string } | null }) => e.action === 'test.step' && e.target?.id === '6');
    expect(step).toMatchObject({ actor: { type: 'user', id: String(owner.userId) }, target: { type: 'step', id: '6' }, summary: { step: 6, token: '[redacted]' }, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // Each event's prevHash is the hash of the one before it.
    for (let i = 0; i < collected.length - 1; i++) expect(collected[i].prevHash).toBe(collected[i + 1].hash);
    expect(JSON.stringify(collected)).not.toContain('secret-value');

    const filtered = await callApi(h, { key: adminKey }, 'GET', `/orgs/${org.slug}/audit-log?action=test.step&limit=200`);
    expect(filtered.body.items).toHaveLength(7);
  });

  it('refuses members, viewers of other organisations and non-admin keys', async () => {
    const asMember = await callApi(h, { browser: member.browser }, 'GET', `/orgs/${org.slug}/audit-log`);
    expect(asMember.status).toBe(403);
    expect((await callApi(h, { browser: member.browser }, 'GET', `/orgs/${org.slug}/audit-log/export`)).status).toBe(403);
    expect((await exportText('', await keyFor(h, org.id, 'write'))).status).toBe(403);
    const stranger = await signedIn(h, 'stranger@audit.example');
    const other = await orgWith(h, 'Other Audit', stranger);
    expect((await callApi(h, { browser: stranger.browser }, 'GET', `/orgs/${org.slug}/audit-log`)).status).toBe(404);
    expect((await exportText('', await keyFor(h, other.id, 'admin'))).status).toBe(404);
    // Their own trail holds nothing of ours.
    const theirs = await callApi(h, { browser: stranger.browser }, 'GET', `/orgs/${other.slug}/audit-log?limit=200`);
    expect(theirs.body.items.every((e: { action: string }) => e.action !== 'test.step')).toBe(true);
  });

  it('exports JSON lines identical to the CLI exporter, and resumes with after and since', async () => {
    const full = await exportText('');
    expect(full.status).toBe(200);
    expect(full.type).toBe('application/x-ndjson; charset=utf-8');
    expect(full.text).toBe(await collect(exportAuditJsonl(h.database.db, org.id)));
    const all = seqs(full.text);
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));

    const firstPart = await exportText('?limit=4');
    expect(seqs(firstPart.text)).toEqual([1, 2, 3, 4]);
    const rest = await exportText(`?after=${seqs(firstPart.text).pop()}`);
    expect(firstPart.text + rest.text).toBe(full.text);
    expect(await exportText(`?after=${all.length}`)).toMatchObject({ status: 200, text: '' });

    // New events after a resume point arrive on the next run.
    await recordAuditEvent(h.database.db, { orgId: org.id, actor: { type: 'system', id: 'test' }, action: 'test.later' });
    const next = await exportText(`?after=${all.length}`);
    expect(next.text.split('\n').filter(Boolean).map((l) => JSON.parse(l).action)).toEqual(['test.later']);

    const lines = full.text.trimEnd().split('\n').map((l) => JSON.parse(l) as { seq: number; created_at: string });
    const from = lines[5]!;
    const since = await exportText(`?since=${encodeURIComponent(from.created_at)}`);
    expect(seqs(since.text)[0]).toBeLessThanOrEqual(from.seq);
    expect(seqs(since.text)).toContain(from.seq);
    expect(seqs(since.text).pop()).toBe(all.length + 1);

    expect((await exportText('?after=1&since=2026-01-01T00:00:00Z')).status).toBe(400);
    expect((await exportText('?after=-1')).status).toBe(400);
  });
});
