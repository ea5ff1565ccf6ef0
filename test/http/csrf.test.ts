import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { csrfTokenFor } from '../../src/http/csrf.js';
import { hashToken } from '../../src/lib/crypto/index.js';
import { openHarness, tokenOf, type Browser, type Harness } from '../auth/harness.js';
import { describeEachBackend } from '../helpers/db.js';

describeEachBackend('CSRF protection', (backend) => {
  let h: Harness;
  let browser: Browser;
  beforeAll(async () => {
    h = await openHarness(backend, { DMARCWATCH_TRUSTED_PROXIES: '10.0.0.0/8, fd00::/8' });
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
    browser = await h.signIn(`csrf-${Math.random().toString(36).slice(2)}@example.com`);
    await browser.get('/settings/sessions');
  });

  const stillSignedIn = async () => (await browser.get('/settings/sessions')).status === 200;

  it('puts the session token into every form of a signed-in page', async () => {
    const html = await (await browser.get('/settings/sessions')).text();
    const token = csrfTokenFor(browser.cookies.get('__Host-dmw_session')!);
    const forms = html.match(/<form /g)!.length;
    expect(html.match(new RegExp(`name="_csrf" value="${token}"`, 'g'))).toHaveLength(forms);
  });

  it('refuses a cross-origin POST even with a valid session cookie', async () => {
    const response = await browser.post('/settings/sessions/revoke-all', {}, { origin: 'https://evil.example' });
    expect(response.status).toBe(403);
    expect(response.headers.getSetCookie()).toEqual([]);
    expect(await stillSignedIn()).toBe(true);
  });

  it('refuses a look-alike origin: scheme, port and subdomain all count', async () => {
    for (const origin of ['http://dmarc.example.com', 'https://dmarc.example.com:8443', 'https://evil.dmarc.example.com', 'null']) {
      expect((await browser.post('/settings/sessions/revoke-all', {}, { origin })).status).toBe(403);
    }
    expect(await stillSignedIn()).toBe(true);
  });

  it('refuses a same-origin POST without the token, or with a wrong one', async () => {
    expect((await browser.post('/settings/sessions/revoke-all', {}, { csrf: null })).status).toBe(403);
    expect((await browser.post('/settings/sessions/revoke-all', {}, { csrf: csrfTokenFor('A'.repeat(43)) })).status).toBe(403);
    expect((await browser.post('/settings/sessions/revoke-all', {}, { csrf: '' })).status).toBe(403);
    expect(await stillSignedIn()).toBe(true);
  });

  it('accepts a same-origin POST with the token, in the form or the X-CSRF-Token header', async () => {
    const token = browser.csrf!;
    const header = await browser.post('/settings/security/totp/enrol', {}, { csrf: null, headers: { 'x-csrf-token': token } });
    expect(header.status).toBe(303);
    const response = await browser.post('/settings/sessions/revoke-all', {});
    expect(response.status).toBe(303);
    expect(await stillSignedIn()).toBe(false);
  });

  it('falls back to Referer when Origin is missing, and refuses when both are', async () => {
    const referer = await browser.post('/settings/security/totp/enrol', {}, { origin: null, headers: { referer: 'https://dmarc.example.com/settings/security' } });
    expect(referer.status).toBe(303);
    const foreign = await browser.post('/settings/security/totp/enrol', {}, { origin: null, headers: { referer: 'https://evil.example/page' } });
    expect(foreign.status).toBe(403);
    expect((await browser.post('/settings/security/totp/enrol', {}, { origin: null })).status).toBe(403);
  });

  it('protects sign-in forms too: a forged confirmation cannot sign a victim into the attacker’s account', async () => {
    const attacker = h.browser();
    const link = await attacker.requestLink('attacker@example.com', h.smtp);
    const victim = h.browser();
    const forged = await victim.post('/auth/confirm', { token: tokenOf(link) }, { origin: 'https://evil.example' });
    expect(forged.status).toBe(403);
    expect(victim.cookies.size).toBe(0);
    const row = await h.database.db.selectFrom('magic_link').select('used_at').where('token_hash', '=', hashToken(tokenOf(link))).executeTakeFirstOrThrow();
    expect(row.used_at).toBeNull();
    expect((await h.browser().post('/sign-in', { email: 'x@example.com' }, { origin: 'https://evil.example' })).status).toBe(403);
  });

  it('works behind a TLS-terminating proxy: the public URL decides, not Host or the scheme the app sees', async () => {
    const response = await browser.request(
      'http://dmarcwatch-internal:8080/settings/sessions/revoke-all',
      {
        method: 'POST',
        headers: {
          origin: 'https://dmarc.example.com',
          'x-forwarded-proto': 'https',
          'x-forwarded-for': '198.51.100.9',
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: `_csrf=${browser.csrf}`,
      },
      '10.1.2.3',
    );
    expect(response.status).toBe(303);
    const event = await h.database.db.selectFrom('audit_event').select(['action', 'ip']).orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
    expect(event).toEqual({ action: 'session.revoke_all', ip: '198.51.100.9' });
  });

  it('behind a proxy still refuses a foreign origin, and an Origin matching only the internal Host', async () => {
    for (const origin of ['https://evil.example', 'http://dmarcwatch-internal:8080']) {
      const response = await browser.request(
        'http://dmarcwatch-internal:8080/settings/sessions/revoke-all',
        {
          method: 'POST',
          headers: { origin, 'x-forwarded-proto': 'https', 'content-type': 'application/x-www-form-urlencoded' },
          body: `_csrf=${browser.csrf}`,
        },
        '10.1.2.3',
      );
      expect(response.status).toBe(403);
    }
  });

  it('leaves requests with an Authorization header (API clients) to their own authentication', async () => {
    const response = await h.browser().request('/api/v1/anything', { method: 'POST', headers: { authorization: 'Bearer dmw_x' } });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');
  });
});
