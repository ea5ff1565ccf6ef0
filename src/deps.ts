import type { Config } from './config.js';
import { openDatabase, type Database } from './db/database.js';
import { migrateToLatest } from './db/migrate.js';
import { initCrypto, resolveKeyring, type Keyring } from './lib/crypto/index.js';
import { createLogger, type Logger } from './lib/logger.js';
import type { PollDeps } from './mailboxes/poll.js';

export interface Deps {
  config: Config;
  logger: Logger;
  database: Database;
  keyring: Keyring;
}

/** Composition root: everything the commands need, built once per process. */
export async function buildDeps(config: Config, options: { migrate?: boolean; logger?: Logger } = {}): Promise<Deps> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  await initCrypto();
  const keys = await resolveKeyring({ keys: config.keys, database: config.database.kind, keyFilePath: config.keyFile });
  if (keys.created) {
    logger.warn('created a secret key for sealing mailbox credentials; back it up with the data directory', {
      file: config.keyFile,
    });
  }
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
  return { config, logger, database, keyring: keys.keyring };
}

/** What a mailbox poll needs, for the worker named `holder`. */
export function mailboxPollDeps(deps: Deps, holder: string): PollDeps {
  return {
    db: deps.database.db,
    keyring: deps.keyring,
    logger: deps.logger,
    limits: deps.config.limits,
    keepFailureHeaders: deps.config.keepFailureHeaders,
    holder,
    claimTtlMs: 10 * 60_000,
  };
}
