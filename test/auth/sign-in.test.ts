import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/lib/crypto/index.js';
import { describeEachBackend } from '../helpers/db.js';
import { linkIn, openHarness, tokenOf, type Browser, type Harness } from './harness.js';

/** Whom the browser's session belongs to, as the API tells it (null when not signed in). */
async function signedInAs(browser: Browser): Promise<string | null> {
  const response = await browser.request('/api/v1/me', { headers: { accept: 'application/json' } });
  if (response.status !== 200) return null;
  return ((await response.json()) as { email?: string }).email ?? null;
}

const MINUTE = 60_000;

describeEachBackend('sign-in with a magic link', (backend) => {
  let h: Harness;
  beforeAll(async () => {
    h = await openHarness(backend);
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  const linkRow = (token: string) =>
    h.database.db.selectFrom('magic_link').selectAll().where('token_hash', '=', hashToken(token)).executeTakeFirstOrThrow();

  it('signs in through the link that arrives by mail, creating the account', async () => {
    const browser = h.browser();
    const form = await browser.get('/sign-in');
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('name="email"');

    const requested = await browser.post('/sign-in', { email: 'Alice@Example.com ' });
    expect(requested.status).toBe(303);
    expect(requested.headers.get('location')).toBe('/sign-in/sent');
    expect(requested.headers.getSetCookie()).toEqual([]);
    expect((await browser.get('/sign-in/sent')).status).toBe(200);

    const mail = await h.smtp.nextMailTo('alice@example.com');
    expect(mail.subject).toBe('Sign in to DMARC Watch');
    expect(mail.from).toBe('noreply@dmarc.example.com');
    const link = linkIn(mail.text);
    expect(mail.html).toContain(`href="${link}"`);
    expect(mail.html).not.toMatch(/<img|<style|style=|<script|https?:\/\/(?!dmarc\.example\.com)/i);
    expect(tokenOf(link)).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const row = await linkRow(tokenOf(link));
    expect(row.email).toBe('alice@example.com');
    expect(row.requested_ip).toBe('203.0.113.10');
    expect(new Date(row.expires_at).getTime() - new Date(row.created_at).getTime()).toBe(15 * MINUTE);
    const stored = await h.database.db.selectFrom('magic_link').select('token_hash').execute();
    expect(JSON.stringify(stored)).not.toContain(tokenOf(link));

    const confirm = await browser.get(link);
    expect(confirm.status).toBe(200);
    const page = await confirm.text();
    expect(page).toContain('alice@example.com');
    expect(page).toContain('method="post" action="/auth/confirm"');
    expect(browser.cookies.size).toBe(0);

    const signedIn = await browser.post('/auth/confirm', { token: tokenOf(link) });
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get('location')).toBe('/');
    expect(browser.cookies.has('__Host-dmw_session')).toBe(true);

    expect(await signedInAs(browser)).toBe('alice@example.com');

    const user = await h.database.db.selectFrom('user_account').selectAll().where('email', '=', 'alice@example.com').executeTakeFirstOrThrow();
    expect(user.last_sign_in_at).not.toBeNull();
    const events = await h.database.db.selectFrom('audit_event').select(['action', 'actor_id', 'ip']).orderBy('id').execute();
    expect(events).toEqual(
      expect.arrayContaining([
        { action: 'user.create', actor_id: String(user.id), ip: '203.0.113.10' },
        { action: 'session.sign_in', actor_id: String(user.id), ip: '203.0.113.10' },
      ]),
    );
  });

  it('refuses a link that was already used', async () => {
    const browser = h.browser();
    const link = await browser.requestLink('reuse@example.com', h.smtp);
    expect((await browser.post('/auth/confirm', { token: tokenOf(link) })).status).toBe(303);

    const other = h.browser({ ip: '198.51.100.20' });
    const again = await other.post('/auth/confirm', { token: tokenOf(link) });
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('already been used');
    expect(again.headers.getSetCookie()).toEqual([]);
    expect((await other.get(link)).status).toBe(400);
  });

  it('refuses an expired link', async () => {
    const browser = h.browser();
    const link = await browser.requestLink('late@example.com', h.smtp);
    await h.database.db
      .updateTable('magic_link')
      .set({ expires_at: new Date(h.clock().getTime() - 1000) })
      .where('token_hash', '=', hashToken(tokenOf(link)))
      .execute();
    expect((await browser.get(link)).status).toBe(400);
    const response = await browser.post('/auth/confirm', { token: tokenOf(link) });
    expect(response.status).toBe(400);
    expect(browser.cookies.size).toBe(0);
  });

  it('lets a link expire 15 minutes after it was requested', async () => {
    const browser = h.browser();
    const link = await browser.requestLink('slow@example.com', h.smtp);
    h.clock.advance(15 * MINUTE);
    expect((await browser.post('/auth/confirm', { token: tokenOf(link) })).status).toBe(400);
  });

  it('signs in only the address the link was sent to', async () => {
    const dave = h.browser();
    const daveLink = await dave.requestLink('dave@example.com', h.smtp);
    const erinLink = await h.browser().requestLink('erin@example.com', h.smtp);

    // An address smuggled into the form changes nothing: the link decides.
    const response = await dave.post('/auth/confirm', { token: tokenOf(daveLink), email: 'erin@example.com' });
    expect(response.status).toBe(303);
    expect(await signedInAs(dave)).toBe('dave@example.com');
    expect(await h.database.db.selectFrom('user_account').select('id').where('email', '=', 'erin@example.com').executeTakeFirst()).toBeUndefined();
    expect((await linkRow(tokenOf(erinLink))).used_at).toBeNull();

    // The link follows the address, not an account: once the account moved to another address,
    // a link for the old one no longer reaches it.
    await dave.get('/settings/sessions'); // a signed-in page, as a browser would have open: its CSRF token
    const again = await dave.requestLink('dave@example.com', h.smtp);
    await h.database.db.updateTable('user_account').set({ email: 'dave.new@example.com' }).where('email', '=', 'dave@example.com').execute();
    const fresh = h.browser();
    await fresh.post('/auth/confirm', { token: tokenOf(again) });
    expect(await signedInAs(fresh)).toBe('dave@example.com');
    const accounts = await h.database.db.selectFrom('user_account').select('email').where('email', 'like', 'dave%').orderBy('email').execute();
    expect(accounts.map((a) => a.email)).toEqual(['dave.new@example.com', 'dave@example.com']);
  });

  it('never signs in or uses up the link on GET (mail scanners prefetch links)', async () => {
    const browser = h.browser();
    const link = await browser.requestLink('prefetch@example.com', h.smtp);
    const scanner = h.browser({ ip: '192.0.2.99', userAgent: 'LinkScanner/1.0' });
    for (let i = 0; i < 2; i++) {
      const page = await scanner.get(link);
      expect(page.status).toBe(200);
      expect(page.headers.getSetCookie()).toEqual([]);
    }
    expect((await scanner.request(link, { method: 'HEAD' })).headers.getSetCookie()).toEqual([]);
    expect((await linkRow(tokenOf(link))).used_at).toBeNull();
    expect(await h.database.db.selectFrom('user_session').select('id').where('user_agent', '=', 'LinkScanner/1.0').execute()).toEqual([]);

    expect((await browser.post('/auth/confirm', { token: tokenOf(link) })).status).toBe(303);
    expect((await h.browser().post('/auth/confirm', { token: tokenOf(link) })).status).toBe(400);
  });

  it('answers a known and an unknown address identically, doing the same database work', async () => {
    await h.signIn('known@example.com');
    const answers: Array<{ status: number; location: string | null; body: string; headers: string[]; queries: string[]; mail: string }> = [];
    for (const email of ['known@example.com', 'nobody@example.com']) {
      const browser = h.browser({ ip: '198.51.100.77' });
      await h.apiRateLimiter.flush(); // its once-a-second write would otherwise land in the measurement
      h.queries.entries = [];
      const response = await browser.post('/sign-in', { email });
      const queries = [...h.queries.entries];
      const mail = await h.smtp.nextMailTo(email);
      answers.push({
        status: response.status,
        location: response.headers.get('location'),
        body: await response.text(),
        headers: [...response.headers].filter(([name]) => name !== 'x-request-id').map(([name, value]) => `${name}: ${value}`),
        queries,
        mail: mail.text.replace(/token=[A-Za-z0-9_-]+/, 'token=…'),
      });
    }
    const [known, unknown] = answers as [(typeof answers)[0], (typeof answers)[0]];
    expect(unknown).toEqual(known);
    expect(known.queries.length).toBeGreaterThan(0);
    expect(known.queries.some((q) => q.includes('user_account'))).toBe(false);
  });

  it('replaces any session cookie the browser had: no session fixation', async () => {
    // The attacker's own valid session, planted in the victim's browser…
    const attacker = await h.signIn('mallory@example.com');
    const planted = attacker.cookies.get('__Host-dmw_session') as string;
    const victim = h.browser();
    victim.cookies.set('__Host-dmw_session', planted);
    expect(await (await victim.get('/')).text()).toContain('mallory@example.com');

    const link = await victim.requestLink('victim@example.com', h.smtp);
    await victim.get(link);
    const response = await victim.post('/auth/confirm', { token: tokenOf(link) });
    expect(response.status).toBe(303);
    const issued = victim.cookies.get('__Host-dmw_session') as string;
    expect(issued).not.toBe(planted);
    expect(await signedInAs(victim)).toBe('victim@example.com');
    // …is ended, not carried over.
    expect((await attacker.get('/')).status).toBe(303);

    // A made-up value is ignored just the same.
    const other = h.browser();
    other.cookies.set('__Host-dmw_session', 'A'.repeat(43));
    const link2 = await other.requestLink('victim2@example.com', h.smtp);
    await other.post('/auth/confirm', { token: tokenOf(link2) });
    expect(other.cookies.get('__Host-dmw_session')).not.toBe('A'.repeat(43));
    expect(await h.database.db.selectFrom('user_session').select('id').where('token_hash', '=', hashToken('A'.repeat(43))).execute()).toEqual([]);
  });

  it('sets the session cookie with exactly these flags, and clears it on sign-out', async () => {
    const browser = h.browser();
    const link = await browser.requestLink('flags@example.com', h.smtp);
    const response = await browser.post('/auth/confirm', { token: tokenOf(link) });
    const cookies = response.headers.getSetCookie();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatch(/^__Host-dmw_session=[A-Za-z0-9_-]{43}; Max-Age=2592000; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    await browser.get('/');
    const out = await browser.post('/sign-out', {});
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/sign-in');
    expect(out.headers.getSetCookie()).toEqual(['__Host-dmw_session=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax']);
  });

  it('refuses a malformed address without sending anything', async () => {
    const sent = h.smtp.messages.length;
    const response = await h.browser().post('/sign-in', { email: 'not an address' });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('aria-invalid="true"');
    expect(h.smtp.messages.length).toBe(sent);
  });
});

describe('session cookie on http://localhost', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await openHarness('pglite', { DMARCWATCH_PUBLIC_URL: 'http://localhost:8080' });
  });
  afterAll(() => h.close());

  it('drops Secure, and with it the __Host- prefix', async () => {
    const browser = h.browser();
    const response = await browser.request('http://localhost:8080/sign-in', {
      method: 'POST',
      headers: { origin: 'http://localhost:8080', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'email=dev%40example.com',
    });
    expect(response.status).toBe(303);
    const mail = await h.smtp.nextMailTo('dev@example.com');
    const link = /http:\/\/localhost:8080\/auth\/confirm\?token=([A-Za-z0-9_-]+)/.exec(mail.text);
    expect(link).not.toBeNull();
    const confirmed = await browser.request('http://localhost:8080/auth/confirm', {
      method: 'POST',
      headers: { origin: 'http://localhost:8080', 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${link![1]}`,
    });
    expect(confirmed.headers.getSetCookie()).toEqual([expect.stringMatching(/^dmw_session=[A-Za-z0-9_-]{43}; Max-Age=2592000; Path=\/; HttpOnly; SameSite=Lax$/)]);
  });
});

describeEachBackend('sign-up policy', (backend) => {
  async function confirm(h: Harness, email: string) {
    const browser = h.browser();
    const link = await browser.requestLink(email, h.smtp);
    const response = await browser.post('/auth/confirm', { token: tokenOf(link) });
    const user = await h.database.db.selectFrom('user_account').selectAll().where('email', '=', email).executeTakeFirst();
    return { response, user, browser };
  }

  it('open: the first account becomes instance admin, later ones do not', async () => {
    const h = await openHarness(backend);
    try {
      const first = await confirm(h, 'first@example.com');
      expect(first.user?.instance_admin).toBe(true);
      const second = await confirm(h, 'second@example.com');
      expect(second.response.status).toBe(303);
      expect(second.user?.instance_admin).toBe(false);
    } finally {
      await h.close();
    }
  });

  it('closed: no new accounts, but existing ones and DMARCWATCH_ADMIN_EMAIL still sign in', async () => {
    const h = await openHarness(backend, { DMARCWATCH_SIGNUP: 'closed', DMARCWATCH_ADMIN_EMAIL: 'Root@Example.com' });
    try {
      const stranger = await confirm(h, 'stranger@example.com');
      expect(stranger.response.status).toBe(403);
      expect(await stranger.response.text()).toContain('does not accept new accounts');
      expect(stranger.user).toBeUndefined();
      expect(stranger.browser.cookies.size).toBe(0);

      const admin = await confirm(h, 'root@example.com');
      expect(admin.response.status).toBe(303);
      expect(admin.user?.instance_admin).toBe(true);

      await h.database.db.insertInto('user_account').values({ email: 'member@example.com' }).execute();
      expect((await confirm(h, 'member@example.com')).response.status).toBe(303);
    } finally {
      await h.close();
    }
  });

  it('invite: only an address with a pending invitation gets an account', async () => {
    const h = await openHarness(backend, { DMARCWATCH_SIGNUP: 'invite' });
    try {
      expect((await confirm(h, 'uninvited@example.com')).response.status).toBe(403);
      const org = await h.database.db.selectFrom('organization').select('id').executeTakeFirstOrThrow();
      await h.database.db
        .insertInto('invitation')
        .values({ org_id: org.id, email: 'Invited@example.com', role: 'member', token_hash: hashToken('x'), expires_at: new Date(h.clock().getTime() + 86_400_000) })
        .execute();
      const invited = await confirm(h, 'invited@example.com');
      expect(invited.response.status).toBe(303);
      // No admin address and nobody before: the first account runs the instance.
      expect(invited.user?.instance_admin).toBe(true);
    } finally {
      await h.close();
    }
  });

  it('makes DMARCWATCH_ADMIN_EMAIL instance admin when it signs in, even if the account already existed', async () => {
    const h = await openHarness(backend, { DMARCWATCH_ADMIN_EMAIL: 'boss@example.com' });
    try {
      const someone = await confirm(h, 'someone@example.com');
      expect(someone.user?.instance_admin).toBe(false);
      await h.database.db.insertInto('user_account').values({ email: 'boss@example.com' }).execute();
      const boss = await confirm(h, 'boss@example.com');
      expect(boss.user?.instance_admin).toBe(true);
      const grant = await h.database.db.selectFrom('audit_event').select(['action', 'actor_type']).where('action', '=', 'user.instance_admin_grant').execute();
      expect(grant).toEqual([{ action: 'user.instance_admin_grant', actor_type: 'system' }]);
    } finally {
      await h.close();
    }
  });
});
