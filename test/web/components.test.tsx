import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { niceMax, Sparkline, StackedBars } from '../../src/web/components/charts.js';
import { csvCell, tableDownload, type Column } from '../../src/web/components/data-table.js';

const html = (node: unknown) => String(node);

describe('charts', () => {
  it('rounds the axis up to 1, 2 or 5 times a power of ten', () => {
    expect([0, 1, 3, 7, 12, 180, 2_400, 51_000].map(niceMax)).toEqual([1, 1, 5, 10, 20, 200, 5_000, 100_000]);
  });

  it('draws one rectangle per non-zero value, and the numbers behind the chart in a table', () => {
    const out = html(
      <StackedBars
        id="t"
        title="DMARC results"
        unit="messages"
        labels={['2026-03-01', '2026-03-02', '2026-03-03']}
        series={[
          { key: 'pass', label: 'Pass', values: [90, 0, 40] },
          { key: 'fail', label: 'Fail', values: [10, 0, 0] },
        ]}
      />,
    );
    expect(out.match(/<rect /g)).toHaveLength(3);
    expect(out).toContain('class="series-fail"');
    expect(out).toContain('aria-labelledby="t-title"');
    // The table row for the first day has both values and the total.
    expect(out).toMatch(/2026-03-01<\/th><td class="num">90<\/td><td class="num">10<\/td><td class="num">100<\/td>/);
    // Bars are scaled to the rounded maximum (100): the 90 bar is 90% of the plot height.
    const heights = [...out.matchAll(/<rect [^>]*height="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(heights[0]! / (heights[0]! + heights[1]!)).toBeCloseTo(0.9, 5);
  });

  it('leaves a gap for days without data instead of drawing zero', () => {
    const out = html(<Sparkline values={[1, 0.5, null, 1]} label="pass rate" max={1} />);
    expect(out.match(/<path /g)).toHaveLength(2);
  });
});

describe('table downloads', () => {
  it('neutralises spreadsheet formulas and quotes what needs quoting', () => {
    expect(csvCell('=HYPERLINK("http://evil")')).toBe(`"'=HYPERLINK(""http://evil"")"`);
    expect(csvCell('+1')).toBe("'+1");
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell(-5)).toBe('-5');
    expect(csvCell(null)).toBe('');
  });

  it('answers CSV and JSON with a safe file name', async () => {
    const columns: Column<{ ip: string; n: number }>[] = [
      { key: 'ip', label: 'Source IP', value: (r) => r.ip },
      { key: 'n', label: 'Messages', value: (r) => r.n, numeric: true },
    ];
    const rows = [
      { ip: '192.0.2.1', n: 5 },
      { ip: '2001:db8::1', n: 7 },
    ];
    const app = new Hono();
    app.get('/:format', (c) => tableDownload(c, 'sources example.com"', c.req.param('format') as 'csv' | 'json', columns, rows));
    const csv = await app.request('/csv');
    expect(csv.headers.get('content-disposition')).toBe('attachment; filename="sources-example.com-.csv"');
    expect(await csv.text()).toBe('Source IP,Messages\r\n192.0.2.1,5\r\n2001:db8::1,7\r\n');
    const json = await app.request('/json');
    expect(await json.json()).toEqual([
      { ip: '192.0.2.1', n: 5 },
      { ip: '2001:db8::1', n: 7 },
    ]);
  });
});
