import { loadConfig } from '../config.js';
import { openDatabase } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import type { Command } from './io.js';

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'bring the database schema up to date',
  usage: 'Usage: dmarcwatch migrate\n\nApplies pending migrations (start, serve and import also do this on their own).',
  async run(_args, io) {
    const database = await openDatabase(loadConfig(io.env).database);
    try {
      const result = await migrateToLatest(database.db);
      const applied = result.results?.map((r) => r.migrationName) ?? [];
      io.stdout.write(applied.length ? `Applied: ${applied.join(', ')}\n` : 'The database is up to date.\n');
      return 0;
    } finally {
      await database.close();
    }
  },
};
