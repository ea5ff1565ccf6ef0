import { sql, type Kysely } from 'kysely';
import type { MiddlewareHandler } from 'hono';
import type { DB } from '../db/schema.js';
import type { Logger } from '../lib/logger.js';
import type { WebEnv } from './env.js';

const WINDOW_MS = 60_000;
const FLUSH_INTERVAL_MS = 1_000;

interface Counter {
  windowStart: number;
  /** Hits in the shared table for this window when this process last flushed. */
  shared: number;
  /** Hits counted here and not yet added to the shared table. */
  pending: number;
}

/**
 * Per-minute limits on API callers that hold across replicas without a database write per request:
 * each process counts in memory and adds its counts to the shared `rate_limit` row once a second,
 * reading back everyone's total. Windows are aligned to the clock minute, so every replica agrees on
 * them. A burst can overshoot by what other replicas counted in the last second; a single process
 * never overshoots.
 */
export class ApiRateLimiter {
  private readonly counters = new Map<string, Counter>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly limitPerMinute: number,
    private readonly logger: Logger,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Counts one request; the seconds to wait when over the limit, else 0. */
  hit(key: string): number {
    const now = this.clock().getTime();
    const windowStart = now - (now % WINDOW_MS);
    let counter = this.counters.get(key);
    if (!counter || counter.windowStart !== windowStart) {
      counter = { windowStart, shared: 0, pending: 0 };
      this.counters.set(key, counter);
    }
    counter.pending += 1;
    this.schedule();
    if (counter.shared + counter.pending <= this.limitPerMinute) return 0;
    return Math.max(1, Math.ceil((windowStart + WINDOW_MS - now) / 1000));
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  /** Adds the pending counts to the shared table and reads back the totals. */
  async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.flushNow().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushNow(): Promise<void> {
    const now = this.clock().getTime();
    for (const [key, counter] of this.counters) {
      if (counter.pending === 0) {
        if (counter.windowStart + WINDOW_MS <= now) this.counters.delete(key);
        continue;
      }
      const added = counter.pending;
      const windowStart = new Date(counter.windowStart);
      try {
        const result = await sql<{ hits: number }>`
          insert into rate_limit as r (key, window_start, hits) values (${key}, ${windowStart}, ${added})
          on conflict (key) do update set
            hits = case when r.window_start < excluded.window_start then excluded.hits
                        when r.window_start = excluded.window_start then r.hits + excluded.hits
                        else r.hits end,
            window_start = greatest(r.window_start, excluded.window_start)
          returning hits`.execute(this.db);
        counter.pending -= added;
        counter.shared = Number(result.rows[0]?.hits ?? 0) ;
      } catch (error) {
        this.logger.warn('API rate-limit counts could not be shared; counting locally until the database answers', { error });
        return;
      }
    }
  }

  /** Stops the timer and writes what is pending. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

/** The caller's key: one bucket per API key and per person, whichever session they use. */
function bucketOf(caller: WebEnv['Variables']['caller']): string | null {
  if (caller.kind === 'api_key') return `api:key:${caller.apiKeyId}`;
  if (caller.kind === 'user') return `api:user:${caller.userId}`;
  return null;
}

export function apiRateLimit(limiter: ApiRateLimiter): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const bucket = bucketOf(c.get('caller'));
    if (bucket !== null) {
      const wait = limiter.hit(bucket);
      if (wait > 0) {
        c.header('Retry-After', String(wait));
        return c.json({ error: { code: 'rate_limited', message: `Too many requests: wait ${wait} seconds. The limit is set by DMARCWATCH_API_RATE_LIMIT.` } }, 429);
      }
    }
    return next();
  };
}
