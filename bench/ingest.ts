import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import pg from 'pg';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { foldDailyDeltas } from '../src/ingest/daily-fold.js';
import { importPaths } from '../src/ingest/sources/files.js';
import { silentLogger } from '../src/lib/logger.js';
import { defaultOrgId } from '../src/orgs/default-org.js';
import { DEFAULT_LIMITS } from '../src/reports/types.js';
import { generateAggregateChunks, generateAggregateXml } from './synthetic.js';

export const CORPUS_DIR = path.resolve(import.meta.dirname, '.corpus');
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A throwaway PostgreSQL database for one measurement. */
export async function scratchDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `dmarcwatch_bench_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/** Realistic daily reports: many small ones (typical) and some large ones (big receivers). */
export function writeCorpus(dir: string, reports: number, recordsPerReport: (i: number) => number): number {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  let records = 0;
  for (let i = 0; i < reports; i++) {
    const n = recordsPerReport(i);
    records += n;
    const xml = generateAggregateXml({
      records: n,
      seed: i + 1,
      reportId: `bench-${i}`,
      domain: `domain${i % 50}.example`,
      beginEpoch: 1_700_000_000 + (i % 365) * 86400,
    });
    fs.writeFileSync(path.join(dir, `report-${String(i).padStart(5, '0')}.xml`), xml);
  }
  return records;
}

export interface IngestFigures {
  records: number;
  reports: number;
  firstSeconds: number;
  recordsPerSecond: number;
  /** Folding the rollup increments of the first import into aggregate_daily_folded (the background job's work). */
  foldSeconds: number;
  folded: number;
  reimportSeconds: number;
  reimportSpeedup: number;
}

export async function benchIngestPostgres(reports = 100, recordsEach = 2000): Promise<IngestFigures> {
  const dir = path.join(CORPUS_DIR, 'ingest');
  const records = writeCorpus(dir, reports, () => recordsEach);
  const scratch = await scratchDatabase();
  const database = await openDatabase({ kind: 'postgres', url: scratch.url, poolSize: 4 });
  try {
    await migrateToLatest(database.db);
    const ctx = { db: database.db, orgId: await defaultOrgId(database.db), limits: DEFAULT_LIMITS, keepFailureHeaders: true, logger: silentLogger };
    let t = performance.now();
    const first = await importPaths(ctx, [dir], undefined, { concurrency: Number(process.env.BENCH_CONCURRENCY ?? 2) });
    const firstSeconds = (performance.now() - t) / 1000;
    if (first.records !== records) throw new Error(`expected ${records} records, stored ${first.records}`);
    // Reports are complete and counted at commit (aggregate_daily includes unfolded increments);
    // the singleton job folds the increments later. Timed apart, and reported beside the ingest.
    t = performance.now();
    const folded = await foldDailyDeltas(database.db);
    const foldSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    const again = await importPaths(ctx, [dir]);
    const reimportSeconds = (performance.now() - t) / 1000;
    if (again.outcomes.stored !== 0) throw new Error('re-import stored reports again');
    return {
      records,
      reports,
      firstSeconds,
      recordsPerSecond: records / firstSeconds,
      foldSeconds,
      folded,
      reimportSeconds,
      reimportSpeedup: firstSeconds / reimportSeconds,
    };
  } finally {
    await database.close();
    await scratch.drop();
  }
}

/**
 * The program compiled as it ships (as in the container): measured without the development-time
 * TypeScript loader. Returns the folder holding src/main.js.
 */
export function compiledProgram(): string {
  const root = path.resolve(import.meta.dirname, '..');
  const build = path.join(CORPUS_DIR, 'build');
  execFileSync(path.join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json', '--outDir', build], { cwd: root, stdio: 'inherit' });
  return build;
}

/** Writes one aggregate report of about `megabytes` MB without holding it in memory. */
export function writeHugeReport(file: string, megabytes: number): { records: number; bytes: number } {
  const recordBytes = 650;
  const records = Math.ceil((megabytes * 1024 * 1024) / recordBytes);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  let bytes = 0;
  for (const chunk of generateAggregateChunks({ records, seed: 42, reportId: 'huge-1' })) {
    bytes += fs.writeSync(fd, chunk);
  }
  fs.closeSync(fd);
  return { records, bytes };
}

/** Imports one huge report in a child process and reads its peak RSS (VmHWM) from /proc. */
export async function benchHugeReport(megabytes = 200): Promise<{ mb: number; records: number; seconds: number; peakRssMb: number }> {
  const file = path.join(CORPUS_DIR, 'huge', 'huge.xml');
  const { records, bytes } = writeHugeReport(file, megabytes);
  const scratch = await scratchDatabase();
  try {
    const build = compiledProgram();
    const started = performance.now();
    const child = spawn(
      process.execPath,
      [path.join(build, 'src/main.js'), 'import', '--quiet', '--json', file],
      {
        env: { ...process.env, DATABASE_URL: scratch.url, DMARCWATCH_KEYS: 'bench:' + Buffer.alloc(32, 7).toString('base64'), DMARCWATCH_MAX_DOCUMENT_SIZE: `${megabytes * 2}MiB` },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let peakKb = 0;
    const timer = setInterval(() => {
      try {
        const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
        if (hwm) peakKb = Math.max(peakKb, Number(hwm[1]));
      } catch {
        // process gone
      }
    }, 50);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearInterval(timer);
    if (code !== 0) throw new Error(`import of the huge report failed (exit ${code})`);
    const summary = JSON.parse(out) as { records: number };
    if (summary.records !== records) throw new Error(`expected ${records} records, stored ${summary.records}`);
    return { mb: bytes / 1024 / 1024, records, seconds: (performance.now() - started) / 1000, peakRssMb: peakKb / 1024 };
  } finally {
    await scratch.drop();
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}
