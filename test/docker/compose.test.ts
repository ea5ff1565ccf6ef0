import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { BUILD_STEPS } from './build-steps.js';

// ---------------------------------------------------------------------------------------------
// compose.yaml, checked by docker-compose itself (Debian's package is compose v1; a v2 binary
// named docker-compose works too).
// ---------------------------------------------------------------------------------------------

const COMPOSE_FILE = path.join(ROOT, 'compose.yaml');
const REQUIRED = ['POSTGRES_PASSWORD', 'DMARCWATCH_KEYS'] as const;
/** Every variable compose.yaml reads: none may leak in from the developer's shell. */
const COMPOSE_VARIABLES: readonly string[] = [...REQUIRED, 'DMARCWATCH_PUBLISH'];

interface ComposeRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function findCompose(): { version: string } | { missing: string } {
  const result = spawnSync('docker-compose', ['version', '--short'], { encoding: 'utf8' });
  if (result.error) {
    const why = (result.error as NodeJS.ErrnoException).code ?? result.error.message;
    return { missing: `docker-compose is not installed (${why}); apt-get install docker-compose` };
  }
  if (result.status !== 0) return { missing: `docker-compose version failed: ${result.stderr.trim()}` };
  return { version: result.stdout.trim().replace(/^v/, '') };
}

const compose = findCompose();
const composeVersion = 'version' in compose ? compose.version : undefined;
const skipReason = 'missing' in compose ? compose.missing : undefined;
const requireCompose = process.env.CI === 'true';

// An empty env file: a developer's own .env next to compose.yaml must not fill in the variables.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dmarcwatch-compose-'));
const emptyEnvFile = path.join(tmp, 'empty.env');
fs.writeFileSync(emptyEnvFile, '');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs `docker-compose -f compose.yaml <args>` with only `vars` set among the compose variables. */
function runCompose(args: string[], vars: Record<string, string>): ComposeRun {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (COMPOSE_VARIABLES.includes(key) || key.startsWith('COMPOSE_')) continue;
    env[key] = value;
  }
  Object.assign(env, vars);
  const result = spawnSync('docker-compose', ['--env-file', emptyEnvFile, '-f', COMPOSE_FILE, ...args], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * The resolved configuration as data. Compose v2 prints JSON (`config --format json`); v1 has no
 * such option (it prints its usage and still exits 0), so its YAML goes through PyYAML, which v1
 * is built on: the interpreter named on the docker-compose script's #! line has it.
 */
function resolvedConfig(vars: Record<string, string>): ComposeConfig {
  const major = Number(composeVersion?.split('.')[0]);
  if (major >= 2) {
    const run = runCompose(['config', '--format', 'json'], vars);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as ComposeConfig;
  }
  const run = runCompose(['config'], vars);
  expect(run.code, run.stderr).toBe(0);
  const python = composePython();
  const converted = spawnSync(
    python[0]!,
    [...python.slice(1), '-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'],
    { input: run.stdout, encoding: 'utf8' },
  );
  if (converted.error || converted.status !== 0) {
    throw new Error(`could not read docker-compose's YAML with ${python.join(' ')} and PyYAML: ${converted.error?.message ?? converted.stderr}`);
  }
  return JSON.parse(converted.stdout) as ComposeConfig;
}

function composePython(): string[] {
  const which = spawnSync('sh', ['-c', 'command -v docker-compose'], { encoding: 'utf8' });
  const script = which.stdout.trim();
  try {
    const firstLine = fs.readFileSync(script, 'utf8').split('\n', 1)[0] ?? '';
    if (firstLine.startsWith('#!') && firstLine.includes('python')) return firstLine.slice(2).trim().split(/\s+/);
  } catch {
    // A binary or unreadable: fall back to the python3 on PATH.
  }
  return ['python3'];
}

interface ComposeService {
  image?: string;
  build?: string | { context?: string };
  restart?: string;
  init?: boolean;
  environment?: Record<string, string | null> | string[];
  ports?: (string | number | { target?: number | string; published?: number | string })[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
}

interface ComposeConfig {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** Volume mounts as { source, target } whichever way the compose version prints them. */
function mounts(service: ComposeService): { source: string; target: string }[] {
  return (service.volumes ?? []).map((v) => {
    if (typeof v === 'string') {
      const [source = '', target = ''] = v.split(':');
      return { source, target };
    }
    return { source: v.source ?? '', target: v.target ?? '' };
  });
}

function environment(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((line) => [line.split('=')[0], line.slice(line.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v ?? '']));
}

function healthTest(service: ComposeService): string {
  const test = service.healthcheck?.test;
  return Array.isArray(test) ? test.join(' ') : (test ?? '');
}

const ALL_SET = { POSTGRES_PASSWORD: 'pw-from-test', DMARCWATCH_KEYS: 'keys-from-test' };

describe(`compose.yaml via docker-compose ${composeVersion ?? '(not installed)'}`, () => {
  if (skipReason && requireCompose) {
    it('docker-compose is installed (required when CI=true)', () => {
      expect.fail(`CI=true but ${skipReason}`);
    });
    return;
  }
  const skip = skipReason !== undefined;
  if (skip) console.warn(`compose.yaml checks skipped: ${skipReason}`);
  const title = (name: string) => (skip ? `${name} — skipped: ${skipReason}` : name);

  it.skipIf(skip)(title('is valid when POSTGRES_PASSWORD and DMARCWATCH_KEYS are set'), () => {
    const run = runCompose(['config', '--quiet'], ALL_SET);
    expect(run.code, run.stderr).toBe(0);
  });

  it.skipIf(skip)(title('refuses to start without the variables, naming the missing one'), () => {
    const none = runCompose(['config', '--quiet'], {});
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/set (POSTGRES_PASSWORD|DMARCWATCH_KEYS) in \.env/);

    for (const name of REQUIRED) {
      const others = Object.fromEntries(Object.entries(ALL_SET).filter(([key]) => key !== name));
      const missing = runCompose(['config', '--quiet'], others);
      expect(missing.code, `${name} unset`).not.toBe(0);
      expect(missing.stderr).toContain(`set ${name} in .env`);

      const empty = runCompose(['config', '--quiet'], { ...others, [name]: '' });
      expect(empty.code, `${name} empty`).not.toBe(0);
      expect(empty.stderr).toContain(`set ${name} in .env`);
    }
  });

  it.skipIf(skip)(title('wires the app to a healthy PostgreSQL with persistent volumes'), () => {
    const config = resolvedConfig(ALL_SET);
    const app = config.services.app;
    const postgres = config.services.postgres;
    expect(app, 'service app').toBeDefined();
    expect(postgres, 'service postgres').toBeDefined();
    if (!app || !postgres) return;

    // The app waits for a healthy database.
    expect(Array.isArray(app.depends_on)).toBe(false);
    expect((app.depends_on as Record<string, { condition?: string }>).postgres?.condition).toBe('service_healthy');
    expect(healthTest(postgres)).toContain('pg_isready');

    // Both keep their data in named volumes declared at the top level.
    const declared = Object.keys(config.volumes ?? {});
    const pgMount = mounts(postgres).find((m) => m.target === '/var/lib/postgresql/data');
    expect(pgMount, 'postgres data volume').toBeDefined();
    expect(declared).toContain(pgMount?.source);
    const dataMount = mounts(app).find((m) => m.target === '/data');
    expect(dataMount, 'app /data volume').toBeDefined();
    expect(declared).toContain(dataMount?.source);

    // The app checks its own health through /healthz.
    expect(app.healthcheck?.disable).not.toBe(true);
    expect(healthTest(app)).toContain('/healthz');

    // The variables reach both services, and the database URL points at the postgres service.
    const appEnv = environment(app);
    expect(appEnv.DATABASE_URL).toBe('postgres://dmarcwatch:pw-from-test@postgres:5432/dmarcwatch');
    expect(appEnv.DMARCWATCH_KEYS).toBe('keys-from-test');
    const pgEnv = environment(postgres);
    expect(pgEnv.POSTGRES_PASSWORD).toBe('pw-from-test');
    expect(pgEnv.POSTGRES_USER).toBe('dmarcwatch');
    expect(pgEnv.POSTGRES_DB).toBe('dmarcwatch');

    expect(app.image).toBe('dmarcwatch:latest');
    expect(app.build).toBeDefined();
    expect(postgres.image).toBe('postgres:17');
    expect(app.restart).toBe('unless-stopped');
    const ports = (app.ports ?? []).map((p) =>
      typeof p === 'object' ? `${p.published}:${p.target}` : String(p).replace(/\/tcp$/, ''),
    );
    expect(ports).toContain('8080:8080');
  });
});

describe('compose.yaml stays portable between compose v1 and the Compose Specification', () => {
  const text = fs.readFileSync(COMPOSE_FILE, 'utf8');
  it('has no top-level version (obsolete in the spec) or name (rejected by v1)', () => {
    expect(text).not.toMatch(/^version\s*:/m);
    expect(text).not.toMatch(/^name\s*:/m);
  });
  it('uses no healthcheck start_interval (rejected by v1)', () => {
    expect(text).not.toMatch(/^\s*start_interval\s*:/m);
  });
  it('reads only the variables these tests control', () => {
    const read = [...text.matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]!);
    expect(new Set(read)).toEqual(new Set(COMPOSE_VARIABLES));
  });
});

// ---------------------------------------------------------------------------------------------
// Dockerfile lint: the facts the image promises, read from the Dockerfile's text.
// ---------------------------------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Instructions with continuation lines joined and comments dropped, grouped by FROM. */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && current === '')) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1).trim()} `;
      continue;
    }
    current += line;
    if (current.trim()) logical.push(current.trim());
    current = '';
  }
  if (current.trim()) logical.push(current.trim());

  const stages: Stage[] = [];
  for (const line of logical) {
    const match = /^(\S+)\s*(.*)$/.exec(line);
    if (!match) continue;
    const keyword = match[1]!.toUpperCase();
    const args = match[2]!.trim();
    if (keyword === 'FROM') {
      const parts = args.split(/\s+/).filter((p) => !p.startsWith('--'));
      const asIndex = parts.findIndex((p) => p.toUpperCase() === 'AS');
      stages.push({ from: parts[0] ?? '', name: asIndex >= 0 ? parts[asIndex + 1] : undefined, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`${keyword} before the first FROM`);
    stage.instructions.push({ keyword, args });
  }
  return stages;
}

/** A RUN/CMD/ENTRYPOINT argument as the command line it runs (exec-form JSON arrays joined). */
function commandLine(args: string): string {
  if (args.startsWith('[')) return (JSON.parse(args) as string[]).join(' ');
  return args;
}

describe('Dockerfile', () => {
  const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const stages = parseDockerfile(dockerfile);
  const final = stages.at(-1)!;
  const builders = stages.slice(0, -1);
  const finalOf = (keyword: string) => final.instructions.filter((i) => i.keyword === keyword);

  it('is a multi-stage build on node:24 images', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.from).toMatch(/^node:24(-|$|@)/);
  });

  it('builds with exactly the shared build steps, in order', () => {
    const runs = builders.flatMap((s) => s.instructions.filter((i) => i.keyword === 'RUN').map((i) => commandLine(i.args)));
    expect(runs).toEqual(BUILD_STEPS);
  });

  it('does not set NODE_ENV=production before npm ci (dev dependencies are needed to build)', () => {
    for (const stage of builders) {
      for (const i of stage.instructions) {
        if (i.keyword === 'ENV' || i.keyword === 'ARG') expect(i.args).not.toMatch(/NODE_ENV\s*=?\s*production/);
      }
    }
  });

  it('ships only the built app from the build stage', () => {
    const copies = finalOf('COPY').map((i) => i.args);
    const buildName = builders.at(-1)?.name;
    expect(buildName).toBeDefined();
    for (const wanted of ['/app/dist', '/app/node_modules', '/app/package.json', '/app/bin']) {
      expect(copies.some((c) => c.includes(`--from=${buildName}`) && c.includes(wanted)), wanted).toBe(true);
    }
    expect(copies.some((c) => /(^|\s)src(\/|\s|$)/.test(c.replace(/--\S+/g, '')))).toBe(false);
  });

  it('runs as the non-root user 10001', () => {
    const users = finalOf('USER').map((i) => i.args.split(':')[0]);
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!;
    expect(['root', '0']).not.toContain(user);
    expect(user).toBe('10001');
    // Nothing after USER switches back.
    const lastUser = final.instructions.map((i) => i.keyword).lastIndexOf('USER');
    expect(final.instructions.slice(lastUser + 1).some((i) => i.keyword === 'RUN')).toBe(false);
  });

  it('checks /healthz with node (no curl in the slim image)', () => {
    const checks = finalOf('HEALTHCHECK');
    expect(checks).toHaveLength(1);
    const args = checks[0]!.args;
    expect(args).not.toMatch(/^NONE\b/i);
    const cmd = commandLine(args.replace(/^(--\S+\s+)*CMD\s+/i, ''));
    expect(cmd).toMatch(/^node /);
    expect(cmd).toContain('127.0.0.1');
    expect(cmd).toContain('/healthz');
    expect(cmd).not.toMatch(/\b(curl|wget)\b/);
  });

  it('declares the runtime contract: env, data volume, port, entrypoint and default command', () => {
    const env = finalOf('ENV').map((i) => i.args).join(' ');
    expect(env).toMatch(/NODE_ENV=production/);
    expect(env).toMatch(/DMARCWATCH_DATA_DIR=\/data/);
    expect(finalOf('VOLUME').map((i) => commandLine(i.args))).toContain('/data');
    expect(finalOf('EXPOSE').map((i) => i.args)).toContain('8080');
    expect(finalOf('WORKDIR').at(-1)?.args).toBe('/app');
    expect(finalOf('ENTRYPOINT').map((i) => JSON.parse(i.args) as string[]).at(-1)).toEqual(['/app/docker/entrypoint.sh']);
    expect(finalOf('CMD').map((i) => JSON.parse(i.args) as string[]).at(-1)).toEqual(['start']);
  });

  it('copies only files that exist and that .dockerignore lets through', () => {
    const ignored = new Set(
      fs
        .readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#') && !l.startsWith('!'))
        .map((l) => l.replace(/\/$/, '')),
    );
    expect(ignored).toContain('.env');
    expect(ignored).toContain('node_modules');
    for (const stage of stages) {
      for (const i of stage.instructions) {
        if (i.keyword !== 'COPY' || i.args.includes('--from=')) continue;
        const parts = i.args.split(/\s+/).filter((p) => !p.startsWith('--'));
        for (const source of parts.slice(0, -1)) {
          expect(fs.existsSync(path.join(ROOT, source)), `${source} exists`).toBe(true);
          expect(ignored.has(source.replace(/\/$/, '').split('/')[0]!), `${source} is not in .dockerignore`).toBe(false);
          expect(ignored.has(source.replace(/\/$/, '')), `${source} is not in .dockerignore`).toBe(false);
        }
      }
    }
  });
});

describe('docker/entrypoint.sh', () => {
  const file = path.join(ROOT, 'docker/entrypoint.sh');
  const text = fs.readFileSync(file, 'utf8');

  it('is POSIX sh with set -eu and execs node with the arguments', () => {
    expect(text.split('\n')[0]).toBe('#!/bin/sh');
    expect(text).toMatch(/^set -eu$/m);
    expect(text).toMatch(/^exec node \$node_flags \/app\/dist\/src\/main\.js "\$@"$/m);
    const syntax = spawnSync('sh', ['-n', file], { encoding: 'utf8' });
    expect(syntax.status, syntax.stderr).toBe(0);
  });

  it('starts the server with a larger young generation and every other command with node\'s defaults', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'entrypoint-'));
    try {
      // A stand-in for node that prints what it was started with.
      fs.writeFileSync(path.join(dir, 'node'), '#!/bin/sh\necho "$@"\n', { mode: 0o755 });
      const run = (...args: string[]) => {
        const result = spawnSync('sh', [file, ...args], { encoding: 'utf8', env: { PATH: `${dir}:/usr/bin:/bin`, DMARCWATCH_DATA_DIR: dir } });
        expect(result.status, result.stderr).toBe(0);
        return result.stdout.trim();
      };
      expect(run('start')).toBe('--max-semi-space-size=32 /app/dist/src/main.js start');
      expect(run('serve', '--port', '9000')).toBe('--max-semi-space-size=32 /app/dist/src/main.js serve --port 9000');
      expect(run('import', '/reports')).toBe('/app/dist/src/main.js import /reports');
      expect(run('audit', 'verify')).toBe('/app/dist/src/main.js audit verify');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
