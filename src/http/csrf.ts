import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from '../lib/logger.js';
import { renderMessage } from '../web/layout.js';
import type { WebEnv } from './env.js';

export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'X-CSRF-Token';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The anti-CSRF token of a session: HMAC-SHA256 keyed with the session's secret cookie token. A
 * synchronizer token without storage — the server recomputes it from the cookie; a page from
 * another site can neither read the cookie nor the pages that carry the token, and signing in again
 * (a new session token) changes it. Knowing the CSRF token reveals nothing about the cookie.
 */
export function csrfTokenFor(sessionToken: string): string {
  return createHmac('sha256', sessionToken).update('dmarcwatch/csrf/v1').digest('base64url');
}

function sameToken(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The origin the request says it comes from: Origin, or the origin of Referer when a browser left Origin out. */
function requestOrigin(origin: string | undefined, referer: string | undefined): string | null {
  if (origin !== undefined) return origin === 'null' ? null : origin;
  if (referer === undefined) return null;
  try {
    return new URL(referer).origin;
  } catch {
    return null;
  }
}

/**
 * Refuses state-changing browser requests that do not come from our own pages:
 *
 * 1. Origin (or Referer) must equal the public URL's origin — never compared with Host or
 *    X-Forwarded-*, so it holds behind a TLS-terminating proxy. Applies to anonymous requests
 *    too (a forged sign-in form would otherwise sign a victim into the attacker's account).
 * 2. With a session cookie, the form's `_csrf` field (or the X-CSRF-Token header) must be the
 *    session's token (csrfTokenFor).
 *
 * Requests with an Authorization header (API keys) are exempt: no other site can make a browser
 * send one without a CORS preflight, which this server never approves. So are API requests
 * without a session, which the API refuses as unauthenticated.
 */
export function csrfProtection(options: { publicOrigin: string; logger: Logger }): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    if (SAFE_METHODS.has(c.req.method)) return next();
    if (c.req.header('authorization') !== undefined) return next();
    // The API has nothing for anonymous callers to change: without a session it answers 401 itself.
    if (c.req.path.startsWith('/api/') && !c.get('session')) return next();

    const origin = requestOrigin(c.req.header('origin'), c.req.header('referer'));
    if (origin !== options.publicOrigin) {
      options.logger.warn('cross-site request refused', {
        requestId: c.get('requestId'),
        reason: origin === null ? 'no_origin' : 'origin_mismatch',
        origin,
        // The usual cause on a new install: the site is opened at another address than DMARCWATCH_PUBLIC_URL.
        expected: options.publicOrigin,
      });
      return refuse(c);
    }

    const session = c.get('session');
    if (session) {
      const expected = csrfTokenFor(session.token);
      let given = c.req.header(CSRF_HEADER);
      if (given === undefined) {
        const type = (c.req.header('content-type') ?? '').toLowerCase();
        if (type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data')) {
          // Parsed bodies are cached on the request, so the route reads the same form again.
          const body = await c.req.parseBody();
          const field = body[CSRF_FIELD];
          given = typeof field === 'string' ? field : undefined;
        }
      }
      if (given === undefined || !sameToken(expected, given)) {
        options.logger.warn('cross-site request refused', { requestId: c.get('requestId'), reason: given === undefined ? 'no_csrf_token' : 'bad_csrf_token' });
        return refuse(c);
      }
    }
    return next();
  };
}

function refuse(c: Context<WebEnv>): Response | Promise<Response> {
  const wantsHtml = (c.req.header('accept') ?? '').includes('text/html') || (c.req.header('content-type') ?? '').includes('form');
  if (wantsHtml) {
    return renderMessage(c, 'Request refused', ['This form was sent from another site, or it has expired. Go back, reload the page and try again.'], 403);
  }
  return c.json({ error: { code: 'csrf', message: 'Cross-site request refused: send it from this site, with its X-CSRF-Token.' } }, 403);
}
