import crypto from 'node:crypto';
import pg from 'pg';
import { describe } from 'vitest';
import { openDatabase, openMemoryDatabase, type Database } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';

export type Backend = 'pglite' | 'postgres';

/** The server that holds throwaway test databases; CI starts it (see .ci/run). */
export const POSTGRES_ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

let postgresAvailable: Promise<boolean> | undefined;
function checkPostgres(): Promise<boolean> {
  postgresAvailable ??= (async () => {
    const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return postgresAvailable;
}

export interface TestDatabase extends Database {
  /** Connection URL of the throwaway PostgreSQL database (postgres backend only). */
  url?: string;
}

/** A fresh, migrated database: in-memory PGlite, or a new database on the local PostgreSQL server. */
export async function openTestDatabase(backend: Backend): Promise<TestDatabase> {
  if (backend === 'pglite') return openPgliteClone();
  const name = `dmarcwatch_test_${crypto.randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  const database = await openDatabase({ kind: 'postgres', url: url.toString(), poolSize: 5 });
  await migrateToLatest(database.db);
  return {
    ...database,
    url: url.toString(),
    close: async () => {
      await database.close();
      const cleanup = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await cleanup.connect();
      try {
        await cleanup.query(`drop database if exists ${name} with (force)`);
      } finally {
        await cleanup.end();
      }
    },
  };
}

let migratedDump: Promise<Blob> | undefined;

/** Migrating a fresh PGlite takes seconds; loading a dump of a migrated one takes a fraction of that. */
async function openPgliteClone(): Promise<TestDatabase> {
  migratedDump ??= (async () => {
    const template = await openMemoryDatabase();
    await migrateToLatest(template.db);
    const dump = await template.pglite.dumpDataDir('none');
    await template.close();
    return dump;
  })();
  return openMemoryDatabase(await migratedDump);
}

const postgresReady = await checkPostgres();
if (!postgresReady && process.env.CI === 'true') {
  throw new Error(`PostgreSQL is required when CI=true but is not reachable at ${POSTGRES_ADMIN_URL}`);
}

/** Runs a suite once per database backend; PostgreSQL is skipped (loudly) only outside CI. */
export function describeEachBackend(name: string, suite: (backend: Backend) => void): void {
  describe(`${name} [pglite]`, () => suite('pglite'));
  describePostgres(name, () => suite('postgres'));
}

/** A suite that needs PostgreSQL itself (several processes on one database). */
export function describePostgres(name: string, suite: () => void): void {
  if (postgresReady) describe(`${name} [postgres]`, suite);
  else describe.skip(`${name} [postgres] — PostgreSQL not reachable at ${POSTGRES_ADMIN_URL}`, suite);
}
