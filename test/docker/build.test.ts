import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/cli.js';
import { BUILD_STEPS } from './build-steps.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * The Dockerfile's build stage, run outside Docker: a clean copy of the tracked files, the same
 * three steps, then the compiled program as the image runs it (`node dist/src/main.js`).
 */
describe('the production build (the Dockerfile build stage, without Docker)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmarcwatch-build-'));
    const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter((f) => f && !f.startsWith('test/fixtures/') && fs.existsSync(path.join(ROOT, f)));
    for (const file of files) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, file), path.join(dir, file));
    }
    for (const step of BUILD_STEPS) {
      execFileSync('sh', ['-c', step], { cwd: dir, stdio: 'pipe', env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
    }
  }, 400_000);
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('leaves no dev dependencies and a complete dist/', () => {
    expect(fs.existsSync(path.join(dir, 'node_modules/vitest'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'dist/src/main.js'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'dist/src/web/assets/app.css'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'dist/src/web/assets/copy.js'))).toBe(true);
  });

  it('runs --help and serves /healthz and its assets from the compiled code', async () => {
    const help = execFileSync(process.execPath, ['dist/src/main.js', '--help'], { cwd: dir, encoding: 'utf8' });
    expect(help).toMatch(/Usage: dmarcwatch <command>/);
    const port = await freePort();
    const data = fs.mkdtempSync(path.join(os.tmpdir(), 'dmarcwatch-build-data-'));
    const child = spawn(process.execPath, ['dist/src/main.js', 'start'], {
      cwd: dir,
      env: { PATH: process.env.PATH, NODE_ENV: 'production', PORT: String(port), HOST: '127.0.0.1', DMARCWATCH_DATA_DIR: data },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      let health: Response | undefined;
      for (let i = 0; i < 300 && !health; i++) {
        health = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
        if (!health) await new Promise((r) => setTimeout(r, 100));
      }
      expect(health?.status, stderr).toBe(200);
      const css = await fetch(`http://127.0.0.1:${port}/assets/app.css`);
      expect(css.status).toBe(200);
      expect(stderr).not.toMatch(/web assets not found/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      fs.rmSync(data, { recursive: true, force: true });
    }
  });
});
