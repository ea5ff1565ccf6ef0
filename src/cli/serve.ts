import { serve, type ServerType } from '@hono/node-server';
import { createApp } from '../app.js';
import { ApiRateLimiter } from '../http/api-rate-limit.js';
import { loadConfig } from '../config.js';
import { buildDeps, mailboxPollDeps, type Deps } from '../deps.js';
import { domainProofJob } from '../domains/proof-job.js';
import { dailyFoldJob } from '../ingest/daily-fold.js';
import { sourceEnrichmentJob } from '../enrich/enrich-job.js';
import { sourceEvidenceJob } from '../sources/evidence-job.js';
import { openGeoDatabases } from '../enrich/geo.js';
import { sharedDnsResolver } from '../lib/dns.js';
import { createMailer } from '../mail/mailer.js';
import { processHolderId, Scheduler } from '../jobs/scheduler.js';
import { mailboxPollJob } from '../mailboxes/poll-job.js';
import { maintenanceJob } from '../jobs/maintenance.js';
import { UsageError, type Command, type CliIo } from './io.js';

type Role = 'start' | 'serve' | 'worker';

function listen(deps: Deps, apiRateLimiter: ApiRateLimiter): Promise<ServerType> {
  const app = createApp({ ...deps, mailer: createMailer(deps.config, deps.logger), apiRateLimiter });
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: deps.config.http.port, hostname: deps.config.http.host }, (info) => {
      deps.logger.info('listening', { url: `http://${info.address.includes(':') ? `[${info.address}]` : info.address}:${info.port}` });
      resolve(server);
    });
  });
}

function startScheduler(deps: Deps): Scheduler {
  const holder = processHolderId();
  const scheduler = new Scheduler(deps.database.db, deps.logger, holder);
  scheduler.register(
    mailboxPollJob(mailboxPollDeps(deps, holder), deps.config.mailboxes.pollConcurrency),
  );
  scheduler.register(maintenanceJob(deps.database.db, deps.logger));
  scheduler.register(dailyFoldJob(deps.database.db, deps.logger));
  scheduler.register(domainProofJob({ db: deps.database.db, resolver: sharedDnsResolver(deps.config.dns), logger: deps.logger }));
  scheduler.register(
    sourceEnrichmentJob({ db: deps.database.db, resolver: sharedDnsResolver(deps.config.dns), geo: openGeoDatabases(deps.config.geo), logger: deps.logger }),
  );
  scheduler.register(sourceEvidenceJob({ db: deps.database.db, logger: deps.logger }));
  return scheduler;
}

/** Runs until SIGINT/SIGTERM, then stops accepting, lets jobs finish their batch, and closes the database. */
async function run(io: CliIo, role: Role): Promise<number> {
  const config = loadConfig(io.env);
  if (role !== 'start' && config.database.kind === 'pglite') {
    throw new UsageError(
      `\`dmarcwatch ${role}\` splits the web server and the scheduler across processes, which needs PostgreSQL ` +
        '(set DATABASE_URL). With the embedded database, run `dmarcwatch start`.',
    );
  }
  const deps = await buildDeps(config);
  if (config.database.kind === 'pglite') {
    deps.logger.info('using the embedded database', { dir: config.database.dataDir, hint: 'set DATABASE_URL to use PostgreSQL' });
  }
  const apiRateLimiter = new ApiRateLimiter(deps.database.db, deps.config.apiRateLimitPerMinute, deps.logger);
  const server = role === 'worker' ? undefined : await listen(deps, apiRateLimiter);
  const scheduler = role === 'serve' ? undefined : startScheduler(deps);
  deps.logger.info('started', { role });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      deps.logger.info('shutting down', { signal });
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  await apiRateLimiter.close();
  await scheduler?.stop();
  await deps.database.close();
  deps.logger.info('stopped');
  return 0;
}

export const startCommand: Command = {
  name: 'start',
  summary: 'run the web server and the scheduler (the default)',
  usage: 'Usage: dmarcwatch start\n\nServes HTTP on $HOST:$PORT (default 0.0.0.0:8080) and polls mailboxes on schedule.',
  run: (_args, io) => run(io, 'start'),
};

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the web server only (PostgreSQL)',
  usage: 'Usage: dmarcwatch serve\n\nServes HTTP on $HOST:$PORT without running scheduled jobs. Needs DATABASE_URL;\nrun any number of `serve` and `worker` processes on one PostgreSQL database.',
  run: (_args, io) => run(io, 'serve'),
};

export const workerCommand: Command = {
  name: 'worker',
  summary: 'run the scheduler only (PostgreSQL)',
  usage: 'Usage: dmarcwatch worker\n\nPolls mailboxes and runs scheduled jobs without serving HTTP. Needs DATABASE_URL;\nworkers share the load: each mailbox is polled by one worker at a time.',
  run: (_args, io) => run(io, 'worker'),
};
