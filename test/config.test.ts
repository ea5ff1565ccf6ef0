import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseByteSize } from '../src/config.js';

describe('loadConfig', () => {
  it('defaults to the embedded database under ./data and port 8080', () => {
    const config = loadConfig({});
    expect(config.database).toEqual({ kind: 'pglite', dataDir: path.resolve('data/db') });
    expect(config.http.port).toBe(8080);
    expect(config.limits.maxDocumentBytes).toBe(50 * 1024 * 1024);
  });

  it('switches to PostgreSQL when DATABASE_URL is set', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://u@db:5432/x', DMARCWATCH_DB_POOL_SIZE: '3' });
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://u@db:5432/x', poolSize: 3 });
  });

  it('opens two database connections per CPU by default, at least four', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://u@db:5432/x' });
    expect(config.database).toMatchObject({ poolSize: Math.max(4, 2 * os.availableParallelism()) });
  });

  it('reports every bad variable on its own line, naming it and what is expected', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', DMARCWATCH_MAX_DOCUMENT_SIZE: 'huge', LOG_LEVEL: 'loud' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems.find((p) => p.startsWith('PORT:'))).toMatch(/whole number.*"eighty"/);
    expect(problems.find((p) => p.startsWith('DATABASE_URL:'))).toMatch(/postgres:\/\//);
    expect(problems.find((p) => p.startsWith('DMARCWATCH_MAX_DOCUMENT_SIZE:'))).toMatch(/50MiB/);
    expect(problems.find((p) => p.startsWith('LOG_LEVEL:'))).toBeDefined();
  });

  it('rejects a port out of range', () => {
    expect(() => loadConfig({ PORT: '70000' })).toThrow(/PORT: expected a TCP port/);
  });
});

describe('parseByteSize', () => {
  it.each([
    ['1024', 1024],
    ['50MiB', 50 * 1024 * 1024],
    ['50 mb', 50_000_000],
    ['1.5k', 1536],
    ['2GiB', 2 * 1024 ** 3],
  ])('%s → %d', (text, bytes) => expect(parseByteSize(text)).toBe(bytes));

  it.each(['', 'abc', '-5', '0', '5 parsecs'])('refuses %j', (text) => expect(parseByteSize(text)).toBeNull());
});
