import type { Kysely } from 'kysely';
import { pruneSessions } from '../auth/sessions.js';
import type { DB } from '../db/schema.js';
import { pruneRateLimits } from '../http/rate-limit.js';
import type { Logger } from '../lib/logger.js';
import type { Job } from './scheduler.js';

const HOUR = 3_600_000;

/** Hourly clean-up of expired sessions and old rate-limit windows; one runner in the deployment. */
export function maintenanceJob(db: Kysely<DB>, logger: Logger, clock: () => Date = () => new Date()): Job {
  return {
    name: 'maintenance',
    schedule: '17 * * * *',
    mode: 'singleton',
    async run() {
      const now = clock();
      const sessions = await pruneSessions(db, now);
      const windows = await pruneRateLimits(db, new Date(now.getTime() - 2 * HOUR));
      if (sessions || windows) logger.info('pruned expired data', { sessions, rateLimitWindows: windows });
    },
  };
}
