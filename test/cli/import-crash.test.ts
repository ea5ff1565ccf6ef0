import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generateAggregateXml } from '../../bench/synthetic.js';
import { ROOT, runDmarcwatch } from '../helpers/cli.js';
import { describePostgres, openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { snapshotReportData } from '../helpers/snapshot.js';

const KEYS = `test:${Buffer.alloc(32, 3).toString('base64')}`;
let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dmarcwatch-kill-'));
  for (let i = 0; i < 40; i++) {
    await fs.writeFile(path.join(dir, `r${String(i).padStart(2, '0')}.xml`), generateAggregateXml({ records: 800, seed: i + 1, reportId: `kill-${i}` }));
  }
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

// PostgreSQL only: the embedded database admits a single process.
describePostgres('import killed mid-run', () => {
  let clean: TestDatabase;
  let killed: TestDatabase;
  beforeAll(async () => {
    [clean, killed] = await Promise.all([openTestDatabase('postgres'), openTestDatabase('postgres')]);
  });
  afterAll(async () => {
    await Promise.all([clean?.close(), killed?.close()]);
  });

  it('leaves the same database after SIGKILL and a re-run as one clean import', async () => {
    const env = (url: string) => ({ DATABASE_URL: url, DMARCWATCH_KEYS: KEYS });
    const once = await runDmarcwatch(['import', '--quiet', dir], env(clean.url!));
    expect(once.code).toBe(0);

    const child = spawn(process.execPath, [path.join(ROOT, 'bin/dmarcwatch.js'), 'import', '--quiet', dir], {
      env: { PATH: process.env.PATH, ...env(killed.url!) },
      stdio: 'ignore',
    });
    // Kill once some reports are in, mid-transaction for others.
    for (let i = 0; i < 600; i++) {
      const { n } = await killed.db
        .selectFrom('aggregate_report')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      if (Number(n) >= 5) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const partial = await snapshotReportData(killed.db);
    expect(partial.aggregate_report!.length).toBeGreaterThanOrEqual(5);
    expect(partial.aggregate_report!.length).toBeLessThan(40);

    const rerun = await runDmarcwatch(['import', '--quiet', dir], env(killed.url!));
    expect(rerun.code).toBe(0);
    expect(await snapshotReportData(killed.db)).toEqual(await snapshotReportData(clean.db));
  });
});
