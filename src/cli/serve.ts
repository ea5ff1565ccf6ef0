import { serve, type ServerType } from '@hono/node-server';
import { createApp } from '../app.js';
import { loadConfig } from '../config.js';
import { buildDeps, type Deps } from '../deps.js';
import type { Command, CliIo } from './io.js';

function listen(deps: Deps): Promise<ServerType> {
  const app = createApp(deps);
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: deps.config.http.port, hostname: deps.config.http.host }, (info) => {
      deps.logger.info('listening', { url: `http://${info.address.includes(':') ? `[${info.address}]` : info.address}:${info.port}` });
      resolve(server);
    });
  });
}

/** Runs until SIGINT/SIGTERM, then stops accepting, drains and closes the database. */
async function runServer(io: CliIo, role: 'start' | 'serve'): Promise<number> {
  const config = loadConfig(io.env);
  const deps = await buildDeps(config);
  if (config.database.kind === 'pglite') {
    deps.logger.info('using the embedded database', { dir: config.database.dataDir, hint: 'set DATABASE_URL to use PostgreSQL' });
  }
  const server = await listen(deps);
  deps.logger.info('started', { role });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      deps.logger.info('shutting down', { signal });
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await deps.database.close();
  deps.logger.info('stopped');
  return 0;
}

export const startCommand: Command = {
  name: 'start',
  summary: 'run the web server and the scheduler (the default)',
  usage: 'Usage: dmarcwatch start\n\nServes HTTP on $HOST:$PORT (default 0.0.0.0:8080) and runs scheduled jobs.',
  run: (_args, io) => runServer(io, 'start'),
};

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the web server only',
  usage: 'Usage: dmarcwatch serve\n\nServes HTTP on $HOST:$PORT without running scheduled jobs.',
  run: (_args, io) => runServer(io, 'serve'),
};
