import { createHash } from 'node:crypto';
import { Kysely, PGliteDialect, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import type { Config } from '../config.js';
import type { DB } from './schema.js';
import { lockDataDir } from './lockfile.js';
import { readTimestamptz } from './timestamptz.js';

export interface Database {
  db: Kysely<DB>;
  kind: 'postgres' | 'pglite';
  close(): Promise<void>;
}

const INT8 = 20;
const INT8_ARRAY = 1016;
const DATE = 1082;
const TIMESTAMPTZ = 1184;
const identity = (value: string) => value;

/** Calendar days stay 'YYYY-MM-DD' strings (no time zone games); int8 values are counts and ids far below 2^53: read them as numbers on both drivers (PGlite already does). */
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8) return (value: string) => Number(value);
    if (oid === DATE) return identity;
    if (oid === INT8_ARRAY) return (value: string) => (pg.types.getTypeParser(oid as never)(value) as string[]).map(Number);
    // Read without the generic parser's regular expressions: a tenth of the CPU time of an API list.
    if (oid === TIMESTAMPTZ && format !== 'binary') return readTimestamptz;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

const pgliteParsers = { [DATE]: identity };

const PLAN_EACH_TIME_MARK = '/* plan each time */';

/**
 * For a statement whose best plan depends on its parameters' values (arrays whose length varies,
 * values far more common than others): `.modifyFront(PLAN_EACH_TIME)` keeps it from being
 * prepared, so PostgreSQL plans it for the values at hand instead of settling on a generic plan.
 */
export const PLAN_EACH_TIME = sql.raw(PLAN_EACH_TIME_MARK);

/** Distinct statements one connection keeps prepared; beyond it, statements are planned each time. */
const PREPARED_PER_CONNECTION = 200;
const PREPARED_MAX_TEXT = 16 * 1024;

/**
 * Sends parameterised statements as named prepared statements, so PostgreSQL parses and plans each
 * one once per connection instead of on every request: planning the report list cost about as
 * much as running it. Statements without parameters (BEGIN, COMMIT), very long ones, those marked
 * PLAN_EACH_TIME and any past the per-connection budget go as before. Prepared statements outlive schema changes badly, which
 * is fine here: migrations run before the server takes requests.
 */
function preparePooledStatements(client: pg.PoolClient): void {
  const names = new Map<string, string>();
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (text: unknown, values?: unknown, ...rest: unknown[]) => {
    if (typeof text !== 'string' || !Array.isArray(values) || values.length === 0 || text.length > PREPARED_MAX_TEXT || rest.length > 0) {
      return query(text, values, ...rest);
    }
    let name = names.get(text);
    if (name === undefined) {
      if (names.size >= PREPARED_PER_CONNECTION) return query(text, values);
      name = text.includes(PLAN_EACH_TIME_MARK) ? '' : `dmw_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
      names.set(text, name);
    }
    if (name === '') return query(text, values);
    return query({ name, text, values });
  };
}

export async function openDatabase(config: Config['database']): Promise<Database> {
  if (config.kind === 'postgres') {
    const pool = new pg.Pool({ connectionString: config.url, max: config.poolSize, types: pgTypes });
    pool.on('connect', (client) => {
      // Calendar days (`begin_at::date`) and timestamps read in UTC, whatever the server's own zone.
      void client.query('set time zone utc').catch(() => undefined);
      preparePooledStatements(client);
    });
    pool.on('error', () => {
      // An idle client lost its connection; the pool replaces it on next use.
    });
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    return { db, kind: 'postgres', close: () => db.destroy() };
  }
  const unlock = lockDataDir(config.dataDir);
  try {
    const pglite = await PGlite.create(config.dataDir, { parsers: pgliteParsers });
    const db = new Kysely<DB>({ dialect: new PGliteDialect({ pglite }) });
    return {
      db,
      kind: 'pglite',
      close: async () => {
        try {
          await db.destroy();
          if (!pglite.closed) await pglite.close();
        } finally {
          unlock();
        }
      },
    };
  } catch (error) {
    unlock();
    throw error;
  }
}

/** An in-memory PGlite database (tests, tools), optionally started from a `dumpDataDir()` image. */
export async function openMemoryDatabase(loadDataDir?: Blob): Promise<Database & { pglite: PGlite }> {
  const pglite = await PGlite.create({ parsers: pgliteParsers, ...(loadDataDir ? { loadDataDir } : {}) });
  const db = new Kysely<DB>({ dialect: new PGliteDialect({ pglite }) });
  return {
    db,
    pglite,
    kind: 'pglite',
    close: async () => {
      await db.destroy();
      if (!pglite.closed) await pglite.close();
    },
  };
}
