import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCodeAt } from '../../src/auth/totp.js';
import { loggablePath } from '../../src/http/request-log.js';
import { openHarness, recoveryCodesOnPage, tokenOf, totpSecretOnPage, type Harness } from '../auth/harness.js';

const SMTP_PASSWORD = 'smtp-Pa55word-do-not-log';

describe('request log', () => {
  let h: Harness;
  const secrets: string[] = [SMTP_PASSWORD];
  beforeAll(async () => {
    h = await openHarness('pglite', { DMARCWATCH_TRUSTED_PROXIES: '10.0.0.1' }, { smtpAuth: { user: 'mailer', pass: SMTP_PASSWORD } });
  });
  afterAll(() => h.close());

  it('authenticates to SMTP with the credentials from SMTP_URL', async () => {
    await h.browser().post('/sign-in', { email: 'auth-check@example.com' });
    expect((await h.smtp.nextMailTo('auth-check@example.com')).user).toBe('mailer');
  });

  it('logs one JSON line per request with id, method, path, status, client address and timing', async () => {
    const before = h.logs.length;
    const response = await h.browser({ ip: '198.51.100.4' }).get('/sign-in?next=%2Fsecret');
    const lines = h.logs.slice(before).map((line) => JSON.parse(line) as Record<string, unknown>);
    const access = lines.find((l) => l.msg === 'request')!;
    expect(access).toMatchObject({ level: 'info', method: 'GET', path: '/sign-in', status: 200, ip: '198.51.100.4', proto: 'http' });
    expect(access.requestId).toBe(response.headers.get('x-request-id'));
    expect(typeof access.ms).toBe('number');
  });

  it('keeps the X-Request-Id of a trusted proxy and replaces anyone else’s', async () => {
    const proxied = await h.browser().request('/sign-in', { headers: { 'x-request-id': 'edge-42' } }, '10.0.0.1');
    expect(proxied.headers.get('x-request-id')).toBe('edge-42');
    const direct = await h.browser().request('/sign-in', { headers: { 'x-request-id': 'edge-43' } });
    expect(direct.headers.get('x-request-id')).not.toBe('edge-43');
    const bad = await h.browser().request('/sign-in', { headers: { 'x-request-id': 'a b "forged"' } }, '10.0.0.1');
    expect(bad.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('never writes tokens, cookies, codes or SMTP credentials to the log', async () => {
    const browser = h.browser();
    const link = await browser.requestLink('secrets@example.com', h.smtp);
    secrets.push(tokenOf(link));
    await browser.get(link);
    await browser.post('/auth/confirm', { token: tokenOf(link) });
    secrets.push(browser.cookies.get('__Host-dmw_session')!);
    await browser.get('/settings/security');
    secrets.push(browser.csrf!);
    await browser.post('/settings/security/totp/enrol', {});
    const page = await (await browser.get('/settings/security')).text();
    const secret = totpSecretOnPage(page);
    secrets.push(secret);
    const codes = recoveryCodesOnPage(await (await browser.post('/settings/security/totp/confirm', { code: totpCodeAt(secret, h.clock()) })).text());
    expect(codes.length).toBeGreaterThan(0);
    secrets.push(...codes, ...codes.map((c) => c.replace('-', '')));

    const second = h.browser();
    const link2 = await second.requestLink('secrets@example.com', h.smtp);
    secrets.push(tokenOf(link2));
    await second.get(link2);
    await second.post('/auth/confirm', { token: tokenOf(link2) });
    secrets.push(second.cookies.get('__Host-dmw_session')!);
    await second.get('/auth/2fa');
    secrets.push(second.csrf!);
    await second.post('/auth/2fa', { code: codes[0]! });
    secrets.push(second.cookies.get('__Host-dmw_session')!);

    // Refusals and errors log too.
    await second.post('/settings/sessions/revoke-all', {}, { origin: 'https://evil.example' });
    await second.post('/settings/sessions/revoke-all', {}, { csrf: 'forged-token-value-forged-token-value-xx' });
    await h.browser().get(`/auth/confirm?token=${tokenOf(link)}`);
    await h.browser().get(`/some/path/${tokenOf(link)}`);

    const log = h.logs.join('\n');
    expect(log).toContain('"msg":"request"');
    expect(log).toContain('"msg":"cross-site request refused"');
    for (const value of secrets) expect(log, `log contains ${value.slice(0, 6)}…`).not.toContain(value);
    expect(log).not.toContain('forged-token-value');
    expect(log).not.toMatch(/token=/);
  });

  it('drops the query string and token-like path segments', () => {
    expect(loggablePath('/invite/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-AbC/accept')).toBe('/invite/[redacted]/accept');
    expect(loggablePath('/orgs/acme/reports/42')).toBe('/orgs/acme/reports/42');
  });
});
