import fs from 'node:fs';
import type { Browser } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, signInThroughMail, watchConsole, screenshot, createOrganizationThroughForm, useWebAppAndBrowser, type WebApp } from './harness.js';

describe.runIf(chromiumAvailable())('organisation settings in a real browser', () => {
  const app = useWebAppAndBrowser();
  let web: WebApp;
  let browser: Browser;
  beforeAll(() => {
    web = app.web();
    browser = app.browser();
  });

  it('invites a member by mail, who signs in through the link and sees the organisation', async () => {
    const ownerContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signInThroughMail(ownerContext, web, 'owner@team.example');
    const problems = watchConsole(page);
    await createOrganizationThroughForm(page, web, 'Team Ltd');

    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    await page.getByRole('link', { name: 'Your sessions' }).waitFor();
    await page.getByRole('link', { name: 'Invitations' }).click();
    await page.getByLabel('Email address').fill('colleague@team.example');
    await page.getByLabel('Role').selectOption('member');
    await page.getByRole('button', { name: 'Send invitation' }).click();
    await page.getByText('Invitation sent.').waitFor();
    await expect(page.locator('table tbody').textContent()).resolves.toContain('colleague@team.example');

    const invitation = await web.smtp.nextMailTo('colleague@team.example');
    const link = /http:\/\/localhost:\d+\/invitations\/accept\?token=[A-Za-z0-9_-]+/.exec(invitation.text)?.[0];
    expect(link).toBeDefined();

    const guestContext = await browser.newContext();
    const guest = await guestContext.newPage();
    const guestProblems = watchConsole(guest);
    await guest.goto(link!);
    await guest.getByRole('heading', { name: 'Join Team Ltd' }).waitFor();
    await guest.getByRole('button', { name: 'Mail me a sign-in link' }).click();
    await guest.getByRole('heading', { name: /check your mail/i }).waitFor();
    const signIn = await web.smtp.nextMailTo('colleague@team.example');
    const confirm = /http:\/\/localhost:\d+\/auth\/confirm\?token=[A-Za-z0-9_-]+/.exec(signIn.text)?.[0];
    await guest.goto(confirm!);
    await guest.getByRole('button', { name: /^sign in$/i }).click();
    await guest.waitForURL((url) => !url.pathname.startsWith('/auth/'));
    const response = await guest.goto(`${web.url}/o/team-ltd/settings/members`);
    expect(response?.status()).toBe(200);
    await expect(guest.locator('.org-bar').textContent()).resolves.toContain('Team Ltd');
    await expect(guest.locator('table tbody').textContent()).resolves.toContain('colleague@team.example');
    // A member sees no admin sections, and is refused them.
    await expect(guest.getByRole('link', { name: 'API keys' }).count()).resolves.toBe(0);
    // (On a page of its own: the browser logs every 403 it loads as a console error.)
    const refusals = await guestContext.newPage();
    expect((await refusals.goto(`${web.url}/o/team-ltd/settings/api-keys`))?.status()).toBe(403);
    expect((await refusals.goto(`${web.url}/o/team-ltd/audit`))?.status()).toBe(403);

    await page.getByRole('link', { name: 'Members' }).click();
    const row = page.locator('table tbody tr').filter({ hasText: 'colleague@team.example' });
    await expect(row.textContent()).resolves.toContain('member');
    await screenshot(page, 'settings-members');

    expect(problems).toEqual([]);
    expect(guestProblems).toEqual([]);
    await guestContext.close();
    await ownerContext.close();
  });

  it('creates an API key shown once, which works against the API until it is revoked', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const page = await signInThroughMail(context, web, 'owner@team.example');
    const problems = watchConsole(page);
    await page.goto(`${web.url}/o/team-ltd/settings/api-keys`);
    await page.getByRole('heading', { name: 'Create an API key' }).waitFor();
    await page.getByLabel('Name').fill('Monitoring');
    await page.getByLabel('Scope').selectOption('read');
    await page.getByRole('button', { name: 'Create API key' }).click();
    await page.getByRole('heading', { name: 'Your new API key' }).waitFor();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('shown only this once');
    const field = page.getByLabel(/API key “Monitoring”/);
    await expect(field.getAttribute('readonly')).resolves.not.toBeNull();
    const key = await field.inputValue();
    expect(key).toMatch(/^dmw_[A-Za-z0-9_-]{43}$/);

    const me = await fetch(`${web.url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ kind: 'api_key', scope: 'read', organization: 'team-ltd' });

    await page.getByRole('link', { name: 'Done: back to the API keys' }).click();
    const row = page.locator('table tbody tr').filter({ hasText: 'Monitoring' });
    await expect(row.textContent()).resolves.toContain(key.slice(0, 8));
    expect(await page.content()).not.toContain(key);
    await screenshot(page, 'settings-api-keys');
    await row.getByRole('button', { name: 'Revoke the key Monitoring' }).click();
    await page.getByText('API key revoked').waitFor();
    await expect(row.textContent()).resolves.toContain('revoked');

    const after = await fetch(`${web.url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } });
    expect(after.status).toBe(401);

    // The audit log has all of it, and its export downloads with the session.
    await page.getByRole('link', { name: 'Audit log' }).click();
    await expect(page.locator('table tbody').textContent()).resolves.toContain('api_key.revoke');
    await expect(page.locator('table tbody').textContent()).resolves.toContain('invitation.accept');
    await screenshot(page, 'audit-log');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download JSON lines' }).click()]);
    const lines = fs.readFileSync((await download.path()) as string, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { seq: number; action: string });
    expect(lines.map((l) => l.seq)).toEqual(lines.map((_, i) => i + 1));
    expect(lines.map((l) => l.action)).toEqual(expect.arrayContaining(['organization.create', 'invitation.create', 'invitation.accept', 'api_key.create', 'api_key.revoke']));

    expect(problems).toEqual([]);
    await context.close();
  });
  it('copies a new API key with the Copy button (keyboard included), which only shows when its script runs under the strict CSP', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: web.url });
    const page = await signInThroughMail(context, web, 'owner@team.example');
    const problems = watchConsole(page);
    const response = await page.goto(`${web.url}/o/team-ltd/settings/api-keys`);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    await page.getByLabel('Name').fill('Clipboard');
    await page.getByRole('button', { name: 'Create API key' }).click();
    await page.getByRole('heading', { name: 'Your new API key' }).waitFor();
    const key = await page.getByLabel(/API key “Clipboard”/).inputValue();
    expect(key).toMatch(/^dmw_/);

    const copy = page.getByRole('button', { name: 'Copy the API key' });
    await copy.waitFor({ state: 'visible' });
    await copy.focus();
    await page.keyboard.press('Enter');
    const status = page.locator('[data-copy-status="new-key"]');
    await expect.poll(() => status.textContent()).toBe('Copied');
    await expect(status.getAttribute('role')).resolves.toBe('status');
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(key);
    // Clicked again, it says so again.
    await page.evaluate('navigator.clipboard.writeText("")');
    await copy.click();
    await expect.poll(() => page.evaluate('navigator.clipboard.readText()')).toBe(key);
    await expect.poll(() => status.textContent()).toBe('Copied');

    // Without JavaScript the secret is still there to select, and no dead button shows.
    const noScript = await browser.newContext({ javaScriptEnabled: false, storageState: await context.storageState() });
    const plain = await noScript.newPage();
    await plain.goto(`${web.url}/settings/security`);
    await plain.getByRole('button', { name: 'Set up two-factor authentication' }).click();
    const secret = plain.getByLabel('Secret key', { exact: true });
    await expect(secret.inputValue()).resolves.toMatch(/^[A-Z2-7]{16,}$/);
    await expect(secret.getAttribute('readonly')).resolves.not.toBeNull();
    await expect(plain.getByRole('button', { name: /^Copy/ }).count()).resolves.toBe(0);
    await expect(plain.locator('button[data-copy="totp-secret"]').isHidden()).resolves.toBe(true);
    await page.goto(`${web.url}/settings/security`);
    await page.getByRole('button', { name: 'Copy the secret key' }).click();
    await expect.poll(() => page.evaluate('navigator.clipboard.readText()')).toBe(await secret.inputValue());
    await noScript.close();
    expect(problems).toEqual([]);

    // The policy still refuses inline script: only files from /assets run.
    const probe = await context.newPage();
    await probe.goto(`${web.url}/settings/sessions`);
    const outcome = await probe.evaluate(`new Promise((resolve) => {
      document.addEventListener('securitypolicyviolation', (event) => resolve({ ran: window.inlineRan === true, directive: event.violatedDirective }), { once: true });
      const script = document.createElement('script');
      script.textContent = 'window.inlineRan = true';
      document.head.appendChild(script);
      setTimeout(() => resolve({ ran: window.inlineRan === true, directive: null }), 3000);
    })`);
    expect(outcome).toEqual({ ran: false, directive: expect.stringMatching(/^script-src/) });
    await context.close();
  });
});
