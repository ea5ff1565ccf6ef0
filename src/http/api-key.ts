import type { MiddlewareHandler } from 'hono';
import type { Kysely } from 'kysely';
import { resolveApiKey } from '../auth/api-keys.js';
import type { DB } from '../db/schema.js';
import { ipRateKey } from './client-ip.js';
import type { WebEnv } from './env.js';
import { hitRateLimit, RATE_LIMITS } from './rate-limit.js';

/**
 * Bearer API keys (`Authorization: Bearer dmw_…`). A request that sends an Authorization header
 * is judged by it alone: a bad, expired or revoked key is 401 even with a session cookie.
 */
export function apiKeyAuth(options: { db: Kysely<DB>; clock: () => Date }): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization');
    if (header === undefined) return next();
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const key = match ? await resolveApiKey(options.db, match[1] as string, options.clock()) : null;
    if (!key) {
      const limit = await hitRateLimit(options.db, `apikey-fail:${ipRateKey(c.get('client').ip)}`, RATE_LIMITS.badApiKeyPerIp, options.clock());
      if (!limit.allowed) {
        c.header('Retry-After', String(limit.retryAfterSeconds));
        return c.json({ error: { code: 'rate_limited', message: `Too many requests with bad API keys from this address: wait ${limit.retryAfterSeconds} seconds.` } }, 429);
      }
      c.header('WWW-Authenticate', 'Bearer realm="dmarcwatch"');
      return c.json({ error: { code: 'invalid_api_key', message: 'The API key is not valid: it is malformed, revoked or expired. Create a new one under Settings → API keys.' } }, 401);
    }
    c.set('session', null);
    c.set('csrfToken', null);
    c.set('caller', { kind: 'api_key', apiKeyId: key.apiKeyId, orgId: key.orgId, orgSlug: key.orgSlug, scope: key.scope });
    return next();
  };
}
