import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAggregateXml } from '../../bench/synthetic.js';
import type { IngestSummary } from '../../src/ingest/summary.js';
import { runDmarcwatch } from '../helpers/cli.js';

let tmp: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'dmarcwatch-cli-'));
  env = { DMARCWATCH_DATA_DIR: path.join(tmp, 'data') };
  await fs.mkdir(path.join(tmp, 'reports/nested'), { recursive: true });
  await fs.writeFile(path.join(tmp, 'reports/a.xml'), generateAggregateXml({ records: 12, seed: 1, reportId: 'cli-a' }));
  await fs.writeFile(path.join(tmp, 'reports/nested/b.xml'), generateAggregateXml({ records: 8, seed: 2, reportId: 'cli-b' }));
  await fs.writeFile(path.join(tmp, 'reports/nested/broken.xml'), '<feedback><report_metadata><org_name>x');
  await fs.writeFile(path.join(tmp, 'reports/notes.txt'), 'shopping list: milk');
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('dmarcwatch import', () => {
  it('imports a directory recursively and prints a summary by outcome and reason', async () => {
    const result = await runDmarcwatch(['import', path.join(tmp, 'reports')], env);
    expect(result.stderr).not.toMatch(/Error:/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/stored:\s+2 \(aggregate 2.*20 record/);
    expect(result.stdout).toMatch(/refused:\s+1/);
    expect(result.stdout).toMatch(/not a report:\s+1/);
    expect(result.stdout).toMatch(/malformed XML — e\.g\. .*broken\.xml/);
  });

  it('reports a re-import as duplicates in JSON for scripts', async () => {
    const result = await runDmarcwatch(['import', '--json', '--quiet', path.join(tmp, 'reports')], env);
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as IngestSummary;
    expect(summary.outcomes.stored).toBe(0);
    expect(summary.outcomes.duplicate).toBe(2);
    expect(summary.seenBefore).toBe(3); // notes.txt is refused before it becomes a document
    expect(summary.records).toBe(0);
  });

  it('prints plain progress lines (no bar) when stderr is not a terminal', async () => {
    const result = await runDmarcwatch(['import', path.join(tmp, 'reports')], env);
    expect(result.stderr).toMatch(/importing: 4\/4 \(100%\)/);
    expect(result.stderr).not.toContain('\r');
  });

  it('exits 1 with the reason when nothing can be read', async () => {
    const result = await runDmarcwatch(['import', path.join(tmp, 'no-such-dir')], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/no-such-dir: no such file or directory/);
  });

  it('explains usage errors and every command has --help', async () => {
    const missing = await runDmarcwatch(['import'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/at least one file or directory/);
    for (const command of ['start', 'serve', 'migrate', 'import']) {
      const help = await runDmarcwatch([command, '--help'], env);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`Usage: dmarcwatch ${command}`));
    }
    const unknown = await runDmarcwatch(['frobnicate'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown command "frobnicate"/);
  });

  it('stops with one line per bad variable', async () => {
    const result = await runDmarcwatch(['migrate'], { ...env, PORT: 'x', DMARCWATCH_MAX_ZIP_ENTRIES: '-1' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^Invalid configuration:\n {2}- PORT: .*\n {2}- DMARCWATCH_MAX_ZIP_ENTRIES: /m);
  });
});
