import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../lib/logger.js';
import { clientInfo, type TrustedProxies } from './client-ip.js';
import type { WebEnv } from './env.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Path segments that look like tokens (32+ base64url characters) are not logged. */
const TOKEN_SEGMENT = /^[A-Za-z0-9_-]{32,}$/;

/** The path as logged: no query string (sign-in links carry tokens there), token-like segments replaced. */
export function loggablePath(path: string): string {
  return path
    .split('/')
    .map((segment) => (TOKEN_SEGMENT.test(segment) ? '[redacted]' : segment))
    .join('/');
}

/**
 * Request id, client address and one JSON access-log line per request. X-Request-Id is kept from
 * a trusted proxy (to correlate with its logs) and generated otherwise; it is echoed in the
 * response. The line never holds headers, cookies, query strings or bodies.
 */
export function requestLog(options: { logger: Logger; trusted: TrustedProxies }): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const started = performance.now();
    const client = clientInfo(c, options.trusted);
    const incoming = c.req.header('x-request-id');
    const requestId = client.proxied && incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    c.set('requestId', requestId);
    c.set('client', client);
    c.set('caller', { kind: 'anonymous' });
    c.set('session', null);
    c.set('csrfToken', null);
    try {
      await next();
    } finally {
      c.res.headers.set('X-Request-Id', requestId);
      const caller = c.get('caller');
      // Health checks arrive every few seconds from orchestrators: log them only when debugging.
      const log = c.req.path === '/healthz' && c.res.status < 400 ? options.logger.debug : options.logger.info;
      log('request', {
        requestId,
        method: c.req.method,
        path: loggablePath(c.req.path),
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        ip: client.ip,
        proto: client.proto,
        ...(caller?.kind === 'user' ? { userId: caller.userId } : {}),
      });
    }
  };
}
