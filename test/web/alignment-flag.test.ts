import { afterAll, beforeAll, expect, it } from 'vitest';
import { orgWith, signedIn } from '../api/harness.js';
import { openHarness, type Harness } from '../auth/harness.js';
import { storeReports } from '../helpers/aggregate-xml.js';
import { describeEachBackend } from '../helpers/db.js';

describeEachBackend("a report's records checked against their own auth results", (backend) => {
  let h: Harness;
  beforeAll(async () => {
    h = await openHarness(backend);
  });
  afterAll(() => h.close());

  it('flags a record whose reported DKIM pass has no aligned passing signature, and agrees with the others', async () => {
    const owner = await signedIn(h, 'owner@align.example');
    const org = await orgWith(h, 'Align', owner);
    await storeReports(h.database.db, org.id, [
      {
        domain: 'example.com',
        reportId: 'align-1',
        begin: new Date('2026-03-01T00:00:00Z'),
        records: [
          // The reporter says DKIM passed, but the only passing signature is a third party's.
          { ip: '192.0.2.1', count: 3, dkim: 'pass', spf: 'fail', dkimResults: [{ domain: 'esp.example.net', result: 'pass' }], spfResults: [{ domain: 'esp.example.net', result: 'pass', scope: 'mfrom' }] },
          { ip: '192.0.2.2', count: 5, dkim: 'pass', spf: 'pass' },
        ],
      },
    ]);
    const report = await h.database.db.selectFrom('aggregate_report').select('id').where('external_id', '=', 'align-1').executeTakeFirstOrThrow();
    const page = await owner.browser.get(`/o/${org.slug}/reports/aggregate/${report.id}`);
    expect(page.status).toBe(200);
    const html = await page.text();
    const rows = html.split('<tr>').filter((row) => row.includes('<code class="ip">'));
    expect(rows).toHaveLength(2);
    expect(rows.find((r) => r.includes('192.0.2.1'))).toContain('Disagrees');
    expect(rows.find((r) => r.includes('192.0.2.2'))).toContain('agrees (DMARC pass)');
    expect(rows.find((r) => r.includes('192.0.2.2'))).not.toContain('Disagrees');
  });
});
