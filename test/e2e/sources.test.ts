import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { enrichDueSources } from '../../src/enrich/enrich-job.js';
import { createDnsResolver } from '../../src/lib/dns.js';
import { silentLogger } from '../../src/lib/logger.js';
import { refreshSourceEvidence } from '../../src/sources/evidence-job.js';
import { storeReports, type HandReport, utcDayBefore } from '../helpers/aggregate-xml.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { chromiumAvailable, launchChromium, signInThroughMail, startWebApp, watchConsole, screenshot, createOrganizationThroughForm, type WebApp } from './harness.js';

const SENDGRID = '167.89.0.10';
const FORWARDER = '209.85.220.41';
const SPOOFER = '198.51.100.23';

const daysAgo = (n: number) => utcDayBefore(new Date(), n);

function reports(): HandReport[] {
  return Array.from({ length: 14 }, (_, k) => ({
    domain: 'example.com',
    reportId: `src-${k + 1}`,
    begin: daysAgo(k + 1),
    p: 'none' as const,
    records: [
      { ip: SENDGRID, count: 300 + k * 5, dkim: 'pass' as const, spf: 'fail' as const, dkimResults: [{ domain: 'example.com', result: 'pass' }, { domain: 'sendgrid.net', result: 'pass' }], spfResults: [{ domain: 'em1.sendgrid.net', result: 'pass' }] },
      {
        ip: FORWARDER,
        count: 12,
        dkim: 'fail' as const,
        spf: 'fail' as const,
        dkimResults: [{ domain: 'example.com', result: 'fail' }],
        spfResults: [{ domain: 'lists.example.org', result: 'pass' }],
        reasons: [{ type: 'local_policy', comment: 'arc=pass as[1].d=google.com as[1].google.com=pass' }],
      },
      { ip: SPOOFER, count: 40 + (k % 3) * 10, dkim: 'fail' as const, spf: 'fail' as const, spfResults: [{ domain: 'bulk.example.net', result: 'pass' }] },
    ],
  }));
}

describe.runIf(chromiumAvailable())('sources in a real browser', () => {
  let web: WebApp;
  let browser: Browser;
  let dns: TestDnsServer;
  beforeAll(async () => {
    web = await startWebApp('pglite');
    browser = await launchChromium();
    dns = await startDnsServer();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await web?.close();
    await dns?.close();
  });

  it('groups a domain’s sources by service, explains a source, and authorises it with a note', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signInThroughMail(context, web, 'owner@example.com');
    const problems = watchConsole(page);
    await createOrganizationThroughForm(page, web, 'Example Ltd');
    const org = await web.database.db.selectFrom('organization').select('id').where('slug', '=', 'example-ltd').executeTakeFirstOrThrow();
    await storeReports(web.database.db, org.id, reports());

    dns.setPtr(SENDGRID, ['o1.ptr2041.sendgrid.net']);
    dns.set('o1.ptr2041.sendgrid.net', { a: [SENDGRID] });
    dns.setPtr(FORWARDER, ['mail-sor-f41.google.com']);
    dns.set('mail-sor-f41.google.com', { a: [FORWARDER] });
    dns.setPtr(SPOOFER, ['smtp.bulk.example.net']);
    dns.set('smtp.bulk.example.net', { a: ['192.0.2.1'] });
    const summary = await enrichDueSources({ db: web.database.db, resolver: createDnsResolver({ servers: [dns.address], timeoutMs: 300, tries: 1 }), logger: silentLogger });
    expect(summary).toEqual({ checked: 3, confirmed: 2, failed: 0 });

    // Until the evidence job has read the records, sources are being analysed, never suspicious.
    await page.goto(`${web.url}/o/example-ltd/domains/example.com`);
    const waiting = page.locator('table').filter({ hasText: 'Source IP' });
    await expect(waiting.locator('tr').filter({ hasText: SPOOFER }).textContent()).resolves.toContain('Being analysed');
    await expect(waiting.textContent()).resolves.not.toContain('Suspicious');
    expect(await refreshSourceEvidence({ db: web.database.db, logger: silentLogger })).toMatchObject({ domains: 1, sources: 3 });

    await page.goto(`${web.url}/o/example-ltd/domains/example.com`);
    const groups = page.locator('table').filter({ hasText: 'Sources grouped by service' });
    const groupRows = groups.locator('tbody tr');
    await expect(groupRows.count()).resolves.toBe(3);
    await expect(groupRows.nth(0).textContent()).resolves.toContain('SendGrid');
    await expect(groups.textContent()).resolves.toContain('Forwarded mail and mailing lists');
    await expect(groups.textContent()).resolves.toContain('Not identified');
    const sources = page.locator('table').filter({ hasText: 'Source IP' });
    await expect(sources.locator('tr').filter({ hasText: SPOOFER }).textContent()).resolves.toContain('Suspicious');
    await expect(sources.locator('tr').filter({ hasText: FORWARDER }).textContent()).resolves.toContain('Forwarded or mailing list');

    await sources.getByRole('link', { name: SPOOFER }).click();
    await page.getByRole('heading', { name: `Source ${SPOOFER}`, level: 1 }).waitFor();
    await expect(page.getByRole('status').textContent()).resolves.toContain('Suspicious');
    await expect(page.getByText('smtp.bulk.example.net (not confirmed').isVisible()).resolves.toBe(true);
    await expect(page.locator('#source-daily svg rect.series-fail').count()).resolves.toBeGreaterThan(10);
    await expect(page.locator('table').filter({ hasText: 'Aggregate reports listing' }).locator('tbody tr').count()).resolves.toBe(14);

    await page.getByLabel('Note').fill('Our old bulk mail server, being moved');
    await page.getByRole('button', { name: 'Authorise' }).click();
    await page.waitForURL(new RegExp(`/sources/${SPOOFER.replace(/\./g, '\\.')}$`));
    await expect(page.getByRole('status').textContent()).resolves.toContain('Authorised by a member of this organisation: Our old bulk mail server, being moved');
    await expect(page.getByText('Authorised by owner@example.com').isVisible()).resolves.toBe(true);
    await screenshot(page, 'source');

    // Back on the domain page the source now counts as authorised; undo is one click away.
    await page.goto(`${web.url}/o/example-ltd/domains/example.com`);
    await expect(page.locator('table').filter({ hasText: 'Source IP' }).locator('tr').filter({ hasText: SPOOFER }).textContent()).resolves.toContain('Authorised');
    await page.goto(`${web.url}/o/example-ltd/sources/${SPOOFER}`);
    await page.getByRole('button', { name: 'Undo the decision' }).click();
    await expect(page.getByRole('status').textContent()).resolves.toContain('Suspicious');

    // On a phone the page still fits.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow).toBeLessThanOrEqual(1);

    expect(problems).toEqual([]);
    await context.close();
  });
});
