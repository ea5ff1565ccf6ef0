import { beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { chromiumAvailable, signInThroughMail, watchConsole, useWebAppAndBrowser, type WebApp } from './harness.js';

describe.runIf(chromiumAvailable())('sign-in in a real browser', () => {
  const app = useWebAppAndBrowser();
  let web: WebApp;
  let browser: Browser;
  beforeAll(() => {
    web = app.web();
    browser = app.browser();
  });

  it('signs in with the mailed link, keeps the session in an HttpOnly cookie, and signs out', async () => {
    const context = await browser.newContext();
    const page = await signInThroughMail(context, web, 'e2e@example.com');
    const problems = watchConsole(page);
    await page.reload();
    await expect(page.getByText('e2e@example.com').first().isVisible()).resolves.toBe(true);

    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name.endsWith('dmw_session'));
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    // Scripts on the page cannot read it.
    expect(await page.evaluate('document.cookie')).not.toContain('dmw_session');

    await page.reload();
    await page.getByRole('button', { name: /sign out/i }).click();
    await page.waitForURL(/\/sign-in$/);
    expect((await context.cookies()).find((c) => c.name.endsWith('dmw_session'))).toBeUndefined();
    expect(problems).toEqual([]);
    await context.close();
  });

  it('the API reference renders without errors under the strict CSP', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = watchConsole(page);
    await page.goto(`${web.url}/api/docs`);
    await expect(page.getByRole('heading', { name: 'API reference' }).isVisible()).resolves.toBe(true);
    expect(problems).toEqual([]);
    await context.close();
  });
});
