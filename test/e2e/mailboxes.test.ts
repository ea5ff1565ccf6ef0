import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dovecotAvailable, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { chromiumAvailable, launchChromium, signInThroughMail, startWebApp, watchConsole, screenshot, createOrganizationThroughForm, type WebApp } from './harness.js';

const PASSWORD = 'Tr0ub4dor-mailbox-Secret-6d1e';

// Both checks throw under CI=true when Chromium or Dovecot is missing: a failure, never a skip.
const runnable = chromiumAvailable() && dovecotAvailable();

describe.runIf(runnable)('the mailboxes page in a real browser, against a real Dovecot', () => {
  let web: WebApp;
  let browser: Browser;
  let dovecot: DovecotServer;
  beforeAll(async () => {
    dovecot = await startDovecot({ users: { reports: PASSWORD } });
    dovecot.deliver('reports', 'INBOX', 'From: noreply@google.example\r\nTo: dmarc@example.com\r\nSubject: Report domain: example.com\r\n\r\nnot a report yet\r\n');
    web = await startWebApp('pglite');
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await web?.close();
    await dovecot?.stop();
  });

  it('connects a mailbox, tests it, and never shows its password again', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signInThroughMail(context, web, 'owner@example.com');
    const problems = watchConsole(page);
    await createOrganizationThroughForm(page, web, 'Mail Ltd');

    await page.getByRole('link', { name: 'Mailboxes', exact: true }).click();
    await page.getByRole('heading', { name: 'No mailbox connected yet' }).waitFor();
    await page.getByRole('link', { name: 'Add the mailbox here' }).click();

    await page.getByLabel('Name', { exact: true }).fill('DMARC reports');
    await page.getByLabel('Server', { exact: true }).fill(dovecot.host);
    await page.getByLabel('Port', { exact: true }).fill(String(dovecot.ports.imaps));
    await page.getByLabel('Private CA certificate (optional)').fill(dovecot.caPem);
    await page.getByLabel('User name').fill('reports');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Add mailbox' }).click();
    await page.getByRole('heading', { name: 'DMARC reports', level: 1 }).waitFor();
    await expect(page.getByText('Mailbox added.').isVisible()).resolves.toBe(true);
    await expect(page.getByText('Waiting for the first poll').first().isVisible()).resolves.toBe(true);

    await page.getByRole('button', { name: 'Test connection' }).click();
    const result = page.getByRole('status').filter({ hasText: 'Connection OK' });
    await result.waitFor();
    await expect(result.textContent()).resolves.toContain('logged in as reports, folder "INBOX" has 1 message(s)');
    expect(await page.content()).not.toContain(PASSWORD);
    await expect(page.getByLabel('New password').inputValue()).resolves.toBe('');
    await screenshot(page, 'mailbox');

    // A wrong password in the edit form: the test says so in words.
    await page.getByLabel('New password').fill('wrong-password');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Changes saved.').waitFor();
    await page.getByRole('button', { name: 'Test connection' }).click();
    await page.getByRole('alert').filter({ hasText: 'The connection test failed' }).waitFor();
    expect(await page.content()).not.toContain('wrong-password');
    await page.getByLabel('New password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Changes saved.').waitFor();

    await page.goto(`${web.url}/o/mail-ltd/mailboxes`);
    const row = page.locator('table tbody tr').filter({ hasText: 'DMARC reports' });
    await expect(row.textContent()).resolves.toContain(`IMAP reports@${dovecot.host}:${dovecot.ports.imaps}`);
    await row.getByRole('button', { name: 'Pause: DMARC reports' }).click();
    await page.getByText('Paused: the mailbox is not polled').waitFor();
    await expect(row.textContent()).resolves.toContain('Paused');
    await row.getByRole('button', { name: 'Resume: DMARC reports' }).click();
    await page.getByText('Resumed: the mailbox is polled again.').waitFor();
    expect(await page.content()).not.toContain(PASSWORD);
    await screenshot(page, 'mailboxes');

    // On a phone the page still fits: the table scrolls inside its box.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow).toBeLessThanOrEqual(1);

    // The password is stored sealed, never as text.
    const rows = await web.database.db.selectFrom('mailbox').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(PASSWORD);
    expect(problems).toEqual([]);
    await context.close();
  });
});
