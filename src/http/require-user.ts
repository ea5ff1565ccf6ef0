import type { Context, MiddlewareHandler } from 'hono';
import type { WebEnv } from './env.js';

/** A browser navigating or submitting a form (redirect it), rather than a script (tell it 401). */
function wantsPage(c: Context<WebEnv>): boolean {
  if (c.req.method === 'GET' || c.req.method === 'HEAD') {
    const accept = c.req.header('accept') ?? '';
    return accept === '' || accept.includes('text/html') || accept.includes('*/*');
  }
  return (c.req.header('content-type') ?? '').includes('form');
}

/**
 * Only for a signed-in user (second factor passed). Browsers are sent to /sign-in (or to the code
 * form while the second factor is pending); other clients get 401.
 */
export const requireUser: MiddlewareHandler<WebEnv> = async (c, next) => {
  if (c.get('caller').kind === 'user') return next();
  if (wantsPage(c)) return c.redirect(c.get('session')?.secondFactorPending ? '/auth/2fa' : '/sign-in', 303);
  return c.json({ error: { code: 'unauthenticated', message: 'Sign in first.' } }, 401);
};
