import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditExportLine } from '../../src/audit/export.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { defaultOrgId } from '../../src/orgs/default-org.js';
import { runDmarcwatch } from '../helpers/cli.js';
import { seedChain } from './helpers.js';

let tmp: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'dmarcwatch-audit-cli-'));
  env = { DMARCWATCH_DATA_DIR: path.join(tmp, 'data') };
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** Opens the CLI's embedded database between runs (it is locked while a command runs). */
async function withDataDir<T>(fn: (database: Database) => Promise<T>): Promise<T> {
  const database = await openDatabase({ kind: 'pglite', dataDir: path.join(tmp, 'data', 'db') });
  try {
    await migrateToLatest(database.db);
    return await fn(database);
  } finally {
    await database.close();
  }
}

describe('dmarcwatch audit', () => {
  let orgId: number;
  let head: string;

  it('has nothing to verify on a fresh instance', async () => {
    const result = await runDmarcwatch(['audit', 'verify'], env);
    expect(result.stderr).not.toMatch(/Error/);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('No audit events yet.\n');
  });

  it('verify prints each chain with its head and exits 0 when all are intact', async () => {
    const recorded = await withDataDir(async ({ db }) => {
      orgId = await defaultOrgId(db);
      await seedChain(db, null, 2);
      return seedChain(db, orgId, 5);
    });
    head = recorded[4]!.hash;
    const result = await runDmarcwatch(['audit', 'verify'], env);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')).toEqual([
      expect.stringMatching(/^instance: OK, 2 event\(s\), head 2:[0-9a-f]{64}$/),
      `org:${orgId}: OK, 5 event(s), head 5:${head}`,
      '',
    ]);

    const anchored = await runDmarcwatch(['audit', 'verify', '--chain', `org:${orgId}`, '--anchor', `5:${head}`], env);
    expect(anchored.code).toBe(0);
    expect(anchored.stdout).toBe(`org:${orgId}: OK, 5 event(s), head 5:${head}\n`);
  });

  it('export writes JSON lines from a seq on', async () => {
    const result = await runDmarcwatch(['audit', 'export', '--org', String(orgId), '--after', '2'], env);
    expect(result.code).toBe(0);
    const events = result.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditExportLine);
    expect(events.map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(events.at(-1)!.hash).toBe(head);

    const instance = await runDmarcwatch(['audit', 'export', '--org', 'instance', '--limit', '1'], env);
    expect(instance.code).toBe(0);
    expect(instance.stdout.trimEnd().split('\n').map((line) => (JSON.parse(line) as AuditExportLine).chain)).toEqual(['instance']);
  });

  it('verify exits 1 and names the first bad event when a chain was tampered with', async () => {
    const id = await withDataDir(async ({ db }) => {
      const row = await db
        .updateTable('audit_event')
        .set({ action: 'nothing.to.see' })
        .where('chain', '=', `org:${orgId}`)
        .where('seq', '=', 3)
        .returning('id')
        .executeTakeFirstOrThrow();
      return Number(row.id);
    });
    const result = await runDmarcwatch(['audit', 'verify'], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^instance: OK, 2 event\(s\)/m);
    expect(result.stdout).toContain(
      `org:${orgId}: BROKEN at seq 3 (event id ${id}): edited: its content no longer matches its hash: a field was changed after it was written; 2 event(s) verified before it\n`,
    );
    const one = await runDmarcwatch(['audit', 'verify', '--chain', 'instance'], env);
    expect(one.code).toBe(0);
  });

  it('verify exits 1 when the anchored tail is gone or the chain does not exist', async () => {
    await withDataDir(({ db }) => db.deleteFrom('audit_event').where('chain', '=', 'instance').where('seq', '=', 2).execute());
    const truncated = await runDmarcwatch(['audit', 'verify', '--chain', 'instance', '--anchor', `2:${'0'.repeat(64)}`], env);
    expect(truncated.code).toBe(1);
    expect(truncated.stdout).toMatch(/^instance: BROKEN at seq 2: truncated: /);
    const unknown = await runDmarcwatch(['audit', 'verify', '--chain', 'org:999'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toMatch(/^org:999: no events/);
  });

  it('explains usage errors with exit 2', async () => {
    for (const args of [['audit'], ['audit', 'export'], ['audit', 'verify', '--anchor', '1:abc'], ['audit', 'export', '--org', 'x']]) {
      const result = await runDmarcwatch(args, env);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/Usage: dmarcwatch audit/);
    }
    const help = await runDmarcwatch(['audit', '--help'], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: dmarcwatch audit/);
  });
});
