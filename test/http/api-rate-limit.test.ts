import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { ApiRateLimiter } from '../../src/http/api-rate-limit.js';
import { silentLogger } from '../../src/lib/logger.js';
import { callApi, keyFor, orgWith, signedIn } from '../api/harness.js';
import { openHarness, testClock, type Harness } from '../auth/harness.js';
import { describeEachBackend } from '../helpers/db.js';

describeEachBackend('API rate limits', (backend) => {
  let h: Harness;
  beforeAll(async () => {
    h = await openHarness(backend, { DMARCWATCH_API_RATE_LIMIT: '3' });
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  it('one process never lets a caller past the limit', async () => {
    const clock = testClock(new Date('2026-03-02T10:00:10Z'));
    const limiter = new ApiRateLimiter(h.database.db, 5, silentLogger, clock);
    const waits = Array.from({ length: 7 }, () => limiter.hit('api:key:1'));
    expect(waits.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(waits[5]).toBe(50); // until the end of the clock minute
    expect(limiter.hit('api:key:2')).toBe(0); // another caller has its own count
    clock.advance(50_000);
    expect(limiter.hit('api:key:1')).toBe(0); // a new minute
    await limiter.close();
  });

  it('replicas share their counts through the database', async () => {
    const clock = testClock(new Date('2026-03-02T10:00:00Z'));
    const a = new ApiRateLimiter(h.database.db, 10, silentLogger, clock);
    const b = new ApiRateLimiter(h.database.db, 10, silentLogger, clock);
    for (let i = 0; i < 6; i += 1) expect(a.hit('api:user:7')).toBe(0);
    await a.flush();
    for (let i = 0; i < 4; i += 1) expect(b.hit('api:user:7')).toBe(0);
    await b.flush(); // b now knows of a's six: ten in all
    expect(b.hit('api:user:7')).toBeGreaterThan(0);
    // a has not heard of b's four yet: it lets one more through, and learns the total when it shares it.
    expect(a.hit('api:user:7')).toBe(0);
    await a.flush();
    expect(a.hit('api:user:7')).toBeGreaterThan(0);
    await a.flush();
    const row = await h.database.db.selectFrom('rate_limit').selectAll().where('key', '=', 'api:user:7').executeTakeFirstOrThrow();
    expect(Number(row.hits)).toBe(12);

    clock.advance(60_000);
    expect(a.hit('api:user:7')).toBe(0);
    await a.flush();
    const next = await h.database.db.selectFrom('rate_limit').selectAll().where('key', '=', 'api:user:7').executeTakeFirstOrThrow();
    expect(Number(next.hits)).toBe(1); // the new window starts from this minute's count
    await Promise.all([a.close(), b.close()]);
  });

  it('answers 429 with Retry-After once a key is over the configured limit, per key', async () => {
    const owner = await signedIn(h, 'limits@example.com');
    const org = await orgWith(h, 'Limited', owner);
    const key = await keyFor(h, org.id, 'read');
    const other = await keyFor(h, org.id, 'read');
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await callApi(h, { key }, 'GET', '/me')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await callApi(h, { key }, 'GET', '/me');
    expect(limited.body.error.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await callApi(h, { key: other }, 'GET', '/me')).status).toBe(200);
  });
});
