import { Hono } from 'hono';
import { sql } from 'kysely';
import type { Deps } from './deps.js';

const VERSION = '0.1.0';

/** The HTTP application (no listen): `serve` mounts it, tests call `app.request()`. */
export function createApp(deps: Pick<Deps, 'database' | 'logger'>): Hono {
  const app = new Hono();

  app.get('/healthz', async (c) => {
    try {
      await sql`select 1`.execute(deps.database.db);
      return c.json({ status: 'ok', version: VERSION, database: deps.database.kind });
    } catch (error) {
      deps.logger.error('health check failed', { error });
      return c.json({ status: 'unavailable', version: VERSION, database: deps.database.kind }, 503);
    }
  });

  app.notFound((c) => c.json({ error: { code: 'not_found', message: `No route for ${c.req.method} ${c.req.path}` } }, 404));
  app.onError((error, c) => {
    deps.logger.error('request failed', { error, path: c.req.path });
    return c.json({ error: { code: 'internal', message: 'Something went wrong on our side; the error has been logged.' } }, 500);
  });
  return app;
}
