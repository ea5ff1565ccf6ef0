import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { describeUserAgent } from '../../src/auth/sessions.js';
import { describeEachBackend } from '../helpers/db.js';
import { openHarness, type Harness } from './harness.js';

const DAY = 86_400_000;
const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const SAFARI_IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

describeEachBackend('sessions', (backend) => {
  let h: Harness;
  beforeAll(async () => {
    h = await openHarness(backend);
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  const signedIn = async (browser: { get(path: string): Promise<Response> }) => (await browser.get('/settings/sessions')).status === 200;

  it('ends after 7 days without use', async () => {
    const browser = await h.signIn('idle@example.com');
    expect(await signedIn(browser)).toBe(true);
    h.clock.advance(7 * DAY + 1000);
    const response = await browser.get('/settings/sessions');
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/sign-in');
  });

  it('stays while used, but ends 30 days after sign-in regardless', async () => {
    const browser = await h.signIn('busy@example.com');
    for (let day = 6; day < 30; day += 6) {
      h.clock.advance(6 * DAY);
      expect(await signedIn(browser)).toBe(true);
    }
    h.clock.advance(6 * DAY); // day 30
    expect(await signedIn(browser)).toBe(false);
  });

  it('lists the sessions with device, address and last use; revokes one', async () => {
    const laptop = await h.signIn('multi@example.com', { ip: '198.51.100.1', userAgent: FIREFOX_LINUX });
    h.clock.advance(120_000);
    const phone = await h.signIn('multi@example.com', { ip: '2001:db8::7', userAgent: SAFARI_IPHONE });

    const page = await laptop.get('/settings/sessions');
    const html = await page.text();
    expect(html).toContain('Firefox on Linux');
    expect(html).toContain('Safari on iOS');
    expect(html).toContain('198.51.100.1');
    expect(html).toContain('2001:db8::7');
    expect(html.match(/this browser/g)).toHaveLength(1);

    const sessions = await h.database.db
      .selectFrom('user_session')
      .innerJoin('user_account', 'user_account.id', 'user_session.user_id')
      .select(['user_session.id', 'user_session.user_agent'])
      .where('user_account.email', '=', 'multi@example.com')
      .execute();
    const phoneSession = sessions.find((s) => s.user_agent === SAFARI_IPHONE)!;

    const revoked = await laptop.post(`/settings/sessions/${phoneSession.id}/revoke`, {});
    expect(revoked.status).toBe(303);
    expect(revoked.headers.get('location')).toBe('/settings/sessions');
    expect(await signedIn(phone)).toBe(false);
    expect(await signedIn(laptop)).toBe(true);
    const event = await h.database.db.selectFrom('audit_event').select(['action', 'target_id']).where('action', '=', 'session.revoke').execute();
    expect(event).toContainEqual({ action: 'session.revoke', target_id: String(phoneSession.id) });
  });

  it("cannot revoke someone else's session", async () => {
    const victim = await h.signIn('victim-s@example.com');
    const other = await h.signIn('other-s@example.com');
    await other.get('/settings/sessions');
    const victimSession = await h.database.db
      .selectFrom('user_session')
      .innerJoin('user_account', 'user_account.id', 'user_session.user_id')
      .select('user_session.id')
      .where('user_account.email', '=', 'victim-s@example.com')
      .executeTakeFirstOrThrow();
    const response = await other.post(`/settings/sessions/${victimSession.id}/revoke`, {});
    expect(response.status).toBe(404);
    expect(await signedIn(victim)).toBe(true);
  });

  it('signs out everywhere, this browser included', async () => {
    const a = await h.signIn('everywhere@example.com');
    const b = await h.signIn('everywhere@example.com', { ip: '198.51.100.2' });
    const bystander = await h.signIn('bystander@example.com');
    await a.get('/settings/sessions');
    const response = await a.post('/settings/sessions/revoke-all', {});
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/sign-in');
    expect(response.headers.getSetCookie()).toEqual(['__Host-dmw_session=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax']);
    expect(await signedIn(b)).toBe(false);
    a.cookies.set('__Host-dmw_session', 'kept-by-a-careless-browser'.padEnd(43, 'x'));
    expect(await signedIn(a)).toBe(false);
    expect(await signedIn(bystander)).toBe(true);
    const event = await h.database.db.selectFrom('audit_event').select(['action', 'summary']).where('action', '=', 'session.revoke_all').executeTakeFirstOrThrow();
    expect(event.summary).toEqual({ sessions: 2 });
  });

  it('signs out: the session is revoked server-side, not only forgotten by the browser', async () => {
    const browser = await h.signIn('bye@example.com');
    const token = browser.cookies.get('__Host-dmw_session')!;
    await browser.get('/settings/sessions');
    expect((await browser.post('/sign-out', {})).status).toBe(303);
    const replay = h.browser();
    replay.cookies.set('__Host-dmw_session', token);
    expect(await signedIn(replay)).toBe(false);
    const events = await h.database.db.selectFrom('audit_event').select('action').where('action', '=', 'session.sign_out').execute();
    expect(events.length).toBeGreaterThan(0);
  });

  it('sends anonymous visitors of account pages to sign-in, and scripts get 401', async () => {
    const browser = h.browser();
    const page = await browser.get('/settings/security');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/sign-in');
    const api = await browser.get('/settings/sessions', { accept: 'application/json' });
    expect(api.status).toBe(401);
  });
});

describe('describeUserAgent', () => {
  it.each([
    [FIREFOX_LINUX, 'Firefox on Linux'],
    [SAFARI_IPHONE, 'Safari on iOS'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0', 'Edge on Windows'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36', 'Chrome on macOS'],
    ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36', 'Chrome on Android'],
    ['curl/8.5.0', 'curl'],
    [null, 'Unknown device'],
    ['something else', 'Unknown device'],
  ])('%s → %s', (ua, expected) => expect(describeUserAgent(ua)).toBe(expected));
});
