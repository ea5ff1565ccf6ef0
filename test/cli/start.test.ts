import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, ROOT, runDmarcwatch, waitForServer } from '../helpers/cli.js';

describe('starting with PostgreSQL', () => {
  it('refuses to start without a key, or with a malformed one, saying what to do', async () => {
    const url = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
    const missing = await runDmarcwatch(['start'], { DATABASE_URL: url });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/DMARCWATCH_KEYS must be set.*openssl rand -base64 32/s);
    const malformed = await runDmarcwatch(['start'], { DATABASE_URL: url, DMARCWATCH_KEYS: 'k1:not-a-key' });
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/DMARCWATCH_KEYS/);
    expect(malformed.stderr).not.toContain('not-a-key');
  });
});

describe('npm start on the embedded database', () => {
  let tmp: string;
  let child: ChildProcess;
  let stderr = '';
  let port: number;

  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'dmarcwatch-start-'));
    port = await freePort();
    child = spawn('npm', ['start', '--silent'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), HOST: '127.0.0.1', DMARCWATCH_DATA_DIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, as in a terminal: signals go to npm and to the server it started.
      detached: true,
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  });
  afterAll(async () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group has exited
    }
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('serves /healthz with the database status', async () => {
    const response = await waitForServer(`http://127.0.0.1:${port}/healthz`, child);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok', database: 'pglite' });
    expect(stderr).toMatch(/"msg":"migration applied","migration":"0001_reports"/);
  });

  it('created its sealing key in the data directory, readable by its owner only, and said so', async () => {
    const stat = await fs.stat(path.join(tmp, 'secret.keys'));
    expect(stat.mode & 0o777).toBe(0o600);
    expect(stderr).toMatch(/created a secret key/);
    expect(stderr).not.toContain((await fs.readFile(path.join(tmp, 'secret.keys'), 'utf8')).match(/:(\S{40,})/)?.[1] ?? 'no key');
  });

  it('refuses a second process on the same data directory, saying what to do', async () => {
    const second = await runDmarcwatch(['migrate'], { DMARCWATCH_DATA_DIR: tmp });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/in use by another DMARC Watch process.*set DATABASE_URL/s);
  });

  it('shuts down cleanly on SIGTERM and releases the data directory', async () => {
    // As a terminal's Ctrl-C or a service manager would: the signal reaches the whole group.
    process.kill(-child.pid!, 'SIGTERM');
    for (let i = 0; i < 100 && !/"msg":"stopped"/.test(stderr); i++) await new Promise((r) => setTimeout(r, 100));
    expect(stderr).toMatch(/"msg":"shutting down","signal":"SIGTERM"/);
    expect(stderr).toMatch(/"msg":"stopped"/);
    const after = await runDmarcwatch(['migrate'], { DMARCWATCH_DATA_DIR: tmp });
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(/up to date/);
  });
});
