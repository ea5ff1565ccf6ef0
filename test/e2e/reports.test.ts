import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { CORPUS, SAMPLES } from '../api/upload-helpers.js';
import { chromiumAvailable, signInThroughMail, watchConsole, screenshot, horizontalOverflow, createOrganizationThroughForm, useWebAppAndBrowser, type WebApp } from './harness.js';

describe.runIf(chromiumAvailable())('reports in a real browser', () => {
  const app = useWebAppAndBrowser();
  let web: WebApp;
  let browser: Browser;
  beforeAll(() => {
    web = app.web();
    browser = app.browser();
  });

  it('uploads real reports, lists and filters them, shows an aggregate report beside its XML, a TLS report, and exports the list', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const page = await signInThroughMail(context, web, 'reports@example.com');
    const problems = watchConsole(page);

    await createOrganizationThroughForm(page, web, 'Reports Ltd');

    // Before anything arrives, the list says how reports get here.
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Reports' }).click();
    await page.getByRole('heading', { name: 'No reports yet' }).waitFor();
    await page.getByRole('link', { name: 'Upload report files' }).click();

    // An aggregate XML, an aggregate in a zip, an SMTP TLS report and a failure report (ARF).
    await page.getByLabel(/Report files/).setInputFiles([SAMPLES.xml, SAMPLES.zip, SAMPLES.tls, SAMPLES.arf].map((p) => path.join(CORPUS, p)));
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByRole('heading', { name: 'Upload results' }).waitFor();
    await expect(page.getByRole('status').textContent()).resolves.toContain('Documents found: 4 stored.');
    await expect(page.locator('.outcome-stored').count()).resolves.toBe(4);
    await expect(page.getByRole('link', { name: 'Test Inc. 1.id.0' }).isVisible()).resolves.toBe(true);
    await screenshot(page, 'upload-results');

    await page.getByRole('link', { name: 'See all reports' }).click();
    const rows = page.locator('table tbody tr');
    await expect(rows.count()).resolves.toBe(4);

    // Filter by kind through the form.
    await page.getByLabel('Kind').selectOption('aggregate');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/kind=aggregate/);
    await expect(rows.count()).resolves.toBe(2);
    await expect(page.locator('table').textContent()).resolves.not.toContain('SMTP TLS');
    await screenshot(page, 'reports');

    // The list as CSV, with the same filter.
    const [csvDownload] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download CSV' }).click()]);
    const csv = fs.readFileSync((await csvDownload.path()) as string, 'utf8').trim().split('\r\n');
    expect(csv[0]).toBe('Kind,Period,Reporter,Domain,Volume,Result,Report id,Received,Id');
    expect(csv).toHaveLength(3);
    expect(csv.join('\n')).toContain('Test Inc.');

    // An aggregate report: a record and the raw XML beside it.
    await rows.filter({ hasText: 'Test Inc.' }).getByRole('link').first().click();
    await page.getByRole('heading', { level: 1, name: /Aggregate report from Test Inc\./ }).waitFor();
    const records = page.locator('table').filter({ hasText: 'Source IP' });
    await expect(records.textContent()).resolves.toContain('192.168.1.1');
    await expect(records.textContent()).resolves.toContain('10.1.1.1');
    const raw = page.locator('pre.raw-document');
    await expect(raw.isVisible()).resolves.toBe(true);
    await expect(raw.textContent()).resolves.toContain('<org_name>Test Inc.</org_name>');
    // Side by side on a wide screen.
    const mainBox = await page.locator('.report-main').boundingBox();
    const rawBox = await page.locator('.report-raw').boundingBox();
    expect(rawBox!.x).toBeGreaterThan(mainBox!.x + mainBox!.width - 1);
    await screenshot(page, 'report-aggregate');

    // The original downloads with the session cookie.
    const [original] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download original' }).click()]);
    expect(original.suggestedFilename()).toMatch(/^Test_Inc\.!test\.net!.*\.xml$/);
    expect(fs.readFileSync((await original.path()) as string, 'utf8')).toContain('<feedback');

    // On a phone the XML goes below the report and the page does not scroll sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(1);
    const phoneMain = await page.locator('.report-main').boundingBox();
    const phoneRaw = await page.locator('.report-raw').boundingBox();
    expect(phoneRaw!.y).toBeGreaterThan(phoneMain!.y + phoneMain!.height - 1);
    await page.setViewportSize({ width: 1280, height: 900 });

    // The TLS report.
    await page.goto(`${web.url}/o/reports-ltd/reports?kind=tls`);
    await rows.first().getByRole('link').first().click();
    await page.getByRole('heading', { level: 1, name: 'SMTP TLS report from Google Inc.' }).waitFor();
    await expect(page.getByRole('heading', { name: /Policy 1: sts for/ }).isVisible()).resolves.toBe(true);
    await expect(page.locator('pre.raw-document').last().textContent()).resolves.toContain('"organization-name": "Google Inc."');
    await screenshot(page, 'report-tls');

    // The failure report: its fields, and no body.
    await page.goto(`${web.url}/o/reports-ltd/reports?kind=failure`);
    await rows.first().getByRole('link').first().click();
    await page.getByRole('heading', { level: 1, name: /Failure report/ }).waitFor();
    await expect(page.getByText('Message bodies are never stored').isVisible()).resolves.toBe(true);
    await screenshot(page, 'report-failure');

    // The ingest log names the upload.
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Ingest log' }).click();
    await expect(page.locator('table').textContent()).resolves.toContain('Upload of test.xml');
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(1);

    expect(problems).toEqual([]);
    await context.close();
  });
});
