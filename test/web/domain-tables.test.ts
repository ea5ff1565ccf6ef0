import { afterAll, beforeAll, expect, it } from 'vitest';
import { silentLogger } from '../../src/lib/logger.js';
import { refreshSourceEvidence } from '../../src/sources/evidence-job.js';
import { orgWith, signedIn, type Member } from '../api/harness.js';
import { openHarness, type Harness } from '../auth/harness.js';
import { storeReports } from '../helpers/aggregate-xml.js';
import { describeEachBackend } from '../helpers/db.js';

const decode = (text: string) => text.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const textOf = (html: string) => decode(html.replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ').trim();

const GOOGLE = '209.85.220.41';
const SENDGRID = '167.89.0.10';
const STRANGER = '198.51.100.7';
const SHOP_STRANGER = '203.0.113.9';
/** A receiver whose name is a spreadsheet formula: its CSV cell must not run. */
const FORMULA = '=SUM(1+1)';

interface Table {
  caption: string;
  /** Each body row's cells (row headers and data cells) as text. */
  rows: string[][];
  html: string;
}

/** The data tables of a page, in page order. */
function tablesOf(html: string): Table[] {
  return html
    .split('<div class="data-table"')
    .slice(1)
    .map((chunk) => {
      const end = chunk.indexOf('</table>') + '</table>'.length;
      const nav = chunk.slice(end).startsWith('<nav class="table-nav"') ? chunk.indexOf('</nav>', end) + '</nav>'.length : end;
      const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(chunk)?.[1] ?? '';
      return {
        caption: textOf(/<caption>([\s\S]*?)<\/caption>/.exec(chunk)?.[1] ?? ''),
        rows: [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) => [...row[1]!.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((cell) => textOf(cell[1]!))),
        html: `<div class="data-table"${chunk.slice(0, nav)}`,
      };
    });
}

function table(html: string, caption: string): Table {
  const found = tablesOf(html).find((t) => t.caption.startsWith(caption));
  if (!found) throw new Error(`no table "${caption}" in the page`);
  return found;
}

const columnOf = (t: Table, index: number) => t.rows.map((cells) => cells[index]!);

/** The href of a link by its text, decoded. */
function linkTo(html: string, text: string): string | undefined {
  const match = new RegExp(`<a href="([^"]+)"[^>]*>${text}<`).exec(html);
  return match ? decode(match[1]!) : undefined;
}

/** The sort link in a column header. */
function headerLink(html: string, label: string): string | undefined {
  const match = new RegExp(`<th scope="col"[^>]*><a href="([^"]+)">${label.replace(/[()]/g, '\\$&')}<`).exec(html);
  return match ? decode(match[1]!) : undefined;
}

/** RFC 4180 lines and cells. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += ch;
  }
  if (cell !== '' || row.length > 0) rows.push([...row, cell]);
  return rows;
}

const day = (text: string) => new Date(`${text}T00:00:00Z`);

describeEachBackend('the tables of the domain page', (backend) => {
  let h: Harness;
  let owner: Member;
  let path: string;
  let org: { id: number; slug: string };

  beforeAll(async () => {
    h = await openHarness(backend);
    owner = await signedIn(h, 'owner@tables.example');
    org = await orgWith(h, 'Tables Ltd', owner);
    path = `/o/${org.slug}/domains/tables.example`;
    // The test clock stands at 2026-03-02: the page shows February, the policy history the last 365 days.
    await storeReports(h.database.db, org.id, [
      { domain: 'tables.example', reportId: 'r0', reporter: 'google.com', begin: day('2025-12-01'), p: 'none', records: [{ ip: GOOGLE, count: 1, dkim: 'pass', spf: 'pass' }] },
      {
        domain: 'tables.example',
        reportId: 'r1',
        reporter: 'google.com',
        begin: day('2026-02-10'),
        p: 'none',
        records: [
          { ip: SENDGRID, count: 300, dkim: 'pass', spf: 'fail' },
          { ip: GOOGLE, count: 500, dkim: 'pass', spf: 'pass' },
        ],
      },
      {
        domain: 'tables.example',
        reportId: 'r2',
        reporter: 'google.com',
        begin: day('2026-02-20'),
        p: 'quarantine',
        records: [
          { ip: GOOGLE, count: 200, dkim: 'pass', spf: 'pass' },
          { ip: STRANGER, count: 40, dkim: 'fail', spf: 'fail', headerFrom: 'news.tables.example', disposition: 'quarantine' },
        ],
      },
      {
        domain: 'tables.example',
        reportId: 'r3',
        reporter: 'Yahoo',
        begin: day('2026-02-21'),
        p: 'quarantine',
        records: [
          { ip: SENDGRID, count: 100, dkim: 'pass', spf: 'fail', headerFrom: 'shop.tables.example' },
          { ip: SHOP_STRANGER, count: 5, dkim: 'fail', spf: 'fail', headerFrom: 'shop.tables.example', disposition: 'quarantine' },
        ],
      },
      { domain: 'tables.example', reportId: 'r4', reporter: FORMULA, begin: day('2026-02-25'), p: 'reject', records: [{ ip: GOOGLE, count: 10, dkim: 'pass', spf: 'pass' }] },
    ]);
    await h.database.db
      .insertInto('ip_enrichment')
      .values([
        { ip: GOOGLE, ptr_host: 'mail-sor-f41.google.com', ptr_confirmed: true, checked_at: day('2026-03-01'), next_check_at: day('2026-03-08') },
        { ip: SENDGRID, ptr_host: 'o1.ptr2041.sendgrid.net', ptr_confirmed: true, checked_at: day('2026-03-01'), next_check_at: day('2026-03-08') },
      ])
      .execute();
    await refreshSourceEvidence({ db: h.database.db, logger: silentLogger, clock: h.clock });
  }, 60_000);
  afterAll(() => h.close());

  const page = async (query = '') => {
    const response = await owner.browser.get(`${path}${query}`);
    expect(response.status).toBe(200);
    return response.text();
  };

  /** Each table's rows by its first column (the name of the row), keyed by the caption's first words. */
  const TABLES = {
    services: 'Sources grouped by service',
    sources: 'Sending sources',
    subdomains: 'From: domains under',
    reporters: 'Receivers that sent reports',
    policy: 'The policy receivers found',
  } as const;
  const DEFAULT_ORDER: Record<keyof typeof TABLES, string[]> = {
    services: ['Google Workspace / Gmail', 'SendGrid (Twilio)', 'Not identified'],
    sources: [GOOGLE, SENDGRID, STRANGER, SHOP_STRANGER],
    subdomains: ['tables.example', 'shop.tables.example', 'news.tables.example'],
    reporters: ['google.com', 'Yahoo', FORMULA],
    policy: ['p=none', 'p=quarantine', 'p=reject'],
  };
  const firstColumns = (html: string) => Object.fromEntries(Object.entries(TABLES).map(([key, caption]) => [key, columnOf(table(html, caption), 0)])) as Record<keyof typeof TABLES, string[]>;

  it('shows every table in its default order, with its numbers', async () => {
    const html = await page();
    expect(firstColumns(html)).toEqual(DEFAULT_ORDER);
    expect(table(html, TABLES.reporters).rows).toEqual([
      ['google.com', '2', '1,040', '2026-02-20'],
      ['Yahoo', '1', '105', '2026-02-21'],
      [FORMULA, '1', '10', '2026-02-25'],
    ]);
    expect(table(html, TABLES.subdomains).rows).toEqual([
      ['tables.example', '1,010', '100%'],
      ['shop.tables.example', '105', '95.2%'],
      ['news.tables.example', '40', '0%'],
    ]);
    expect(table(html, TABLES.policy).rows).toEqual([
      ['p=none', '2025-12-01', '2026-02-10', '2'],
      ['p=quarantine', '2026-02-20', '2026-02-21', '2'],
      ['p=reject', '2026-02-25', '2026-02-25', '1'],
    ]);
    expect(columnOf(table(html, TABLES.services), 3)).toEqual(['710', '400', '45']);
    expect(table(html, TABLES.reporters).caption).toBe('Receivers that sent reports, by the volume they saw');
    expect(table(html, TABLES.policy).caption).toBe('The policy receivers found in DNS, last 365 days, oldest first');
  });

  const SORTS: Array<{ table: keyof typeof TABLES; query: string; caption: string; expected: string[] }> = [
    { table: 'reporters', query: 'reporters.sort=lastReport&reporters.dir=desc', caption: 'by last report, descending', expected: [FORMULA, 'Yahoo', 'google.com'] },
    // Ties keep the default order (messages, most first).
    { table: 'reporters', query: 'reporters.sort=reports&reporters.dir=asc', caption: 'by reports, ascending', expected: ['Yahoo', FORMULA, 'google.com'] },
    { table: 'subdomains', query: 'subdomains.sort=pass&subdomains.dir=asc', caption: 'by dmarc pass, ascending', expected: ['news.tables.example', 'shop.tables.example', 'tables.example'] },
    { table: 'subdomains', query: 'subdomains.sort=domain&subdomains.dir=desc', caption: 'by from: domain, descending', expected: ['tables.example', 'shop.tables.example', 'news.tables.example'] },
    { table: 'policy', query: 'policy.sort=to&policy.dir=desc', caption: 'by last report, descending', expected: ['p=reject', 'p=quarantine', 'p=none'] },
    { table: 'policy', query: 'policy.sort=reports&policy.dir=asc', caption: 'by reports, ascending', expected: ['p=reject', 'p=none', 'p=quarantine'] },
    { table: 'services', query: 'services.sort=pass&services.dir=asc', caption: 'by dmarc pass, ascending', expected: ['Not identified', 'Google Workspace / Gmail', 'SendGrid (Twilio)'] },
    { table: 'services', query: 'services.sort=service&services.dir=desc', caption: 'by service, descending', expected: ['SendGrid (Twilio)', 'Not identified', 'Google Workspace / Gmail'] },
    { table: 'sources', query: 'sort=ip&dir=asc', caption: 'by source ip, ascending', expected: [SENDGRID, STRANGER, SHOP_STRANGER, GOOGLE] },
    { table: 'sources', query: 'sort=fail&dir=desc', caption: 'by fail, descending', expected: [STRANGER, SHOP_STRANGER, GOOGLE, SENDGRID] },
  ];

  it.each(SORTS)('sorts $table by $query, and leaves the other tables in their default order', async ({ table: name, query, caption, expected }) => {
    const html = await page(`?${query}`);
    expect(firstColumns(html)).toEqual({ ...DEFAULT_ORDER, [name]: expected });
    expect(table(html, TABLES[name]).caption).toContain(caption);
  });

  it('downloads each table as CSV and JSON: the rows shown, in the order shown, formulas neutralised', async () => {
    for (const { table: name, query } of SORTS) {
      const html = await page(`?${query}`);
      const shown = table(html, TABLES[name]);
      const csvLink = linkTo(shown.html, 'Download CSV');
      const jsonLink = linkTo(shown.html, 'Download JSON');
      expect(csvLink, name).toBe(`${path}?${query}&format=csv${name === 'sources' ? '' : `&table=${name}`}`);
      expect(jsonLink, name).toBe(`${path}?${query}&format=json${name === 'sources' ? '' : `&table=${name}`}`);

      const csvResponse = await owner.browser.get(csvLink!);
      expect(csvResponse.headers.get('content-type')).toContain('text/csv');
      expect(csvResponse.headers.get('content-disposition')).toMatch(new RegExp(`^attachment; filename="${name}-tables.example-\\d{4}-\\d{2}-\\d{2}-2026-03-02.csv"$`));
      const csv = parseCsv(await csvResponse.text());
      const firstCells = csv.slice(1).map((cells) => cells[0]!);
      // The CSV neutralises a leading "=" with a quote; the page shows the name as it is.
      expect(firstCells.map((cell) => (cell === `'${FORMULA}` ? FORMULA : cell)), name).toEqual(columnOf(shown, 0));
      expect(csv.slice(1).every((cells) => cells.length === csv[0]!.length)).toBe(true);

      const json = (await (await owner.browser.get(jsonLink!)).json()) as Array<Record<string, unknown>>;
      const firstKey = Object.keys(json[0]!)[0]!;
      expect(json.map((row) => row[firstKey]), name).toEqual(columnOf(shown, 0));
    }
  });

  it('keeps formulas from running, and numbers and unknowns plain, in the downloads', async () => {
    const csv = parseCsv(await (await owner.browser.get(`${path}?format=csv&table=reporters`)).text());
    expect(csv).toEqual([
      ['Receiver', 'Reports', 'Messages', 'Last report'],
      ['google.com', '2', '1040', '2026-02-20'],
      ['Yahoo', '1', '105', '2026-02-21'],
      [`'${FORMULA}`, '1', '10', '2026-02-25'],
    ]);
    const json = await (await owner.browser.get(`${path}?format=json&table=subdomains`)).json();
    expect(json).toEqual([
      { domain: 'tables.example', messages: 1010, pass: 100 },
      { domain: 'shop.tables.example', messages: 105, pass: 95.24 },
      { domain: 'news.tables.example', messages: 40, pass: 0 },
    ]);
    const policy = await (await owner.browser.get(`${path}?format=json&table=policy`)).json();
    expect(policy).toEqual([
      { policy: 'p=none', from: '2025-12-01', to: '2026-02-10', reports: 2 },
      { policy: 'p=quarantine', from: '2026-02-20', to: '2026-02-21', reports: 2 },
      { policy: 'p=reject', from: '2026-02-25', to: '2026-02-25', reports: 1 },
    ]);
    const services = (await (await owner.browser.get(`${path}?format=json&table=services`)).json()) as Array<{ service: string; sources: string }>;
    expect(services.map((g) => [g.service, g.sources])).toEqual([
      ['Google Workspace / Gmail', GOOGLE],
      ['SendGrid (Twilio)', SENDGRID],
      ['Not identified', `${STRANGER} ${SHOP_STRANGER}`],
    ]);
    expect((await owner.browser.get(`${path}?format=csv&table=nothing`)).status).toBe(404);
  });

  it("keeps the other tables' orders in each table's sort and page links, and leads back to the table", async () => {
    const html = await page('?reporters.sort=reporter&reporters.dir=asc&days=30');
    const subdomains = table(html, TABLES.subdomains);
    expect(subdomains.html).toContain('id="subdomains-table"');
    expect(headerLink(subdomains.html, 'Messages')).toBe(`${path}?reporters.sort=reporter&reporters.dir=asc&days=30&subdomains.sort=messages&subdomains.dir=asc#subdomains-table`);
    const reporters = table(html, TABLES.reporters);
    expect(reporters.html).toMatch(/<th scope="col" aria-sort="ascending"><a href="[^"]*">Receiver/);
    expect(headerLink(reporters.html, 'Receiver')).toBe(`${path}?reporters.sort=reporter&reporters.dir=desc&days=30#reporters-table`);
    // The sources table came first and keeps its plain keys.
    expect(headerLink(table(html, TABLES.sources).html, 'Host')).toBe(`${path}?reporters.sort=reporter&reporters.dir=asc&days=30&sort=host&dir=desc`);
    // A sort a table does not offer is its default order.
    expect(firstColumns(await page('?reporters.sort=nonsense&reporters.dir=asc&policy.sort=reporter'))).toEqual(DEFAULT_ORDER);
  });

  it('sorts without reading anything more than the plain page reads', async () => {
    await page();
    h.queries.entries = [];
    await page();
    const plain = [...h.queries.entries].sort();
    h.queries.entries = [];
    await page('?sort=ip&dir=asc&services.sort=kind&services.dir=asc&subdomains.sort=pass&reporters.sort=reporter&policy.sort=to');
    expect([...h.queries.entries].sort()).toEqual(plain);
  });

  it('shows the 50 runs of the policy first in its order when receivers disagree often, and downloads all of them', async () => {
    const flips = Array.from({ length: 60 }, (_, i) => ({
      domain: 'churn.example',
      reportId: `flip-${i}`,
      begin: new Date(day('2025-12-01').getTime() + i * 86_400_000),
      p: i % 2 === 0 ? ('none' as const) : ('reject' as const),
      records: [{ ip: GOOGLE, count: 1, dkim: 'pass' as const, spf: 'pass' as const }],
    }));
    await storeReports(h.database.db, org.id, flips);
    const churn = `/o/${org.slug}/domains/churn.example`;
    const html = await (await owner.browser.get(`${churn}?period=365`)).text();
    const shown = table(html, TABLES.policy);
    expect(shown.rows).toHaveLength(50);
    expect(columnOf(shown, 1)).toEqual(flips.slice(0, 50).map((f) => f.begin.toISOString().slice(0, 10)));
    expect(textOf(html)).toContain('50 of 60 runs are shown');
    const csv = parseCsv(await (await owner.browser.get(`${churn}?period=365&format=csv&table=policy`)).text());
    expect(csv.slice(1)).toHaveLength(60);
  });
});
