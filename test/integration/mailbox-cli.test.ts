import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAggregateXml } from '../../bench/synthetic.js';
import { ROOT } from '../helpers/cli.js';
import { dovecotAvailable, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { buildMail } from '../helpers/mail.js';

const PASSWORD = 'cli-secret-Zq81';

function cli(args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/dmarcwatch.js'), ...args], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(stdin);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!dovecotAvailable())('dmarcwatch mailbox against Dovecot', () => {
  let server: DovecotServer;
  let tmp: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    server = await startDovecot({ users: { reports: PASSWORD } });
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'dmarcwatch-mailbox-cli-'));
    await fs.writeFile(path.join(tmp, 'ca.pem'), server.caPem);
    env = { DMARCWATCH_DATA_DIR: path.join(tmp, 'data'), LOG_LEVEL: 'debug' };
    for (let i = 0; i < 3; i++) {
      const xml = generateAggregateXml({ records: 4, seed: i + 1, reportId: `cli-${i}` });
      server.deliver('reports', 'INBOX', buildMail({ body: { contentType: 'application/gzip', filename: `r${i}.xml.gz`, content: zlib.gzipSync(xml) } }));
    }
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('adds a mailbox with the password from standard input, tests, polls and lists it — never showing the password', { timeout: 180_000 }, async () => {
    const common = ['--host', 'localhost', '--port', String(server.ports.imaps), '--ca-file', path.join(tmp, 'ca.pem'), '--user', 'reports'];
    const add = await cli(['mailbox', 'add', '--name', 'dmarc', ...common], env, `${PASSWORD}\n`);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/Added mailbox dmarc/);

    const test = await cli(['mailbox', 'test', 'dmarc'], env);
    expect(test.code, test.stderr).toBe(0);
    expect(test.stdout).toMatch(/OK: TLS verified, logged in as reports, folder "INBOX" has 3 message/);

    const poll = await cli(['mailbox', 'poll', 'dmarc'], env);
    expect(poll.code, poll.stderr).toBe(0);
    expect(poll.stdout).toMatch(/Polled dmarc: 3 message\(s\), 3 report\(s\) stored, 0 moved to invalid/);
    expect(server.listFolder('reports', 'DMARC Watch/Processed')).toHaveLength(3);

    const list = await cli(['mailbox', 'list'], env);
    expect(list.stdout).toMatch(/dmarc {2}imap:\/\/reports@localhost:\d+ INBOX {2}every 15 min .*\(ok\) {2}3 report/);

    const wrong = await cli(['mailbox', 'add', '--name', 'wrong', ...common], env, 'not-the-password\n');
    expect(wrong.code).toBe(0);
    const failed = await cli(['mailbox', 'test', 'wrong'], env);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/rejected the username or password for reports/);

    // Nothing printed or logged anywhere carries a password, and neither does the database.
    const everything = [add, test, poll, list, wrong, failed].map((r) => r.stdout + r.stderr).join('\n');
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain('not-the-password');
    const files = await fs.readdir(path.join(tmp, 'data/db'), { recursive: true });
    for (const file of files) {
      const full = path.join(tmp, 'data/db', file);
      if (!(await fs.stat(full)).isFile()) continue;
      const bytes = await fs.readFile(full);
      expect(bytes.includes(PASSWORD), file).toBe(false);
      expect(bytes.includes('not-the-password'), file).toBe(false);
    }
  });
});
