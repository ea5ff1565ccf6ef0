import type { Kysely } from 'kysely';
import type { MiddlewareHandler } from 'hono';
import { resolveSession, type SessionCookie } from '../auth/sessions.js';
import type { DB } from '../db/schema.js';
import { csrfTokenFor } from './csrf.js';
import type { WebEnv } from './env.js';

/**
 * Reads the session cookie and sets `session`, `caller` and `csrfToken`. A session still waiting
 * for its second factor is kept in `session` (so /auth/2fa and sign-out work) but the caller stays
 * anonymous: nothing else treats it as signed in.
 */
export function sessionMiddleware(options: { db: Kysely<DB>; cookie: SessionCookie; clock: () => Date }): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const token = options.cookie.read(c.req.header('cookie'));
    const session = token ? await resolveSession(options.db, token, options.clock()) : null;
    if (session) {
      c.set('session', session);
      c.set('csrfToken', csrfTokenFor(session.token));
      if (!session.secondFactorPending) {
        c.set('caller', { kind: 'user', userId: session.userId, sessionId: session.id, email: session.email, instanceAdmin: session.instanceAdmin });
      }
    }
    return next();
  };
}
