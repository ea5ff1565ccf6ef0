import { randomBytes } from 'node:crypto';
import type { Hono } from 'hono';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { createApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { ApiRateLimiter } from '../../src/http/api-rate-limit.js';
import type { WebEnv } from '../../src/http/env.js';
import { createKeyring, initCrypto, type Keyring } from '../../src/lib/crypto/index.js';
import { createLogger } from '../../src/lib/logger.js';
import { createMailer, type Mailer } from '../../src/mail/mailer.js';
import { openTestDatabase, type Backend, type TestDatabase } from '../helpers/db.js';
import { startCaptureServer, type CaptureServer } from '../helpers/smtp.js';

export const PUBLIC_URL = 'https://dmarc.example.com';

export interface TestClock {
  (): Date;
  advance(ms: number): void;
  set(date: Date): void;
}

export function testClock(start = new Date('2026-03-02T10:00:00.000Z')): TestClock {
  let now = start.getTime();
  const clock = (() => new Date(now)) as TestClock;
  clock.advance = (ms) => {
    now += ms;
  };
  clock.set = (date) => {
    now = date.getTime();
  };
  return clock;
}

/** Counts the statements the app sends to the database, by kind (select, insert, raw SQL…). */
export class QueryLog implements KyselyPlugin {
  entries: string[] = [];
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    const node = args.node as RootOperationNode & { from?: { froms?: Array<{ table?: { identifier?: { name?: string } } }> }; into?: { table?: { identifier?: { name?: string } } }; table?: { table?: { identifier?: { name?: string } } } };
    const table = node.into?.table?.identifier?.name ?? node.from?.froms?.[0]?.table?.identifier?.name ?? node.table?.table?.identifier?.name ?? '';
    this.entries.push(`${node.kind}${table ? ` ${table}` : ''}`);
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

export interface Harness {
  app: Hono<WebEnv>;
  database: TestDatabase;
  config: Config;
  keyring: Keyring;
  mailer: Mailer;
  smtp: CaptureServer;
  clock: TestClock;
  logs: string[];
  queries: QueryLog;
  /** The app's shared API rate limiter: flush it to make its background write happen now. */
  apiRateLimiter: ApiRateLimiter;
  browser(options?: { ip?: string; userAgent?: string }): Browser;
  /** Signs in a new browser as `email` through the whole mail flow; returns the browser. */
  signIn(email: string, options?: { ip?: string; userAgent?: string }): Promise<Browser>;
  close(): Promise<void>;
}

export async function openHarness(
  backend: Backend,
  env: Record<string, string> = {},
  options: { smtpAuth?: { user: string; pass: string } } = {},
): Promise<Harness> {
  await initCrypto();
  const database = await openTestDatabase(backend);
  const smtp = await startCaptureServer(options.smtpAuth ? { auth: options.smtpAuth } : {});
  const config = loadConfig({ DMARCWATCH_PUBLIC_URL: PUBLIC_URL, SMTP_URL: smtp.url, SMTP_FROM: 'DMARC Watch <noreply@dmarc.example.com>', ...env });
  const logs: string[] = [];
  const logger = createLogger({ level: 'debug', write: (line) => logs.push(line) });
  const keyring = createKeyring([{ id: 'k1', key: randomBytes(32) }]);
  const mailer = createMailer(config, logger);
  const clock = testClock();
  const queries = new QueryLog();
  const db = database.db.withPlugin(queries);
  const apiRateLimiter = new ApiRateLimiter(db, config.apiRateLimitPerMinute, logger, clock);
  const app = createApp({ database: { ...database, db }, config, keyring, mailer, logger, clock, validateApiResponses: true, apiRateLimiter });
  const harness: Harness = {
    app,
    database,
    config,
    keyring,
    mailer,
    smtp,
    clock,
    logs,
    queries,
    apiRateLimiter,
    browser: (options) => new Browser(app, options),
    async signIn(email, options) {
      const browser = new Browser(app, options);
      const link = await browser.requestLink(email, smtp);
      const confirm = await browser.get(link);
      if (confirm.status !== 200) throw new Error(`confirm page answered ${confirm.status}`);
      const signedIn = await browser.post('/auth/confirm', { token: tokenOf(link) });
      if (signedIn.status !== 303) throw new Error(`confirm answered ${signedIn.status}: ${await signedIn.text()}`);
      return browser;
    },
    async close() {
      await apiRateLimiter.close();
      mailer.close();
      await smtp.close();
      await database.close();
    },
  };
  return harness;
}

export function tokenOf(link: string): string {
  const token = new URL(link).searchParams.get('token');
  if (!token) throw new Error(`no token in ${link}`);
  return token;
}

export function linkIn(text: string): string {
  const match = /https:\/\/dmarc\.example\.com\/auth\/confirm\?token=[A-Za-z0-9_-]+/.exec(text);
  if (!match) throw new Error(`no sign-in link in:\n${text}`);
  return match[0];
}

/** A browser: a cookie jar, the last CSRF token seen on a page, a client address. */
export class Browser {
  cookies = new Map<string, string>();
  csrf: string | null = null;
  ip: string;
  userAgent: string;

  constructor(
    private readonly app: Hono<WebEnv>,
    options: { ip?: string; userAgent?: string } = {},
  ) {
    this.ip = options.ip ?? '203.0.113.10';
    this.userAgent = options.userAgent ?? 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
  }

  cookieHeader(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  async request(path: string, init: Omit<RequestInit, 'headers'> & { headers?: Record<string, string> } = {}, peer = this.ip): Promise<Response> {
    const url = path.startsWith('http') ? path : `${PUBLIC_URL}${path}`;
    const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: 'text/html', ...init.headers };
    const cookie = this.cookieHeader();
    if (cookie && !('cookie' in headers)) headers.cookie = cookie;
    const response = await this.app.request(url, { ...init, headers }, { incoming: { socket: { remoteAddress: peer } } });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';') as [string];
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (/Max-Age=0/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    if ((response.headers.get('content-type') ?? '').includes('text/html')) {
      const html = await response.clone().text();
      const match = /name="_csrf" value="([^"]+)"/.exec(html);
      if (match) this.csrf = match[1] as string;
    }
    return response;
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.request(path, { method: 'GET', headers });
  }

  /** A form POST from our own pages: Origin is the public URL and `_csrf` the token last seen, unless overridden. */
  post(path: string, form: Record<string, string>, options: { origin?: string | null; csrf?: string | null; headers?: Record<string, string>; peer?: string } = {}): Promise<Response> {
    const body = new URLSearchParams(form);
    const csrf = options.csrf === undefined ? this.csrf : options.csrf;
    if (csrf !== null && !body.has('_csrf')) body.set('_csrf', csrf);
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', ...options.headers };
    const origin = options.origin === undefined ? PUBLIC_URL : options.origin;
    if (origin !== null) headers.origin = origin;
    return this.request(path, { method: 'POST', headers, body: body.toString() }, options.peer ?? this.ip);
  }

  /** Asks for a sign-in link and returns it from the mail that arrives. */
  async requestLink(email: string, smtp: CaptureServer): Promise<string> {
    const response = await this.post('/sign-in', { email });
    if (response.status !== 303) throw new Error(`sign-in request answered ${response.status}`);
    const mail = await smtp.nextMailTo(email);
    return linkIn(mail.text);
  }
}

/** The TOTP secret the security page shows during enrolment. */
export function totpSecretOnPage(html: string): string {
  const secret = /id="totp-secret" class="secret" readonly="" value="([A-Z2-7]+)"/.exec(html)?.[1];
  if (secret === undefined) throw new Error('no TOTP secret on the page');
  return secret;
}

/** The recovery codes the page shows once after TOTP is confirmed. */
export function recoveryCodesOnPage(html: string): string[] {
  return [...html.matchAll(/<li>([a-z2-9]{5}-[a-z2-9]{5})<\/li>/g)].map((m) => m[1]!);
}
