import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { totpCodeAt } from '../../src/auth/totp.js';
import { open, SealError } from '../../src/lib/crypto/index.js';
import { describeEachBackend } from '../helpers/db.js';
import { openHarness, recoveryCodesOnPage, tokenOf, totpSecretOnPage, type Browser, type Harness } from './harness.js';

const STEP = 30_000;

describeEachBackend('two-factor authentication (TOTP)', (backend) => {
  let h: Harness;
  beforeAll(async () => {
    h = await openHarness(backend);
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
    // Start every test at the beginning of a fresh 30-second step.
    h.clock.set(new Date(Math.ceil((h.clock().getTime() + 10 * STEP) / STEP) * STEP));
  });

  const user = (email: string) => h.database.db.selectFrom('user_account').selectAll().where('email', '=', email).executeTakeFirstOrThrow();

  /** Signs in, enrols and confirms TOTP; returns the secret and the recovery codes. */
  async function enrol(email: string): Promise<{ browser: Browser; secret: string; codes: string[] }> {
    const browser = await h.signIn(email);
    await browser.get('/settings/security');
    expect((await browser.post('/settings/security/totp/enrol', {})).status).toBe(303);
    const page = await (await browser.get('/settings/security')).text();
    const secret = totpSecretOnPage(page);
    expect(page).toContain(`otpauth://totp/DMARC%20Watch:${encodeURIComponent(email)}?`);
    const confirmed = await browser.post('/settings/security/totp/confirm', { code: totpCodeAt(secret, h.clock()) });
    expect(confirmed.status).toBe(200);
    const codes = recoveryCodesOnPage(await confirmed.text());
    return { browser, secret, codes };
  }

  /** Confirms a sign-in link in a new browser; the browser is then waiting for its second factor. */
  async function startSignIn(email: string): Promise<{ browser: Browser; response: Response }> {
    const browser = h.browser();
    const link = await browser.requestLink(email, h.smtp);
    const response = await browser.post('/auth/confirm', { token: tokenOf(link) });
    return { browser, response };
  }

  it('enrols: the secret is sealed and bound to the user row, and recovery codes are shown once and stored hashed', async () => {
    const { secret, codes } = await enrol('enrol@example.com');
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    const row = await user('enrol@example.com');
    expect(row.totp_enabled_at).not.toBeNull();
    expect(Buffer.from(row.totp_secret_sealed!).toString('latin1')).not.toContain(secret);
    expect(open(h.keyring, row.totp_secret_sealed!, { table: 'user_account', column: 'totp_secret_sealed', rowId: row.id })).toBe(secret);
    expect(() => open(h.keyring, row.totp_secret_sealed!, { table: 'user_account', column: 'totp_secret_sealed', rowId: row.id + 1 })).toThrow(SealError);

    const stored = await h.database.db.selectFrom('recovery_code').select('code_hash').where('user_id', '=', row.id).execute();
    expect(stored).toHaveLength(10);
    const dump = JSON.stringify(stored.map((s) => Buffer.from(s.code_hash).toString('latin1')));
    for (const code of codes) expect(dump).not.toContain(code.replace('-', ''));

    const events = await h.database.db.selectFrom('audit_event').select('action').where('target_id', '=', String(row.id)).execute();
    expect(events.map((e) => e.action)).toContain('user.totp_enable');
  });

  it('refuses a wrong code at enrolment', async () => {
    const browser = await h.signIn('wrong-enrol@example.com');
    await browser.get('/settings/security');
    await browser.post('/settings/security/totp/enrol', {});
    await browser.get('/settings/security');
    const response = await browser.post('/settings/security/totp/confirm', { code: '000000' });
    expect(response.status).toBe(400);
    expect((await user('wrong-enrol@example.com')).totp_enabled_at).toBeNull();
  });

  it('asks for the code before the session is signed in, and issues a new session token after it', async () => {
    const { secret } = await enrol('second@example.com');
    h.clock.advance(STEP);
    const { browser, response } = await startSignIn('second@example.com');
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/auth/2fa');
    expect(response.headers.getSetCookie()[0]).toMatch(/Max-Age=900;/);
    const pending = browser.cookies.get('__Host-dmw_session')!;

    for (const path of ['/', '/settings/sessions', '/settings/security']) {
      const page = await browser.get(path);
      expect(page.status).toBe(303);
      expect(page.headers.get('location')).toBe('/auth/2fa');
    }
    expect((await browser.get('/auth/2fa')).status).toBe(200);

    const wrong = await browser.post('/auth/2fa', { code: '123456' === totpCodeAt(secret, h.clock()) ? '654321' : '123456' });
    expect(wrong.status).toBe(400);

    const passed = await browser.post('/auth/2fa', { code: totpCodeAt(secret, h.clock()) });
    expect(passed.status).toBe(303);
    expect(passed.headers.get('location')).toBe('/');
    expect(passed.headers.getSetCookie()[0]).toMatch(/^__Host-dmw_session=[A-Za-z0-9_-]{43}; Max-Age=2592000;/);
    expect(browser.cookies.get('__Host-dmw_session')).not.toBe(pending);
    expect((await browser.get('/')).status).toBe(200);

    const stale = h.browser();
    stale.cookies.set('__Host-dmw_session', pending);
    expect((await stale.get('/auth/2fa')).headers.get('location')).toBe('/sign-in');

    const events = await h.database.db.selectFrom('audit_event').select(['action', 'summary']).where('action', '=', 'session.sign_in').orderBy('id', 'desc').limit(1).execute();
    expect(events[0]?.summary).toEqual({ method: 'magic_link', secondFactor: 'totp' });
  });

  it('never accepts the same code twice, nor an older one', async () => {
    const { secret } = await enrol('replay@example.com');
    h.clock.advance(STEP);
    const code = totpCodeAt(secret, h.clock());
    const first = await startSignIn('replay@example.com');
    await first.browser.get('/auth/2fa');
    expect((await first.browser.post('/auth/2fa', { code })).status).toBe(303);

    const second = await startSignIn('replay@example.com');
    await second.browser.get('/auth/2fa');
    expect((await second.browser.post('/auth/2fa', { code })).status).toBe(400);
    // The previous step's code is within the ±1 window but older than the one used.
    expect((await second.browser.post('/auth/2fa', { code: totpCodeAt(secret, new Date(h.clock().getTime() - STEP)) })).status).toBe(400);
    h.clock.advance(STEP);
    expect((await second.browser.post('/auth/2fa', { code: totpCodeAt(secret, h.clock()) })).status).toBe(303);
  });

  it('accepts codes one step early or late, not two', async () => {
    const { secret } = await enrol('drift@example.com');
    h.clock.advance(10 * STEP);
    const a = await startSignIn('drift@example.com');
    await a.browser.get('/auth/2fa');
    expect((await a.browser.post('/auth/2fa', { code: totpCodeAt(secret, new Date(h.clock().getTime() - 2 * STEP)) })).status).toBe(400);
    expect((await a.browser.post('/auth/2fa', { code: totpCodeAt(secret, new Date(h.clock().getTime() - STEP)) })).status).toBe(303);
    const b = await startSignIn('drift@example.com');
    await b.browser.get('/auth/2fa');
    expect((await b.browser.post('/auth/2fa', { code: totpCodeAt(secret, new Date(h.clock().getTime() + STEP)) })).status).toBe(303);
  });

  it('accepts each recovery code once', async () => {
    const { codes } = await enrol('recover@example.com');
    const first = await startSignIn('recover@example.com');
    await first.browser.get('/auth/2fa');
    expect((await first.browser.post('/auth/2fa', { code: codes[3]!.toUpperCase() })).status).toBe(303);

    const second = await startSignIn('recover@example.com');
    await second.browser.get('/auth/2fa');
    expect((await second.browser.post('/auth/2fa', { code: codes[3]! })).status).toBe(400);
    expect((await second.browser.post('/auth/2fa', { code: codes[4]!.replace('-', '') })).status).toBe(303);
    const page = await (await second.browser.get('/settings/security')).text();
    expect(page).toMatch(/Recovery codes left:\s*<strong>8<\/strong>/);
  });

  it('lets the code form expire after 15 minutes', async () => {
    const { secret } = await enrol('pending@example.com');
    const { browser } = await startSignIn('pending@example.com');
    await browser.get('/auth/2fa');
    h.clock.advance(15 * 60_000 + 1000);
    const late = await browser.post('/auth/2fa', { code: totpCodeAt(secret, h.clock()) });
    expect(late.status).toBe(303);
    expect(late.headers.get('location')).toBe('/sign-in');
  });

  it('asks other signed-in browsers for a code once TOTP is turned on', async () => {
    const other = await h.signIn('elsewhere@example.com');
    expect((await other.get('/')).status).toBe(200);
    const { browser } = await enrol('elsewhere@example.com');
    expect((await browser.get('/')).status).toBe(200);
    expect((await other.get('/')).headers.get('location')).toBe('/auth/2fa');
  });

  it('turns off only with a valid code, and removes the secret and recovery codes', async () => {
    const { browser, secret } = await enrol('off@example.com');
    h.clock.advance(STEP);
    await browser.get('/settings/security');
    expect((await browser.post('/settings/security/totp/disable', { code: '000000' })).status).toBe(400);
    const off = await browser.post('/settings/security/totp/disable', { code: totpCodeAt(secret, h.clock()) });
    expect(off.status).toBe(303);
    const row = await user('off@example.com');
    expect(row.totp_enabled_at).toBeNull();
    expect(row.totp_secret_sealed).toBeNull();
    expect(await h.database.db.selectFrom('recovery_code').select('user_id').where('user_id', '=', row.id).execute()).toEqual([]);
    const events = await h.database.db.selectFrom('audit_event').select('action').where('target_id', '=', String(row.id)).execute();
    expect(events.map((e) => e.action)).toContain('user.totp_disable');
    const next = await startSignIn('off@example.com');
    expect(next.response.headers.get('location')).toBe('/');
  });

  it('limits code attempts per account (429 with Retry-After)', async () => {
    await enrol('guess@example.com');
    const { browser } = await startSignIn('guess@example.com');
    await browser.get('/auth/2fa');
    let last: Response | undefined;
    for (let i = 0; i < 11; i++) last = await browser.post('/auth/2fa', { code: String(100000 + i) });
    expect(last!.status).toBe(429);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
