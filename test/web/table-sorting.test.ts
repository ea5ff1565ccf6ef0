import { keysetOrder } from '../helpers/keyset-order.js';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAuditEvent } from '../../src/audit/record.js';
import { createApiKey } from '../../src/auth/api-keys.js';
import { keyFor, orgWith, signedIn, type Member } from '../api/harness.js';
import { openHarness, type Harness } from '../auth/harness.js';
import { ingestExtracted } from '../../src/ingest/ingest-extracted.js';
import { silentLogger } from '../../src/lib/logger.js';
import { extractBytes } from '../../src/reports/extract/index.js';
import { DEFAULT_LIMITS } from '../../src/reports/types.js';
import { storeReports } from '../helpers/aggregate-xml.js';
import { describeEachBackend } from '../helpers/db.js';

const decode = (text: string) => text.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const textOf = (html: string) => decode(html.replace(/<[^>]+>/g, '')).trim();

/** The cells of the first table's body, row by row, as text. */
function bodyCells(html: string): string[][] {
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(html)?.[1] ?? '';
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) => [...row[1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((cell) => textOf(cell[1]!)));
}

/** One column of the first table, top to bottom. */
const column = (html: string, index: number) => bodyCells(html).map((cells) => cells[index]!);

/** The href of a link by its text, decoded. */
function linkTo(html: string, text: string): string | undefined {
  const match = new RegExp(`<a href="([^"]+)"[^>]*>${text}`).exec(html);
  return match ? decode(match[1]!) : undefined;
}

/** The sort link in a column header. */
const headerLink = (html: string, label: string) => {
  const match = new RegExp(`<th scope="col"[^>]*><a href="([^"]+)">${label}<`).exec(html);
  return match ? decode(match[1]!) : undefined;
};


describeEachBackend('sorting, paging and downloading the tables', (backend) => {
  let h: Harness;
  let owner: Member;
  let admin: Member;
  let viewer: Member;
  let org: { id: number; slug: string };

  beforeAll(async () => {
    h = await openHarness(backend);
    owner = await signedIn(h, 'owner@sorting.example');
    admin = await signedIn(h, 'admin@sorting.example');
    viewer = await signedIn(h, 'viewer@sorting.example');
    org = await orgWith(h, 'Sorting Ltd', owner, [
      { member: admin, role: 'admin' },
      { member: viewer, role: 'viewer' },
    ]);
  }, 60_000);
  afterAll(() => h.close());

  describe('the ingest log', () => {
    const kinds = ['aggregate', 'tlsrpt', 'failure'];
    const outcomes = ['stored', 'refused', 'duplicate', 'not_a_report'];
    let rows: Array<{ id: number; item: string; kind: string | null; outcome: string }>;

    beforeAll(async () => {
      for (let i = 0; i < 60; i++) {
        await h.database.db
          .insertInto('ingest_log')
          .values({
            org_id: org.id,
            source: `file:/reports/${i % 4}.xml`,
            item: `doc-${String((i * 37) % 60).padStart(2, '0')}`,
            kind: i % 3 === 0 ? null : kinds[i % 3]!,
            outcome: outcomes[i % 4]!,
            first_seen_at: sql<Date>`${`2026-03-01T10:00:00.${String(100 + (i % 7)).padStart(3, '0')}Z`}::timestamptz`,
          })
          .execute();
      }
      rows = await h.database.db.selectFrom('ingest_log').select(['id', 'item', 'kind', 'outcome']).where('org_id', '=', org.id).execute();
    });

    const items = (list: typeof rows) => list.map((r) => r.item);
    const ITEM = 5;

    it('sorts by a column across pages, NULLs last, and marks the column', async () => {
      const expected = items(keysetOrder(rows, (r) => r.kind, (r) => r.id, 'asc'));
      const first = await (await owner.browser.get(`/o/${org.slug}/ingest-log?sort=kind&dir=asc`)).text();
      expect(column(first, ITEM)).toEqual(expected.slice(0, 50));
      expect(first).toContain('Documents, by kind, ascending');
      expect(first).toMatch(/<th scope="col" aria-sort="ascending"><a href="[^"]*">Kind/);
      const next = linkTo(first, 'Next page');
      expect(next).toMatch(/sort=kind&dir=asc&cursor=/);
      const second = await (await owner.browser.get(next!)).text();
      expect(column(second, ITEM)).toEqual(expected.slice(50));
      expect(linkTo(second, 'Next page')).toBeUndefined();

      // The other way round: still NULLs last, ties newest id first.
      const desc = await (await owner.browser.get(`/o/${org.slug}/ingest-log?sort=kind&dir=desc`)).text();
      expect(column(desc, ITEM)).toEqual(items(keysetOrder(rows, (r) => r.kind, (r) => r.id, 'desc')).slice(0, 50));
    });

    it('keeps the filters in the sort links and the sort in the filter form', async () => {
      const page = await (await owner.browser.get(`/o/${org.slug}/ingest-log?outcome=refused&sort=item&dir=desc`)).text();
      expect(column(page, ITEM)).toEqual(items(keysetOrder(rows.filter((r) => r.outcome === 'refused'), (r) => r.item, (r) => r.id, 'desc')));
      for (const label of ['First seen', 'Outcome', 'Kind', 'Item', 'Last seen']) expect(headerLink(page, label), label).toContain('outcome=refused');
      expect(headerLink(page, 'Item')).toMatch(/sort=item&dir=asc$/);
      expect(page).toContain('<input type="hidden" name="sort" value="item"/>');
      expect(page).toContain('<input type="hidden" name="dir" value="desc"/>');
    });

    it('falls back to the default order, newest first, for a sort it does not offer', async () => {
      const plain = await (await owner.browser.get(`/o/${org.slug}/ingest-log`)).text();
      const bogus = await (await owner.browser.get(`/o/${org.slug}/ingest-log?sort=problem_code&dir=asc`)).text();
      expect(column(bogus, ITEM)).toEqual(column(plain, ITEM));
      expect(bogus).toContain('Documents, newest first');
      expect(bogus).not.toContain('name="sort"');
    });

    it('downloads in the order shown, every page', async () => {
      const expected = items(keysetOrder(rows, (r) => r.kind, (r) => r.id, 'asc'));
      const json = (await (await owner.browser.get(`/o/${org.slug}/ingest-log?sort=kind&dir=asc&format=json`)).json()) as Array<{ item: string }>;
      expect(json.map((r) => r.item)).toEqual(expected);
      const csv = (await (await owner.browser.get(`/o/${org.slug}/ingest-log?sort=kind&dir=asc&outcome=stored&format=csv`)).text()).trim().split('\r\n');
      expect(csv.slice(1).map((line) => line.split(',')[ITEM])).toEqual(items(keysetOrder(rows.filter((r) => r.outcome === 'stored'), (r) => r.kind, (r) => r.id, 'asc')));
      expect(csv.slice(1).map((line) => line.split(',')[1])).toEqual(csv.slice(1).map(() => 'stored'));
    });

    it('says a page link is out of date when its cursor does not fit the order', async () => {
      const first = await (await owner.browser.get(`/o/${org.slug}/ingest-log`)).text();
      const cursor = new URL(`http://x${linkTo(first, 'Next page')}`).searchParams.get('cursor');
      expect((await owner.browser.get(`/o/${org.slug}/ingest-log?sort=kind&dir=asc&cursor=${cursor}`)).status).toBe(200);
      const stale = await owner.browser.get(`/o/${org.slug}/ingest-log?sort=lastSeen&dir=asc&cursor=${Buffer.from('[7, 1]').toString('base64url')}`);
      expect(stale.status).toBe(400);
      expect(await stale.text()).toContain('This page link is out of date');
    });
  });

  it("sorts a report's records across pages, and downloads them in that order", async () => {
    const records = Array.from({ length: 230 }, (_, i) => ({
      ip: `198.51.${Math.floor(i / 200)}.${i % 200}`,
      count: [3, 1, 7, 3, 1][i % 5]!,
      dkim: i % 2 === 0 ? ('pass' as const) : ('fail' as const),
      spf: 'fail' as const,
    }));
    await storeReports(h.database.db, org.id, [{ domain: 'records.example', reportId: 'records-1', begin: new Date('2026-02-01T00:00:00Z'), records }]);
    const report = await h.database.db.selectFrom('aggregate_report').select('id').where('org_id', '=', org.id).where('external_id', '=', 'records-1').executeTakeFirstOrThrow();
    const indexed = records.map((r, ordinal) => ({ ...r, ordinal }));
    const expected = keysetOrder(indexed, (r) => r.count, (r) => r.ordinal, 'desc').map((r) => r.ip);

    const path = `/o/${org.slug}/reports/aggregate/${report.id}`;
    let page = await (await owner.browser.get(`${path}?sort=count&dir=desc`)).text();
    expect(page).toContain('Records, by messages, descending (230 records)');
    const shown: string[] = [];
    for (let pages = 0; pages < 5; pages++) {
      shown.push(...column(page, 0));
      const next = linkTo(page, 'Next page');
      if (!next) break;
      expect(next).toContain('sort=count&dir=desc');
      page = await (await owner.browser.get(next)).text();
    }
    expect(shown).toEqual(expected);

    const csv = (await (await owner.browser.get(`${path}?sort=count&dir=desc&format=csv`)).text()).trim().split('\r\n');
    expect(csv.slice(1).map((line) => line.split(',')[0])).toEqual(expected);
    const byVerdict = (await (await owner.browser.get(`${path}?sort=dmarc&dir=asc&format=json`)).json()) as Array<{ dmarc: string }>;
    expect(byVerdict.map((r) => r.dmarc)).toEqual([...Array<string>(115).fill('fail'), ...Array<string>(115).fill('pass')]);

    // Unknown sort: the report's own order.
    const plain = await (await owner.browser.get(`${path}?sort=reasons&dir=desc`)).text();
    expect(column(plain, 0).slice(0, 3)).toEqual(['198.51.0.0', '198.51.0.1', '198.51.0.2']);
    expect(decode(plain)).toContain("Records, in the report's order");
    expect(headerLink(plain, 'Reasons')).toBeUndefined();
  });

  it("sorts a TLS report's failure details (few: sorted in memory), in the report's order by default", async () => {
    const failure = (type: string, sessions: number, ip: string) => ({ 'result-type': type, 'sending-mta-ip': ip, 'receiving-mx-hostname': 'mx.sorting.example', 'failed-session-count': sessions });
    const report = {
      'organization-name': 'Sorting Receiver',
      'date-range': { 'start-datetime': '2026-02-01T00:00:00Z', 'end-datetime': '2026-02-01T23:59:59Z' },
      'contact-info': 'tls@receiver.example',
      'report-id': 'tls-sorting-1',
      policies: [
        {
          policy: { 'policy-type': 'sts', 'policy-domain': 'sorting.example', 'mx-host': ['mx.sorting.example'] },
          summary: { 'total-successful-session-count': 10, 'total-failure-session-count': 9 },
          'failure-details': [failure('certificate-expired', 2, '192.0.2.3'), failure('starttls-not-supported', 5, '192.0.2.1'), failure('validation-failure', 2, '192.0.2.2')],
        },
      ],
    };
    const extracted = await extractBytes(Buffer.from(JSON.stringify(report)), 'tls-sorting-1.json');
    const outcomes = await ingestExtracted({ db: h.database.db, orgId: org.id, source: 'test:tls-sorting-1', limits: DEFAULT_LIMITS, keepFailureHeaders: true, logger: silentLogger }, extracted);
    expect(outcomes.map((o) => o.outcome)).toEqual(['stored']);
    const stored = await h.database.db.selectFrom('tls_report').select('id').where('org_id', '=', org.id).where('external_id', '=', 'tls-sorting-1').executeTakeFirstOrThrow();
    const path = `/o/${org.slug}/reports/tls/${stored.id}`;
    const ips = async (query: string) => column(await (await owner.browser.get(`${path}${query}`)).text(), 2);
    expect(await ips('')).toEqual(['192.0.2.3', '192.0.2.1', '192.0.2.2']);
    expect(await ips('?sort=sessions&dir=desc')).toEqual(['192.0.2.1', '192.0.2.3', '192.0.2.2']);
    expect(await ips('?sort=sendingMtaIp&dir=asc')).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    expect(await ips('?sort=additionalInformation&dir=asc')).toEqual(['192.0.2.3', '192.0.2.1', '192.0.2.2']);
  });

  it('sorts the members, keeps the notice out of its links, and downloads in the same order', async () => {
    const page = await (await owner.browser.get(`/o/${org.slug}/settings/members?sort=role&dir=desc&done=role`)).text();
    expect(column(page, 0).map((cell) => cell.replace(' (you)', ''))).toEqual(['owner@sorting.example', 'admin@sorting.example', 'viewer@sorting.example']);
    expect(page).toContain('Role changed.');
    expect(headerLink(page, 'Role')).toBe(`/o/${org.slug}/settings/members?sort=role&dir=asc`);
    const json = (await (await owner.browser.get(`/o/${org.slug}/settings/members?sort=role&dir=asc&format=json`)).json()) as Array<{ email: string }>;
    expect(json.map((m) => m.email)).toEqual(['viewer@sorting.example', 'admin@sorting.example', 'owner@sorting.example']);
    // A refused change answers with the members page: its links still lead to the members page.
    await admin.browser.get(`/o/${org.slug}/settings/members`);
    const refused = await admin.browser.post(`/o/${org.slug}/settings/members/${owner.userId}/role`, { role: 'viewer' });
    expect(refused.status).toBe(403);
    const refusedPage = await refused.text();
    expect(headerLink(refusedPage, 'Role')).toBe(`/o/${org.slug}/settings/members?sort=role&dir=desc`);
    expect(linkTo(refusedPage, 'Download CSV')).toBe(`/o/${org.slug}/settings/members?format=csv`);
    const fallback = await (await owner.browser.get(`/o/${org.slug}/settings/members?sort=actions&dir=desc`)).text();
    expect(column(fallback, 0).map((cell) => cell.replace(' (you)', ''))).toEqual(['admin@sorting.example', 'owner@sorting.example', 'viewer@sorting.example']);
  });

  it('sorts API keys and pending invitations, and downloads them in that order', async () => {
    for (const name of ['charlie', 'alpha', 'bravo']) {
      await createApiKey(h.database.db, { orgId: org.id, actor: { type: 'system', id: 'test' }, ip: null, now: h.clock(), name, scope: name === 'alpha' ? 'admin' : 'read', expiresAt: null });
    }
    await keyFor(h, org.id, 'write');
    const keys = await (await admin.browser.get(`/o/${org.slug}/settings/api-keys?sort=name&dir=asc`)).text();
    expect(column(keys, 0)).toEqual(['alpha', 'bravo', 'charlie', 'write key']);
    const byScope = (await (await admin.browser.get(`/o/${org.slug}/settings/api-keys?sort=scope&dir=desc&format=json`)).json()) as Array<{ name: string }>;
    // Ties (two read keys) newest first, like the order asked for.
    expect(byScope.map((k) => k.name)).toEqual(['alpha', 'write key', 'bravo', 'charlie']);

    for (const email of ['zed@sorting.example', 'amy@sorting.example', 'max@sorting.example']) {
      expect((await admin.browser.post(`/o/${org.slug}/settings/invitations`, { email, role: 'member' })).status).toBe(303);
    }
    const invitations = await (await admin.browser.get(`/o/${org.slug}/settings/invitations?sort=email&dir=asc`)).text();
    expect(column(invitations, 0)).toEqual(['amy@sorting.example', 'max@sorting.example', 'zed@sorting.example']);
    const csv = (await (await admin.browser.get(`/o/${org.slug}/settings/invitations?sort=email&dir=desc&format=csv`)).text()).trim().split('\r\n');
    expect(csv.slice(1).map((line) => line.split(',')[0])).toEqual(['zed@sorting.example', 'max@sorting.example', 'amy@sorting.example']);
  });

  it('sorts the audit log with its filter kept, and downloads the events in that order', async () => {
    for (const [i, action] of ['zone.check', 'alpha.check', 'zone.check', 'alpha.check'].entries()) {
      await recordAuditEvent(h.database.db, { orgId: org.id, actor: { type: 'system', id: 'test' }, action, target: { type: 'domain', id: 9 - i }, ip: null });
    }
    const events = await h.database.db.selectFrom('audit_event').select(['seq', 'action', 'target_id']).where('org_id', '=', org.id).where('action', 'like', '%.check').execute();
    const page = await (await owner.browser.get(`/o/${org.slug}/audit?action=zone.check&sort=target&dir=asc`)).text();
    expect(column(page, 4)).toEqual(['domain 7', 'domain 9']);
    expect(headerLink(page, 'Action')).toContain('action=zone.check');
    const json = (await (await owner.browser.get(`/o/${org.slug}/audit?sort=action&dir=asc&format=json`)).json()) as Array<{ seq: number; action: string }>;
    const ours = json.filter((e) => e.action.endsWith('.check'));
    expect(ours.map((e) => e.seq)).toEqual(keysetOrder(events, (e) => e.action, (e) => Number(e.seq), 'asc').map((e) => Number(e.seq)));
    expect(json.map((e) => e.action)).toEqual([...json.map((e) => e.action)].sort());
  });

  it('sorts the sessions of the account, and downloads them in that order', async () => {
    const agents = [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
    ];
    for (const userAgent of agents) await h.signIn('owner@sorting.example', { userAgent });
    const page = await (await owner.browser.get('/settings/sessions?sort=device&dir=asc')).text();
    const devices = column(page, 0).map((cell) => cell.replace(/\s+this browser$/, ''));
    expect(devices).toEqual(['Chrome on Windows', 'Firefox on Linux', 'Safari on macOS']);
    expect(page).toContain('Active sessions, by device, ascending');
    expect(bodyCells(page).filter((cells) => cells[0]!.endsWith('this browser'))).toHaveLength(1);
    const csv = (await (await owner.browser.get('/settings/sessions?sort=device&dir=desc&format=csv')).text()).trim().split('\r\n');
    expect(csv[0]).toBe('Device,IP address,Signed in,Last seen');
    expect(csv.slice(1).map((line) => line.split(',')[0])).toEqual(['Safari on macOS', 'Firefox on Linux', 'Chrome on Windows']);
    const fallback = await (await owner.browser.get('/settings/sessions?sort=action')).text();
    expect(fallback).toContain('Active sessions, most recently used first');
  });
});
