import fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { silentLogger } from '../../src/lib/logger.js';
import { refreshSourceEvidence } from '../../src/sources/evidence-job.js';
import { storeReports, type HandReport, utcDayBefore } from '../helpers/aggregate-xml.js';
import { chromiumAvailable, signInThroughMail, watchConsole, screenshot, createOrganizationThroughForm, useWebAppAndBrowser, type WebApp } from './harness.js';

const daysAgo = (n: number) => utcDayBefore(new Date(), n);

/** Three weeks of reports for two domains: a healthy one, and one with a spoofing source. */
function reports(): HandReport[] {
  const out: HandReport[] = [];
  for (let i = 1; i <= 21; i += 1) {
    out.push({
      domain: 'example.com',
      reportId: `g-${i}`,
      begin: daysAgo(i),
      p: 'quarantine',
      records: [
        { ip: '209.85.220.41', count: 400 + i * 10, dkim: 'pass', spf: 'pass' },
        { ip: '198.51.100.23', count: 100, dkim: 'fail', spf: 'fail', disposition: 'quarantine' },
      ],
    });
    out.push({ domain: 'shop.example', reportId: `y-${i}`, reporter: 'Yahoo', begin: daysAgo(i), p: 'none', records: [{ ip: '192.0.2.10', count: 50, dkim: 'pass', spf: 'pass' }] });
    if (i % 7 === 0) out.push({ domain: 'example.com', reportId: `ye-${i}`, reporter: 'Yahoo', begin: daysAgo(i), p: 'quarantine', records: [{ ip: '209.85.220.41', count: 30, dkim: 'pass', spf: 'pass' }] });
  }
  return out;
}

describe.runIf(chromiumAvailable())('the dashboard in a real browser', () => {
  const app = useWebAppAndBrowser();
  let web: WebApp;
  let browser: Browser;
  beforeAll(() => {
    web = app.web();
    browser = app.browser();
  });

  it('onboards a new person, then answers "who sends as my domain, and does it pass?"', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const page = await signInThroughMail(context, web, 'owner@example.com');
    const problems = watchConsole(page);

    // A new organisation (the first person on an instance also owns its default one).
    await createOrganizationThroughForm(page, web, 'Example Ltd');
    await expect(page.getByText('No DMARC reports in the last 30 days').isVisible()).resolves.toBe(true);
    await expect(page.getByRole('link', { name: 'Connect that mailbox' }).isVisible()).resolves.toBe(true);

    const org = await web.database.db.selectFrom('organization').select('id').where('slug', '=', 'example-ltd').executeTakeFirstOrThrow();
    await storeReports(web.database.db, org.id, reports());
    await refreshSourceEvidence({ db: web.database.db, logger: silentLogger });

    await page.reload();
    const verdict = page.getByRole('status');
    await expect(verdict.textContent()).resolves.toContain('example.com');
    const rows = page.locator('table tbody tr');
    await expect(rows.count()).resolves.toBe(2);
    await expect(rows.first().textContent()).resolves.toContain('example.com');
    await expect(page.getByText(/failed DMARC/).first().isVisible()).resolves.toBe(true);
    await screenshot(page, 'overview');

    // Sorting by domain puts shop.example last when descending.
    await page.getByRole('link', { name: 'Domain', exact: true }).click();
    await expect(rows.first().textContent()).resolves.toContain('shop.example');

    await page.getByRole('link', { name: 'example.com', exact: true }).click();
    await page.getByRole('heading', { name: 'example.com', level: 1 }).waitFor();
    await expect(page.locator('#dmarc-daily svg rect.series-fail').count()).resolves.toBeGreaterThan(10);
    const sources = page.locator('table').filter({ hasText: 'Source IP' });
    await expect(sources.locator('tbody tr').first().textContent()).resolves.toContain('209.85.220.41');
    await expect(sources.textContent()).resolves.toContain('198.51.100.23');
    // What the reports say about Gmail/Yahoo/Microsoft's bulk-sender rules, who reported, the policy over time.
    const checklist = page.locator('section').filter({ has: page.getByRole('heading', { name: /Bulk-sender requirements/ }) });
    await expect(checklist.locator('tbody tr').count()).resolves.toBe(5);
    await expect(checklist.getByRole('row', { name: /passes DMARC/ }).textContent()).resolves.toContain('Not met');
    const reporters = page.locator('#reporters-table table');
    await expect(reporters.locator('tbody tr').first().textContent()).resolves.toContain('google.com');
    const policy = page.locator('#policy-table table');
    await expect(policy.locator('tbody tr').first().textContent()).resolves.toContain('p=quarantine');
    await screenshot(page, 'domain');

    // Each table sorts and downloads on its own: sorting the receivers leaves the sources as they were.
    await reporters.getByRole('link', { name: 'Receiver' }).click();
    await page.waitForURL(/reporters\.sort=reporter&reporters\.dir=desc#reporters-table$/);
    await expect(reporters.locator('thead th').first().getAttribute('aria-sort')).resolves.toBe('descending');
    await expect(reporters.locator('tbody tr').first().textContent()).resolves.toContain('Yahoo');
    await expect(sources.locator('tbody tr').first().textContent()).resolves.toContain('209.85.220.41');
    const [reportersDownload] = await Promise.all([page.waitForEvent('download'), page.locator('#reporters-table').getByRole('link', { name: 'Download CSV' }).click()]);
    expect(reportersDownload.suggestedFilename()).toMatch(/^reporters-example\.com-/);
    const reportersCsv = fs.readFileSync((await reportersDownload.path()) as string, 'utf8').split('\r\n');
    expect(reportersCsv[0]).toBe('Receiver,Reports,Messages,Last report');
    expect(reportersCsv.slice(1, 3).map((line) => line.split(',')[0])).toEqual(['Yahoo', 'google.com']);

    const [download] = await Promise.all([page.waitForEvent('download'), sources.locator('xpath=..').getByRole('link', { name: 'Download CSV' }).click()]);
    const csv = fs.readFileSync((await download.path()) as string, 'utf8');
    expect(csv.split('\r\n')[0]).toBe('Source IP,Host,Service,Classification,Messages,DMARC pass,Fail,Quarantined,Rejected,Seen');
    expect(csv).toContain('198.51.100.23,not checked yet,not identified,Suspicious,2100,0,2100,2100,0,');

    // The chart has its numbers in a table for those who would rather read.
    await page.getByText('Show the numbers').click();
    await expect(page.locator('#dmarc-daily table tbody tr').count()).resolves.toBe(30);

    // On a phone the page still fits.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    if (Number(overflow) > 1) {
      console.log(await page.evaluate(`[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).slice(0, 8).map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join('\\n')`));
    }
    expect(overflow).toBeLessThanOrEqual(1);
    await screenshot(page, 'domain-phone');

    expect(problems).toEqual([]);
    await context.close();
  });

  it('welcomes a person without an organisation, and shows other organisations as not found', async () => {
    const context = await browser.newContext();
    const page = await signInThroughMail(context, web, 'stranger@example.com');
    await page.getByRole('heading', { name: 'Welcome to DMARC Watch' }).waitFor();
    await expect(page.getByRole('button', { name: 'Create organisation' }).isVisible()).resolves.toBe(true);
    const response = await page.goto(`${web.url}/o/example-ltd`);
    expect(response?.status()).toBe(404);
    await context.close();
  });
});
