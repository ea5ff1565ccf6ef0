import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createKeyring, initCrypto } from '../../src/lib/crypto/index.js';
import { createLogger } from '../../src/lib/logger.js';
import { createMailer } from '../../src/mail/mailer.js';
import { freePort } from '../helpers/cli.js';
import { openTestDatabase, type Backend, type TestDatabase } from '../helpers/db.js';
import { startCaptureServer, type CaptureServer } from '../helpers/smtp.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Whether the browser suites can run here; in CI a missing Chromium is a failure, never a skip. */
export function chromiumAvailable(): boolean {
  const present = fs.existsSync(CHROMIUM);
  if (!present && process.env.CI === 'true') throw new Error(`Chromium is not installed at ${CHROMIUM}: .ci/run installs Debian's chromium package`);
  if (!present) console.warn(`browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  return present;
}

export interface WebApp {
  url: string;
  database: TestDatabase;
  smtp: CaptureServer;
  logs: string[];
  close(): Promise<void>;
}

/** The whole web application on a real port (http://localhost:<port>), with a real SMTP server catching its mail. */
export async function startWebApp(backend: Backend, env: Record<string, string> = {}): Promise<WebApp> {
  await initCrypto();
  const database = await openTestDatabase(backend);
  const smtp = await startCaptureServer();
  const port = await freePort();
  const url = `http://localhost:${port}`;
  const config = loadConfig({ DMARCWATCH_PUBLIC_URL: url, SMTP_URL: smtp.url, SMTP_FROM: 'DMARC Watch <noreply@localhost.example>', PORT: String(port), ...env });
  const logs: string[] = [];
  const logger = createLogger({ level: 'info', write: (line) => logs.push(line) });
  const mailer = createMailer(config, logger);
  const app = createApp({ database, config, keyring: createKeyring([{ id: 'k1', key: randomBytes(32) }]), mailer, logger, validateApiResponses: true });
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve(s));
  });
  return {
    url,
    database,
    smtp,
    logs,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      mailer.close();
      await smtp.close();
      await database.close();
    },
  };
}

/** Debian's Chromium, headless, without the background traffic this closed network refuses. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Console errors, page errors and CSP violations seen by a page, for "no console errors" checks. */
export function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  return problems;
}

/** Signs in through the sign-in form and the link the mail brings; returns the signed-in page. */
export async function signInThroughMail(context: BrowserContext, web: WebApp, email: string): Promise<Page> {
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  await page.goto(`${web.url}/sign-in`);
  await page.getByLabel(/email/i).fill(email);
  await page.getByRole('button', { name: /sign-in link/i }).click();
  await page.getByRole('heading', { name: /check your mail/i }).waitFor();
  const mail = await web.smtp.nextMailTo(email);
  const link = /http:\/\/localhost:\d+\/auth\/confirm\?token=[A-Za-z0-9_-]+/.exec(mail.text)?.[0];
  if (!link) throw new Error(`no sign-in link in the mail:\n${mail.text}`);
  await page.goto(link);
  await page.getByRole('button', { name: /^sign in$/i }).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/auth/'));
  return page;
}

// `UPDATE_SCREENSHOTS=1 npm test -- test/e2e` refreshes the pictures in docs/screenshots; otherwise they go to a scratch folder.
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? path.resolve(import.meta.dirname, '../../docs/screenshots') : path.join(os.tmpdir(), 'dmarcwatch-screenshots');

/** A full-page screenshot, for the docs when UPDATE_SCREENSHOTS=1. */
export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Pixels the page is wider than the window (a phone must never scroll sideways). */
export async function horizontalOverflow(page: Page): Promise<number> {
  return Number(await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth'));
}

/** Creates an organisation through the form; returns its slug once its overview is open. */
export async function createOrganizationThroughForm(page: Page, web: WebApp, name: string): Promise<string> {
  await page.goto(`${web.url}/orgs/new`);
  await page.getByLabel('Organisation name').fill(name);
  await page.getByRole('button', { name: 'Create organisation' }).click();
  await page.waitForURL(/\/o\/[a-z0-9-]+$/);
  return decodeURIComponent(new URL(page.url()).pathname.split('/')[2] as string);
}

/** The web application and Chromium for one browser suite: started before its tests, stopped after. */
export function useWebAppAndBrowser(env: Record<string, string> = {}): { web(): WebApp; browser(): Browser } {
  let web: WebApp | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    web = await startWebApp('pglite', env);
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await web?.close();
  });
  return {
    web: () => web ?? (() => { throw new Error('the web app has not started'); })(),
    browser: () => browser ?? (() => { throw new Error('the browser has not started'); })(),
  };
}
