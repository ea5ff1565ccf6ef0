import { Hono, type Context } from 'hono';
import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { DB } from '../db/schema.js';
import { ipRateKey } from '../http/client-ip.js';
import type { WebEnv } from '../http/env.js';
import { addressRateKey, hitRateLimit, RATE_LIMITS, type RateLimitRule } from '../http/rate-limit.js';
import { requireUser } from '../http/require-user.js';
import type { Keyring } from '../lib/crypto/index.js';
import type { Logger } from '../lib/logger.js';
import type { Mailer } from '../mail/mailer.js';
import { downloadFormat, sortRows, tableDownload, tableState } from '../web/components/data-table.js';
import { renderMessage, renderPage } from '../web/layout.js';
import { invitationRoutes } from './invitation-web.js';
import { MAGIC_LINK_TTL_MS, peekMagicLink, requestMagicLink, signInWithMagicLink } from './magic-link.js';
import { ConfirmPage, RecoveryCodesPage, SecondFactorPage, SecurityPage, SentPage, SESSIONS_DEFAULT, sessionColumns, SessionsPage, SignInPage } from './pages.js';
import { listSessions, revokeAllSessions, revokeSession, type SessionCookie } from './sessions.js';
import { confirmTotpEnrolment, disableTotp, passSecondFactor, pendingTotpEnrolment, startTotpEnrolment, totpStatus } from './totp.js';
import { normalizeEmail } from './users.js';

export interface AuthRouteDeps {
  db: Kysely<DB>;
  config: Config;
  keyring: Keyring;
  mailer: Mailer;
  logger: Logger;
  clock: () => Date;
  cookie: SessionCookie;
}

type C = Context<WebEnv>;

/** The caller on a route behind requireUser. */
function signedIn(c: C) {
  const caller = c.get('caller');
  if (caller.kind !== 'user') throw new Error('requireUser must run before this handler');
  return caller;
}

async function formField(c: C, name: string): Promise<string> {
  const body = await c.req.parseBody();
  const value = body[name];
  return typeof value === 'string' ? value : '';
}

/** Sign-in, second factor, sign-out, and the account's sessions and security settings. */
export function authRoutes(deps: AuthRouteDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  const validMinutes = MAGIC_LINK_TTL_MS / 60_000;

  /** Counts a hit; a Response (429 with Retry-After) when over the limit. */
  const limited = async (c: C, key: string, rule: RateLimitRule): Promise<Response | null> => {
    const result = await hitRateLimit(deps.db, key, rule, deps.clock());
    if (result.allowed) return null;
    deps.logger.warn('rate limited', { requestId: c.get('requestId'), limit: key.split(':').slice(0, 2).join(':') });
    c.header('Retry-After', String(result.retryAfterSeconds));
    const minutes = Math.max(1, Math.ceil(result.retryAfterSeconds / 60));
    return renderMessage(c, 'Too many attempts', [`Please wait ${minutes} minute${minutes === 1 ? '' : 's'} and try again.`], 429);
  };

  const setSessionCookie = (c: C, token: string, maxAgeSeconds: number) =>
    c.header('Set-Cookie', deps.cookie.serialize(token, maxAgeSeconds), { append: true });
  const clearSessionCookie = (c: C) => c.header('Set-Cookie', deps.cookie.clear(), { append: true });

  const invalidLink = (c: C) =>
    renderMessage(
      c,
      'This sign-in link cannot be used',
      [`It has already been used, or it is more than ${validMinutes} minutes old. Ask for a new one.`],
      400,
      { href: '/sign-in', label: 'Get a new sign-in link' },
    );

  // ---- sign-in ---------------------------------------------------------------------------------

  app.get('/sign-in', (c) => {
    if (c.get('caller').kind === 'user') return c.redirect('/', 303);
    return renderPage(c, 'Sign in', <SignInPage csrf={c.get('csrfToken')} />);
  });

  app.post('/sign-in', async (c) => {
    const ip = c.get('client').ip;
    const perIp = await limited(c, `signin:ip:${ipRateKey(ip)}`, RATE_LIMITS.signInPerIp);
    if (perIp) return perIp;
    const entered = (await formField(c, 'email')).slice(0, 320);
    const email = normalizeEmail(entered);
    if (!email) {
      return renderPage(
        c,
        'Sign in',
        <SignInPage csrf={c.get('csrfToken')} email={entered} error="Enter an email address, like name@example.com." />,
        400,
      );
    }
    const perAddress = await limited(c, addressRateKey('signin', email), RATE_LIMITS.signInPerAddress);
    if (perAddress) return perAddress;
    await requestMagicLink(deps, { email, ip, now: deps.clock() });
    // The same redirect for every address, known or not; the address is not echoed.
    return c.redirect('/sign-in/sent', 303);
  });

  app.get('/sign-in/sent', (c) => renderPage(c, 'Check your mail', <SentPage mailer={deps.mailer.kind} validMinutes={validMinutes} />));

  // GET only shows a form: mail scanners and link previews that fetch the URL neither use the link up nor sign in.
  app.get('/auth/confirm', async (c) => {
    const token = c.req.query('token') ?? '';
    const link = await peekMagicLink(deps.db, token, deps.clock());
    if (!link) return invalidLink(c);
    return renderPage(c, 'Sign in', <ConfirmPage csrf={c.get('csrfToken')} email={link.email} token={token} />);
  });

  app.post('/auth/confirm', async (c) => {
    const client = c.get('client');
    const perIp = await limited(c, `confirm:ip:${ipRateKey(client.ip)}`, RATE_LIMITS.confirmPerIp);
    if (perIp) return perIp;
    const result = await signInWithMagicLink(deps, {
      token: await formField(c, 'token'),
      ip: client.ip,
      userAgent: c.req.header('user-agent') ?? null,
      previous: c.get('session'),
      now: deps.clock(),
    });
    if (result.outcome === 'invalid') return invalidLink(c);
    if (result.outcome === 'refused') {
      return renderMessage(
        c,
        'No account for this address',
        [
          result.policy === 'invite'
            ? 'This DMARC Watch server accepts new accounts by invitation only. Ask someone in your organisation to invite this address.'
            : 'This DMARC Watch server does not accept new accounts. Ask whoever runs it for access.',
        ],
        403,
        { href: '/sign-in', label: 'Sign in with another address' },
      );
    }
    setSessionCookie(c, result.session.token, result.session.maxAgeSeconds);
    return c.redirect(result.secondFactorPending ? '/auth/2fa' : '/', 303);
  });

  // ---- second factor ---------------------------------------------------------------------------

  app.get('/auth/2fa', (c) => {
    const session = c.get('session');
    if (!session) return c.redirect('/sign-in', 303);
    if (!session.secondFactorPending) return c.redirect('/', 303);
    return renderPage(c, 'Two-factor authentication', <SecondFactorPage csrf={c.get('csrfToken')} />);
  });

  app.post('/auth/2fa', async (c) => {
    const session = c.get('session');
    if (!session) return c.redirect('/sign-in', 303);
    if (!session.secondFactorPending) return c.redirect('/', 303);
    const perUser = await limited(c, `2fa:user:${session.userId}`, RATE_LIMITS.secondFactorPerUser);
    if (perUser) return perUser;
    const result = await passSecondFactor(deps, { session, code: await formField(c, 'code'), ip: c.get('client').ip, now: deps.clock() });
    if (!result.ok) {
      return renderPage(
        c,
        'Two-factor authentication',
        <SecondFactorPage csrf={c.get('csrfToken')} error="That code did not work. Codes change every 30 seconds and each works once." />,
        400,
      );
    }
    setSessionCookie(c, result.session.token, result.session.maxAgeSeconds);
    return c.redirect('/', 303);
  });

  // ---- sign-out and sessions -------------------------------------------------------------------

  app.post('/sign-out', async (c) => {
    const session = c.get('session');
    if (session) {
      await revokeSession(deps.db, { userId: session.userId, sessionId: session.id, ip: c.get('client').ip, now: deps.clock(), action: 'session.sign_out' });
    }
    clearSessionCookie(c);
    return c.redirect('/sign-in', 303);
  });

  app.get('/settings/sessions', requireUser, async (c) => {
    const caller = signedIn(c);
    // Every live session, sorted here: their number is bounded by sign-in rate limits and expiry.
    const sessions = await listSessions(deps.db, caller.userId, deps.clock());
    const format = downloadFormat(c);
    if (format) {
      const columns = sessionColumns({ currentId: caller.sessionId });
      return tableDownload(c, 'sessions', format, columns, sortRows(sessions, columns, tableState(c, columns, SESSIONS_DEFAULT)));
    }
    return renderPage(c, 'Sessions', <SessionsPage c={c} csrf={c.get('csrfToken')} sessions={sessions} currentId={caller.sessionId} />);
  });

  app.post('/settings/sessions/revoke-all', requireUser, async (c) => {
    const caller = signedIn(c);
    await revokeAllSessions(deps.db, { userId: caller.userId, ip: c.get('client').ip, now: deps.clock() });
    clearSessionCookie(c);
    return c.redirect('/sign-in', 303);
  });

  app.post('/settings/sessions/:id/revoke', requireUser, async (c) => {
    const caller = signedIn(c);
    const id = Number(c.req.param('id'));
    if (!Number.isSafeInteger(id) || id <= 0) return renderMessage(c, 'No such session', [], 404, { href: '/settings/sessions', label: 'Back to sessions' });
    const revoked = await revokeSession(deps.db, { userId: caller.userId, sessionId: id, ip: c.get('client').ip, now: deps.clock() });
    if (!revoked) return renderMessage(c, 'No such session', ['It has already ended.'], 404, { href: '/settings/sessions', label: 'Back to sessions' });
    if (id === caller.sessionId) {
      clearSessionCookie(c);
      return c.redirect('/sign-in', 303);
    }
    return c.redirect('/settings/sessions', 303);
  });

  // ---- two-factor settings ---------------------------------------------------------------------

  const securityPage = async (c: C, options: { error?: string; status?: 200 | 400 | 429 } = {}) => {
    const caller = signedIn(c);
    const user = { id: caller.userId, email: caller.email };
    const status = await totpStatus(deps.db, user.id);
    const enrolment = status.pending ? await pendingTotpEnrolment(deps, user) : null;
    return renderPage(
      c,
      'Security',
      <SecurityPage csrf={c.get('csrfToken')} status={status} enrolment={enrolment} error={options.error} notice={c.req.query('done')} />,
      options.status ?? 200,
    );
  };

  app.get('/settings/security', requireUser, (c) => securityPage(c));

  app.post('/settings/security/totp/enrol', requireUser, async (c) => {
    const caller = signedIn(c);
    await startTotpEnrolment(deps, { id: caller.userId, email: caller.email });
    return c.redirect('/settings/security', 303);
  });

  app.post('/settings/security/totp/confirm', requireUser, async (c) => {
    const caller = signedIn(c);
    const perUser = await limited(c, `2fa:user:${caller.userId}`, RATE_LIMITS.secondFactorPerUser);
    if (perUser) return perUser;
    const result = await confirmTotpEnrolment(deps, {
      user: { id: caller.userId, email: caller.email },
      sessionId: caller.sessionId,
      code: await formField(c, 'code'),
      ip: c.get('client').ip,
      now: deps.clock(),
    });
    if (!result.ok) return securityPage(c, { error: 'That code did not match. Check the time on your device and try the newest code.', status: 400 });
    return renderPage(c, 'Recovery codes', <RecoveryCodesPage codes={result.recoveryCodes} />);
  });

  app.post('/settings/security/totp/disable', requireUser, async (c) => {
    const caller = signedIn(c);
    const perUser = await limited(c, `2fa:user:${caller.userId}`, RATE_LIMITS.secondFactorPerUser);
    if (perUser) return perUser;
    const ok = await disableTotp(deps, { userId: caller.userId, code: await formField(c, 'code'), ip: c.get('client').ip, now: deps.clock() });
    if (!ok) return securityPage(c, { error: 'That code did not work. Codes change every 30 seconds and each works once.', status: 400 });
    return c.redirect('/settings/security?done=totp-disabled', 303);
  });

  app.route('/', invitationRoutes(deps));

  return app;
}
