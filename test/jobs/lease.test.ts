import { sql } from 'kysely';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { acquireLease, releaseLease } from '../../src/jobs/lease.js';
import { describeEachBackend, openTestDatabase, type TestDatabase } from '../helpers/db.js';

describeEachBackend('job lease', (backend) => {
  let database: TestDatabase;
  beforeEach(async () => {
    database = await openTestDatabase(backend);
  });
  afterEach(async () => {
    await database.close();
  });

  it('gives a job to one holder until the lease expires or is released', async () => {
    const db = database.db;
    expect(await acquireLease(db, 'retention', 'a', 60_000)).toBe(true);
    expect(await acquireLease(db, 'retention', 'b', 60_000)).toBe(false);
    expect(await acquireLease(db, 'retention', 'a', 60_000)).toBe(true); // renewal
    expect(await acquireLease(db, 'other-job', 'b', 60_000)).toBe(true);
    await releaseLease(db, 'retention', 'b'); // not b's to release
    expect(await acquireLease(db, 'retention', 'b', 60_000)).toBe(false);
    await releaseLease(db, 'retention', 'a');
    expect(await acquireLease(db, 'retention', 'b', 60_000)).toBe(true);
  });

  it('lets another holder take over an expired lease', async () => {
    const db = database.db;
    expect(await acquireLease(db, 'digest', 'a', 60_000)).toBe(true);
    await sql`update job_lease set expires_at = now() - interval '1 second'`.execute(db);
    expect(await acquireLease(db, 'digest', 'b', 60_000)).toBe(true);
    expect(await acquireLease(db, 'digest', 'a', 60_000)).toBe(false);
  });

  it('elects exactly one winner among concurrent contenders', async () => {
    const holders = Array.from({ length: 12 }, (_, i) => `worker-${i}`);
    const results = await Promise.all(holders.map((h) => acquireLease(database.db, 'poll', h, 60_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
    const row = await database.db.selectFrom('job_lease').select('holder').executeTakeFirstOrThrow();
    expect(holders[results.indexOf(true)]).toBe(row.holder);
  });
});

describeEachBackend('maintenance job', (backend) => {
  it('prunes old sessions and rate-limit windows, once across two schedulers', async () => {
    const { Scheduler } = await import('../../src/jobs/scheduler.js');
    const { maintenanceJob } = await import('../../src/jobs/maintenance.js');
    const { silentLogger } = await import('../../src/lib/logger.js');
    const database = await openTestDatabase(backend);
    try {
      await sql`insert into rate_limit (key, window_start, hits) values ('old', now() - interval '3 hours', 5), ('fresh', now(), 1)`.execute(database.db);
      const job = maintenanceJob(database.db, silentLogger);
      const a = new Scheduler(database.db, silentLogger, 'a');
      const b = new Scheduler(database.db, silentLogger, 'b');
      await Promise.all([a.trigger(job), b.trigger(job)]);
      await Promise.all([a.stop(), b.stop()]);
      const left = await database.db.selectFrom('rate_limit').select('key').execute();
      expect(left.map((r) => r.key)).toEqual(['fresh']);
      expect(await database.db.selectFrom('job_lease').selectAll().execute()).toEqual([]);
    } finally {
      await database.close();
    }
  });
});
