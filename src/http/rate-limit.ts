import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

export interface RateLimitRule {
  /** Most hits allowed per window. */
  limit: number;
  windowMs: number;
}

export interface RateLimitResult {
  allowed: boolean;
  hits: number;
  /** Whole seconds until the window resets (what goes into Retry-After); 0 when allowed. */
  retryAfterSeconds: number;
}

const MINUTE = 60_000;

/** The limits used by sign-in; tests and docs/security.md refer to these numbers. */
export const RATE_LIMITS = {
  /** Sign-in link requests from one client address (an IPv6 /64). */
  signInPerIp: { limit: 20, windowMs: 15 * MINUTE },
  /** Sign-in link requests for one address, whoever asks: caps the mail sent to it. */
  signInPerAddress: { limit: 5, windowMs: 15 * MINUTE },
  /** Sign-in link confirmations from one client address. */
  confirmPerIp: { limit: 30, windowMs: 15 * MINUTE },
  /** Second-factor codes tried for one account (sign-in, enrolment, disabling). */
  secondFactorPerUser: { limit: 10, windowMs: 15 * MINUTE },
  /** Requests with a bad API key from one client address. */
  badApiKeyPerIp: { limit: 30, windowMs: 15 * MINUTE },
} satisfies Record<string, RateLimitRule>;

/**
 * Counts one hit against `key` in a fixed window shared by every replica: a single upsert on
 * `rate_limit` that starts a new window when the stored one has ended. Hits over the limit are
 * counted too, so hammering does not shorten the wait.
 */
export async function hitRateLimit(db: Kysely<DB>, key: string, rule: RateLimitRule, now: Date): Promise<RateLimitResult> {
  const expiredBefore = new Date(now.getTime() - rule.windowMs);
  const result = await sql<{ hits: number; window_start: Date }>`
    insert into rate_limit as r (key, window_start, hits) values (${key}, ${now}, 1)
    on conflict (key) do update set
      hits = case when r.window_start <= ${expiredBefore} then 1 else r.hits + 1 end,
      window_start = case when r.window_start <= ${expiredBefore} then excluded.window_start else r.window_start end
    returning hits, window_start`.execute(db);
  const row = result.rows[0];
  if (!row) throw new Error('rate limit upsert returned no row');
  const hits = Number(row.hits);
  if (hits <= rule.limit) return { allowed: true, hits, retryAfterSeconds: 0 };
  const resetAt = new Date(row.window_start).getTime() + rule.windowMs;
  return { allowed: false, hits, retryAfterSeconds: Math.max(1, Math.ceil((resetAt - now.getTime()) / 1000)) };
}

/** Deletes counters whose window started before `olderThan` (pass now minus the longest window; for a periodic job). */
export async function pruneRateLimits(db: Kysely<DB>, olderThan: Date): Promise<number> {
  const result = await db.deleteFrom('rate_limit').where('window_start', '<', olderThan).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Keys that contain an email address store a hash of it, so the table holds no addresses. */
export function addressRateKey(scope: string, email: string): string {
  return `${scope}:addr:${createHash('sha256').update(email.trim().toLowerCase(), 'utf8').digest('base64url')}`;
}
