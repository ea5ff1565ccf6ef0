import { Hono } from 'hono';
import { sql } from 'kysely';
import { analyticsPages } from './analytics/web.js';
import { auditPages } from './audit/web.js';
import { openApiDocument } from './api/openapi.js';
import { domainPages } from './domains/web.js';
import { renderApiReference } from './api/reference.js';
import { apiRouter } from './api/router.js';
import { apiRoutes } from './api/routes.js';
import { authRoutes } from './auth/web.js';
import { sessionCookie } from './auth/sessions.js';
import type { Deps } from './deps.js';
import { assetRoutes, assetUrl } from './http/assets.js';
import { apiKeyAuth } from './http/api-key.js';
import { ApiRateLimiter, apiRateLimit } from './http/api-rate-limit.js';
import { bodyLimit } from './http/body-limit.js';
import { trustedProxies } from './http/client-ip.js';
import { csrfProtection } from './http/csrf.js';
import type { WebEnv } from './http/env.js';
import { requestLog } from './http/request-log.js';
import { securityHeaders } from './http/security-headers.js';
import { sessionMiddleware } from './http/session.js';
import type { Mailer } from './mail/mailer.js';
import { mailboxPages } from './mailboxes/web.js';
import { organizationPages } from './orgs/web.js';
import { homePages } from './web/home.js';
import { requireOrgMember } from './web/org-context.js';
import { ingestPages } from './ingest/web.js';
import { reportPages } from './reports/web.js';
import { sourcePages } from './sources/pages.js';
import { servicePages } from './services/pages.js';
import { serviceSettingsPages } from './services/settings-pages.js';

const VERSION = '0.1.0';

export interface AppDeps extends Pick<Deps, 'database' | 'logger' | 'config' | 'keyring'> {
  mailer: Mailer;
  /** Current time for expiries and rate-limit windows; tests move it. */
  clock?: () => Date;
  /** Check API responses against their schemas (tests). */
  validateApiResponses?: boolean;
  /** Shared API rate limits; give one to close it (flushing its counts) before the database on shutdown. */
  apiRateLimiter?: ApiRateLimiter;
}

/** The HTTP application (no listen): `serve` mounts it, tests call `app.request()`. */
export function createApp(deps: AppDeps): Hono<WebEnv> {
  const { config, logger } = deps;
  const db = deps.database.db;
  const clock = deps.clock ?? (() => new Date());
  const cookie = sessionCookie(config.publicUrl);
  const app = new Hono<WebEnv>();

  app.use(requestLog({ logger, trusted: trustedProxies(config.trustedProxies) }));
  app.use(securityHeaders({ https: config.publicUrl.startsWith('https:') }));

  app.get('/healthz', async (c) => {
    try {
      await sql`select 1`.execute(db);
      return c.json({ status: 'ok', version: VERSION, database: deps.database.kind });
    } catch (error) {
      logger.error('health check failed', { error });
      return c.json({ status: 'unavailable', version: VERSION, database: deps.database.kind }, 503);
    }
  });
  app.route('/assets', assetRoutes(logger));
  // Browsers ask for /favicon.ico whatever the page says.
  app.get('/favicon.ico', (c) => c.redirect(assetUrl('favicon.svg'), 301));

  app.use(bodyLimit({ otherMaxBytes: config.limits.maxMailBytes }));
  app.use(sessionMiddleware({ db, cookie, clock }));
  app.use('/api/*', apiKeyAuth({ db, clock }));
  app.use(csrfProtection({ publicOrigin: config.publicUrl, logger }));

  const openApi = openApiDocument(apiRoutes, { version: VERSION, serverUrl: config.publicUrl });
  app.get('/api/v1/openapi.json', (c) => c.json(openApi));
  app.get('/api/docs', (c) => renderApiReference(c, openApi, apiRoutes));
  app.use('/api/v1/*', apiRateLimit(deps.apiRateLimiter ?? new ApiRateLimiter(db, config.apiRateLimitPerMinute, logger, clock)));
  app.route(
    '/api/v1',
    apiRouter(apiRoutes, { db, config, keyring: deps.keyring, logger, mailer: deps.mailer, clock }, { validateResponses: deps.validateApiResponses ?? false }),
  );

  app.route('/', authRoutes({ db, config, keyring: deps.keyring, mailer: deps.mailer, logger, clock, cookie }));

  app.route('/', homePages({ db, clock }));
  // Every organisation page: a signed-in member, or the same 404 as for an organisation that does not exist.
  app.use('/o/:org', requireOrgMember(db));
  app.use('/o/:org/*', requireOrgMember(db));
  app.route('/', analyticsPages({ db, clock }));
  app.route('/', domainPages({ db, config, clock }));
  app.route('/', mailboxPages({ db, keyring: deps.keyring }));
  app.route('/', organizationPages({ db, mailer: deps.mailer, config, clock }));
  app.route('/', auditPages({ db }));
  app.route('/', reportPages({ db }));
  app.route('/', sourcePages({ db, clock }));
  app.route('/', servicePages({ db, clock }));
  app.route('/', serviceSettingsPages({ db, clock }));
  app.route('/', ingestPages({ db, config, logger }));

  app.notFound((c) => c.json({ error: { code: 'not_found', message: `No route for ${c.req.method} ${c.req.path}` } }, 404));
  app.onError((error, c) => {
    logger.error('request failed', { error, requestId: c.get('requestId'), path: c.req.path });
    return c.json({ error: { code: 'internal', message: 'Something went wrong on our side; the error has been logged.' } }, 500);
  });
  return app;
}
