import type { Config } from './config.js';
import { openDatabase, type Database } from './db/database.js';
import { migrateToLatest } from './db/migrate.js';
import { createLogger, type Logger } from './lib/logger.js';

export interface Deps {
  config: Config;
  logger: Logger;
  database: Database;
}

/** Composition root: everything the commands need, built once per process. */
export async function buildDeps(config: Config, options: { migrate?: boolean; logger?: Logger } = {}): Promise<Deps> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const database = await openDatabase(config.database);
  try {
    if (options.migrate !== false) {
      const result = await migrateToLatest(database.db);
      for (const r of result.results ?? []) logger.info('migration applied', { migration: r.migrationName });
    }
  } catch (error) {
    await database.close();
    throw error;
  }
  return { config, logger, database };
}
