import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { ipRateKey } from '../../src/http/client-ip.js';
import { addressRateKey, hitRateLimit, pruneRateLimits, RATE_LIMITS } from '../../src/http/rate-limit.js';
import { silentLogger } from '../../src/lib/logger.js';
import { Browser, openHarness, type Harness } from '../auth/harness.js';
import { describeEachBackend } from '../helpers/db.js';

describeEachBackend('rate limits', (backend) => {
  let h: Harness;
  beforeAll(async () => {
    h = await openHarness(backend);
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  it('counts hits in a fixed window and starts over when it ends', async () => {
    const rule = { limit: 3, windowMs: 60_000 };
    const t0 = new Date('2026-01-01T00:00:00Z');
    const at = (ms: number) => new Date(t0.getTime() + ms);
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await hitRateLimit(h.database.db, 'unit', rule, at(i * 1000)));
    expect(results.map((r) => [r.allowed, r.hits])).toEqual([
      [true, 1],
      [true, 2],
      [true, 3],
      [false, 4],
      [false, 5],
    ]);
    expect(results[4]!.retryAfterSeconds).toBe(56);
    const fresh = await hitRateLimit(h.database.db, 'unit', rule, at(60_000));
    expect(fresh).toEqual({ allowed: true, hits: 1, retryAfterSeconds: 0 });
    expect(await pruneRateLimits(h.database.db, at(60_000))).toBe(0);
    expect(await pruneRateLimits(h.database.db, at(60_000 + 86_400_000))).toBe(1);
  });

  it('is atomic under concurrent hits', async () => {
    const rule = { limit: 7, windowMs: 60_000 };
    const now = new Date();
    const results = await Promise.all(Array.from({ length: 20 }, () => hitRateLimit(h.database.db, 'burst', rule, now)));
    expect(results.filter((r) => r.allowed)).toHaveLength(7);
    expect(results.map((r) => r.hits).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('limits sign-in links per address, whoever asks (429 with Retry-After)', async () => {
    const { limit } = RATE_LIMITS.signInPerAddress;
    for (let i = 0; i < limit; i++) {
      expect((await h.browser({ ip: `198.51.100.${i + 1}` }).post('/sign-in', { email: 'target@example.com' })).status).toBe(303);
    }
    const refused = await h.browser({ ip: '198.51.100.200' }).post('/sign-in', { email: 'Target@Example.com' });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('900');
    expect(await refused.text()).toContain('Too many attempts');
    expect((await h.browser({ ip: '198.51.100.201' }).post('/sign-in', { email: 'someone-else@example.com' })).status).toBe(303);
    h.clock.advance(15 * 60_000);
    expect((await h.browser({ ip: '198.51.100.202' }).post('/sign-in', { email: 'target@example.com' })).status).toBe(303);
    // The table holds a hash, never the address.
    const keys = await h.database.db.selectFrom('rate_limit').select('key').execute();
    expect(JSON.stringify(keys)).not.toContain('target@');
  });

  it('limits sign-in requests per client address', async () => {
    const { limit } = RATE_LIMITS.signInPerIp;
    const browser = h.browser({ ip: '192.0.2.50' });
    for (let i = 0; i < limit; i++) expect((await browser.post('/sign-in', { email: `spray${i}@example.com` })).status).toBe(303);
    const refused = await browser.post('/sign-in', { email: 'spray-last@example.com' });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await h.browser({ ip: '192.0.2.51' }).post('/sign-in', { email: 'spray-last@example.com' })).status).toBe(303);
  });

  it('holds across replicas sharing the database', async () => {
    const replica = createApp({ database: h.database, config: h.config, keyring: h.keyring, mailer: h.mailer, logger: silentLogger, clock: h.clock });
    const { limit } = RATE_LIMITS.signInPerAddress;
    for (let i = 0; i < limit; i++) {
      const browser = i % 2 === 0 ? h.browser({ ip: `203.0.113.${i + 1}` }) : new Browser(replica, { ip: `203.0.113.${i + 1}` });
      expect((await browser.post('/sign-in', { email: 'shared@example.com' })).status).toBe(303);
    }
    expect((await new Browser(replica).post('/sign-in', { email: 'shared@example.com' })).status).toBe(429);
    expect((await h.browser().post('/sign-in', { email: 'shared@example.com' })).status).toBe(429);
  });
});

describe('rate-limit keys', () => {
  it('counts IPv6 clients per /64 and IPv4 per address', () => {
    expect(ipRateKey('2001:db8:1:2:aaaa::1')).toBe('2001:0db8:0001:0002::/64');
    expect(ipRateKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:0db8:0001:0002::/64');
    expect(ipRateKey('::1')).toBe('0000:0000:0000:0000::/64');
    expect(ipRateKey('192.0.2.1')).toBe('192.0.2.1');
    expect(ipRateKey(null)).toBe('unknown');
  });

  it('hashes addresses, case-insensitively', () => {
    expect(addressRateKey('signin', ' A@Example.com')).toBe(addressRateKey('signin', 'a@example.com'));
    expect(addressRateKey('signin', 'a@example.com')).not.toContain('example');
  });
});
