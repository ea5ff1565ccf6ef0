import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { sql } from 'kysely';
import path from 'node:path';
import { createApiKey } from '../src/auth/api-keys.js';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { importPaths } from '../src/ingest/sources/files.js';
import { silentLogger } from '../src/lib/logger.js';
import { defaultOrgId } from '../src/orgs/default-org.js';
import { DEFAULT_LIMITS } from '../src/reports/types.js';
import { freePort, waitForServer } from '../test/helpers/cli.js';
import { compiledProgram, CORPUS_DIR, scratchDatabase, writeCorpus } from './ingest.js';

export interface ApiFigures {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  seconds: number;
  connections: number;
  reports: number;
  path: string;
}

/** The node flags docker/entrypoint.sh starts the server with: measured as it ships. */
function serverNodeFlags(root: string): string[] {
  const entrypoint = fs.readFileSync(path.join(root, 'docker/entrypoint.sh'), 'utf8');
  const flags = /start \| serve\) node_flags="([^"]*)"/.exec(entrypoint);
  if (!flags) throw new Error('docker/entrypoint.sh no longer sets node_flags for the server');
  return flags[1]!.split(' ').filter(Boolean);
}

/** wrk's latency line ("99%  12.34ms") in milliseconds. */
function latencyMs(text: string, percentile: string): number {
  const match = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(text);
  if (!match) throw new Error(`no ${percentile}% latency in wrk output:\n${text}`);
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

function runWrk(url: string, key: string, seconds: number, connections: number): string {
  // One wrk thread: on two cores, a second one only takes CPU from the server it measures.
  return execFileSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-H', `Authorization: Bearer ${key}`, '-H', 'Accept: application/json', url], {
    encoding: 'utf8',
  });
}

/**
 * Authenticated API reads against `dmarcwatch serve` on PostgreSQL, driven by wrk from another
 * process: the report list, 50 items a page, with an API key (key lookup, organisation, rate limit
 * and the list query on every request).
 */
export async function benchApi(options: { reports?: number; seconds?: number; connections?: number } = {}): Promise<ApiFigures> {
  const reports = options.reports ?? 2000;
  const seconds = options.seconds ?? 15;
  const connections = options.connections ?? 32;
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('wrk is not installed: apt-get install wrk', { cause: error });
  }
  const dir = path.join(CORPUS_DIR, 'api');
  writeCorpus(dir, reports, (i) => 5 + (i % 20));
  const scratch = await scratchDatabase();
  let child: ChildProcess | undefined;
  try {
    const database = await openDatabase({ kind: 'postgres', url: scratch.url, poolSize: 4 });
    let key: string;
    try {
      await migrateToLatest(database.db);
      const orgId = await defaultOrgId(database.db);
      await importPaths({ db: database.db, orgId, limits: DEFAULT_LIMITS, keepFailureHeaders: true, logger: silentLogger }, [dir]);
      await sql`vacuum analyze`.execute(database.db); // as autovacuum will have done on a server in use
      key = (await createApiKey(database.db, { orgId, actor: { type: 'system', id: 'bench' }, ip: null, now: new Date(), name: 'bench', scope: 'read', expiresAt: null })).key;
    } finally {
      await database.close();
    }

    const port = await freePort();
    const root = path.resolve(import.meta.dirname, '..');
    child = spawn(process.execPath, [...serverNodeFlags(root), path.join(compiledProgram(), 'src/main.js'), 'serve'], {
      cwd: root,
      env: {
        ...process.env,
        DATABASE_URL: scratch.url,
        PORT: String(port),
        HOST: '127.0.0.1',
        DMARCWATCH_KEYS: `bench:${Buffer.alloc(32, 7).toString('base64')}`,
        // The limiter still counts every request; the bench only lifts the ceiling.
        DMARCWATCH_API_RATE_LIMIT: '100000000',
      },
      // The access log is written as in production, to a file instead of the bench's own output.
      stdio: ['ignore', 'ignore', fs.openSync(path.join(CORPUS_DIR, 'api-server.log'), 'w')],
    });
    const base = `http://127.0.0.1:${port}`;
    const health = await waitForServer(`${base}/healthz`, child);
    if (!health.ok) throw new Error(`dmarcwatch serve is not healthy: ${health.status} ${await health.text()}`);
    const apiPath = '/api/v1/orgs/default/reports?limit=50';
    const check = await fetch(`${base}${apiPath}`, { headers: { authorization: `Bearer ${key}` } });
    if (!check.ok) throw new Error(`${apiPath} answered ${check.status}: ${await check.text()}`);
    const page = (await check.json()) as { items: unknown[] };
    if (page.items.length !== 50) throw new Error(`expected 50 reports on the page, got ${page.items.length}`);

    runWrk(`${base}${apiPath}`, key, 3, connections); // warm-up: JIT, pool, caches
    const output = runWrk(`${base}${apiPath}`, key, seconds, connections);
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
    const errors = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);
    const socketErrors = /Socket errors:.*?(\d+).*?(\d+).*?(\d+).*?(\d+)/.exec(output);
    return {
      requestsPerSecond: Number(rps?.[1] ?? 0),
      p50Ms: latencyMs(output, '50'),
      p99Ms: latencyMs(output, '99'),
      errors: Number(errors?.[1] ?? 0) + (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0),
      seconds,
      connections,
      reports,
      path: apiPath,
    };
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await scratch.drop();
  }
}
