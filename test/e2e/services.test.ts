import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrichDueSources } from '../../src/enrich/enrich-job.js';
import { createDnsResolver } from '../../src/lib/dns.js';
import { silentLogger } from '../../src/lib/logger.js';
import { refreshSourceEvidence } from '../../src/sources/evidence-job.js';
import { storeReports, type HandReport, utcDayBefore } from '../helpers/aggregate-xml.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { chromiumAvailable, createOrganizationThroughForm, horizontalOverflow, screenshot, signInThroughMail, useWebAppAndBrowser, watchConsole } from './harness.js';

const SENDGRID = '167.89.0.10';
const RELAY = '203.0.113.80';

const daysAgo = (n: number) => utcDayBefore(new Date(), n);

function reports(): HandReport[] {
  return Array.from({ length: 10 }, (_, k) => ({
    domain: 'example.com',
    reportId: `svc-${k + 1}`,
    begin: daysAgo(k + 1),
    records: [
      { ip: SENDGRID, count: 200 + k, dkim: 'pass' as const, spf: 'fail' as const, dkimResults: [{ domain: 'example.com', result: 'pass' }, { domain: 'sendgrid.net', result: 'pass' }] },
      { ip: RELAY, count: 20, dkim: 'fail' as const, spf: 'fail' as const },
    ],
  }));
}

describe.runIf(chromiumAvailable())('services in a real browser', () => {
  const app = useWebAppAndBrowser();
  let dns: TestDnsServer;
  beforeAll(async () => {
    dns = await startDnsServer();
  });
  afterAll(async () => {
    await dns?.close();
  });

  it('opens a service from the domain page, authorises it, and names a relay with an entry of our own', async () => {
    const web = app.web();
    const context = await app.browser().newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signInThroughMail(context, web, 'owner@example.com');
    const problems = watchConsole(page);
    const slug = await createOrganizationThroughForm(page, web, 'Example Services');
    const org = await web.database.db.selectFrom('organization').select('id').where('slug', '=', slug).executeTakeFirstOrThrow();
    await storeReports(web.database.db, org.id, reports());
    dns.setPtr(SENDGRID, ['o1.ptr2041.sendgrid.net']);
    dns.set('o1.ptr2041.sendgrid.net', { a: [SENDGRID] });
    dns.setPtr(RELAY, ['relay-1.crm.example.net']);
    dns.set('relay-1.crm.example.net', { a: [RELAY] });
    await enrichDueSources({ db: web.database.db, resolver: createDnsResolver({ servers: [dns.address], timeoutMs: 300, tries: 1 }), logger: silentLogger });
    await refreshSourceEvidence({ db: web.database.db, logger: silentLogger });

    await page.goto(`${web.url}/o/${slug}/domains/example.com`);
    await page.locator('table').filter({ hasText: 'Sources grouped by service' }).getByRole('link', { name: 'SendGrid (Twilio)' }).click();
    await page.getByRole('heading', { name: 'Service: SendGrid (Twilio)', level: 1 }).waitFor();
    await expect(page.getByRole('status').textContent()).resolves.toContain('passed DMARC');
    await expect(page.locator('#service-daily svg rect.series-pass').count()).resolves.toBe(10);
    await expect(page.locator('table').filter({ hasText: 'Addresses identified as' }).locator('tbody tr').count()).resolves.toBe(1);

    await page.getByLabel('Note').fill('Our newsletters');
    await page.getByRole('button', { name: 'Authorise' }).click();
    await page.waitForURL(/\/services\/sendgrid$/);
    await expect(page.getByRole('status').textContent()).resolves.toContain('every address identified as SendGrid (Twilio) counts as yours');
    await screenshot(page, 'service');

    // The relay is suspicious until an entry of our own names it.
    await page.goto(`${web.url}/o/${slug}/sources/${RELAY}`);
    await expect(page.getByRole('status').textContent()).resolves.toContain('Suspicious');
    await page.goto(`${web.url}/o/${slug}/settings`);
    await page.getByRole('link', { name: 'Sending services' }).click();
    await page.getByRole('textbox', { name: /^Id/ }).fill('crm-relay');
    await page.getByRole('textbox', { name: /^Name/ }).fill('Our CRM relay');
    await page.getByRole('combobox', { name: /^Kind/ }).selectOption('crm');
    await page.getByRole('textbox', { name: /^Reverse-DNS names/ }).fill('relay-*.crm.example.net');
    await page.getByRole('button', { name: 'Add the entry' }).click();
    await page.waitForURL(/done=created/);
    await page.getByRole('link', { name: 'Our CRM relay' }).waitFor();
    await screenshot(page, 'settings-services');
    await page.getByRole('link', { name: 'Our CRM relay' }).click();
    await page.getByRole('heading', { name: 'Service: Our CRM relay', level: 1 }).waitFor();
    await page.getByRole('link', { name: RELAY }).click();
    await page.getByRole('heading', { name: `Source ${RELAY}`, level: 1 }).waitFor();
    await expect(page.getByRole('status').textContent()).resolves.toContain('Our CRM relay');

    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${web.url}/o/${slug}/services/sendgrid`);
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(1);
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);
});
