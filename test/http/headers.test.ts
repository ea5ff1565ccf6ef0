import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY } from '../../src/http/security-headers.js';
import { openHarness, type Browser, type Harness } from '../auth/harness.js';

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

describe('security headers', () => {
  let h: Harness;
  let user: Browser;
  beforeAll(async () => {
    h = await openHarness('pglite');
    user = await h.signIn('headers@example.com');
  });
  afterAll(() => h.close());

  const pages: Array<[string, 'anonymous' | 'user']> = [
    ['/sign-in', 'anonymous'],
    ['/sign-in/sent', 'anonymous'],
    ['/auth/confirm?token=nope', 'anonymous'],
    ['/auth/2fa', 'anonymous'],
    ['/', 'user'],
    ['/settings/sessions', 'user'],
    ['/settings/security', 'user'],
    ['/healthz', 'anonymous'],
    ['/no/such/page', 'anonymous'],
    ['/assets/app.css', 'anonymous'],
    ['/assets/copy.js', 'anonymous'],
  ];

  it('uses exactly the documented policy', () => expect(CONTENT_SECURITY_POLICY).toBe(CSP));

  it.each(pages)('%s carries CSP, HSTS and the rest', async (path, who) => {
    const response = who === 'user' ? await user.get(path) : await h.browser().get(path);
    const headers = response.headers;
    expect(headers.get('content-security-policy')).toBe(CSP);
    expect(headers.get('strict-transport-security')).toBe('max-age=31536000');
    expect(headers.get('x-content-type-options')).toBe('nosniff');
    expect(headers.get('x-frame-options')).toBe('DENY');
    expect(headers.get('referrer-policy')).toBe('same-origin');
    expect(headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    if (path.startsWith('/assets/')) expect(headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    else expect(headers.get('cache-control')).toBe('no-store');
  });

  it.each(pages.filter(([path]) => !path.startsWith('/assets') && path !== '/healthz' && path !== '/no/such/page'))(
    '%s has no inline script or style and loads the versioned stylesheet',
    async (path, who) => {
      const html = await (who === 'user' ? await user.get(path) : await h.browser().get(path)).text();
      if (!html.startsWith('<!doctype html>')) return; // redirects
      expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=|javascript:/i);
      expect(html).toMatch(/<link rel="stylesheet" href="\/assets\/app\.css\?v=[0-9a-f]{12}"\/?>/);
      // One script, a versioned file of ours, empty: nothing inline.
      expect(html.match(/<script[^>]*>[^<]*<\/script>/g)).toEqual([expect.stringMatching(/^<script src="\/assets\/copy\.js\?v=[0-9a-f]{12}" defer(="")?><\/script>$/)]);
      expect(html.match(/<script/g)).toHaveLength(1);
    },
  );

  it('serves the copy-button script as JavaScript, cached for a year', async () => {
    const response = await h.browser().get('/assets/copy.js');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await response.text()).toContain('navigator.clipboard.writeText');
  });

  it('serves the stylesheet as CSS', async () => {
    const response = await h.browser().get('/assets/app.css');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await response.text()).toContain('.site-header');
    expect((await h.browser().get('/assets/nope.css')).status).toBe(404);
    expect((await h.browser().get('/assets/..%2Fapp.ts')).status).toBe(404);
  });

  it('limits form bodies (413)', async () => {
    const response = await h.browser().post('/sign-in', { email: `${'a'.repeat(70 * 1024)}@example.com` });
    expect(response.status).toBe(413);
  });
});

describe('security headers on http://localhost', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await openHarness('pglite', { DMARCWATCH_PUBLIC_URL: 'http://localhost:8080' });
  });
  afterAll(() => h.close());

  it('sends no HSTS over plain http', async () => {
    const response = await h.browser().get('http://localhost:8080/sign-in');
    expect(response.headers.get('strict-transport-security')).toBeNull();
    expect(response.headers.get('content-security-policy')).toBe(CSP);
  });
});
