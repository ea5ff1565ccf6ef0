import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orgWith, signedIn, type Member } from '../api/harness.js';
import { openHarness, type Harness } from '../auth/harness.js';
import { totpCodeAt } from '../../src/auth/totp.js';

/** The Copy button for `target` as the page sends it: hidden until /assets/copy.js shows it, with its status region. */
function expectCopyButton(html: string, target: string, name: string): void {
  expect(html).toContain(`<button type="button" class="secondary copy-button" data-copy="${target}" aria-label="${name}" hidden="">Copy</button>`);
  expect(html).toContain(`<span class="copy-status" role="status" aria-live="polite" data-copy-status="${target}"></span>`);
}

describe('values to copy', () => {
  let h: Harness;
  let owner: Member;
  let org: { id: number; slug: string };
  beforeAll(async () => {
    h = await openHarness('pglite');
    owner = await signedIn(h, 'owner@copy.example');
    org = await orgWith(h, 'Copy Ltd', owner);
  });
  afterAll(() => h.close());

  it('shows a new API key once, in a read-only field with a Copy button', async () => {
    await owner.browser.get(`/o/${org.slug}/settings/api-keys`);
    const response = await owner.browser.post(`/o/${org.slug}/settings/api-keys`, { name: 'CI', scope: 'read', expires: '' });
    expect(response.status).toBe(200);
    const html = await response.text();
    const key = /<input type="text" id="new-key" class="secret" readonly="" value="(dmw_[A-Za-z0-9_-]{43})"/.exec(html)?.[1];
    expect(key).toBeDefined();
    expectCopyButton(html, 'new-key', 'Copy the API key');
    expect(html).toMatch(/<script src="\/assets\/copy\.js\?v=[0-9a-f]{12}" defer=""><\/script>/);
    expect(await (await owner.browser.get(`/o/${org.slug}/settings/api-keys`)).text()).not.toContain(key);
  });

  it('offers the TOTP secret, its URI and the recovery codes for copying', async () => {
    await owner.browser.get('/settings/security');
    expect((await owner.browser.post('/settings/security/totp/enrol', {})).status).toBe(303);
    const page = await (await owner.browser.get('/settings/security')).text();
    const secret = /id="totp-secret" class="secret" readonly="" value="([A-Z2-7]+)"/.exec(page)?.[1];
    expect(secret).toBeDefined();
    expect(page).toMatch(/id="totp-uri" class="secret" readonly="" value="otpauth:\/\/totp\//);
    expectCopyButton(page, 'totp-secret', 'Copy the secret key');
    expectCopyButton(page, 'totp-uri', 'Copy the setup URI');

    const confirmed = await (await owner.browser.post('/settings/security/totp/confirm', { code: totpCodeAt(secret!, h.clock()) })).text();
    expect(confirmed).toContain('<ul class="codes" id="recovery-codes"');
    expect(confirmed.match(/<li>[a-z2-9]{5}-[a-z2-9]{5}<\/li>/g)).toHaveLength(10);
    expectCopyButton(confirmed, 'recovery-codes', 'Copy all recovery codes');
  });
});
