import path from 'node:path';
import { z } from 'zod';

const MiB = 1024 * 1024;

const byteSize = (fallback: number) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return fallback;
      const parsed = parseByteSize(value);
      if (parsed === null) {
        ctx.addIssue({ code: 'custom', message: 'expected a size such as 50MiB, 512KiB or a number of bytes' });
        return z.NEVER;
      }
      return parsed;
    });

const positiveInt = (fallback: number) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return fallback;
      const n = Number(value);
      if (!Number.isInteger(n) || n <= 0) {
        ctx.addIssue({ code: 'custom', message: 'expected a whole number greater than 0' });
        return z.NEVER;
      }
      return n;
    });

const boolean = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return fallback;
      const v = value.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      ctx.addIssue({ code: 'custom', message: 'expected true or false' });
      return z.NEVER;
    });

const envSchema = z.object({
  DATABASE_URL: z
    .string()
    .optional()
    .refine((v) => v === undefined || v === '' || /^postgres(ql)?:\/\//.test(v), {
      message: 'expected a postgres:// or postgresql:// connection URL (leave unset for the embedded database)',
    }),
  DMARCWATCH_DATA_DIR: z.string().optional(),
  DMARCWATCH_DB_POOL_SIZE: positiveInt(10),
  HOST: z.string().optional(),
  PORT: positiveInt(8080).refine((n) => n < 65536, { message: 'expected a TCP port between 1 and 65535' }),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).optional(),
  DMARCWATCH_MAX_DOCUMENT_SIZE: byteSize(50 * MiB),
  DMARCWATCH_MAX_MAIL_SIZE: byteSize(100 * MiB),
  DMARCWATCH_MAX_ZIP_ENTRIES: positiveInt(1000),
  DMARCWATCH_MAX_NESTING: positiveInt(4),
  DMARCWATCH_KEEP_FAILURE_HEADERS: boolean(true),
  DMARCWATCH_KEYS: z.string().optional(),
  DMARCWATCH_POLL_CONCURRENCY: positiveInt(2),
});

export interface Config {
  database: { kind: 'postgres'; url: string; poolSize: number } | { kind: 'pglite'; dataDir: string };
  dataDir: string;
  http: { host: string; port: number };
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  limits: { maxDocumentBytes: number; maxMailBytes: number; maxZipEntries: number; maxDepth: number };
  keepFailureHeaders: boolean;
  /** Raw DMARCWATCH_KEYS (parsed by the keyring); unset means the embedded key file. */
  keys: string | undefined;
  /** Where the embedded default keeps its generated key. */
  keyFile: string;
  mailboxes: { pollConcurrency: number };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates the environment; throws ConfigError with one line per bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const variable = issue.path.join('.');
      const value = env[variable];
      const secret = /URL|KEY|SECRET|PASSWORD|TOKEN/i.test(variable);
      const shown = value === undefined || secret ? '' : ` (got ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)})`;
      return `${variable}: ${issue.message}${shown}`;
    });
    throw new ConfigError(problems);
  }
  const e = result.data;
  const dataDir = path.resolve(e.DMARCWATCH_DATA_DIR || 'data');
  return {
    database:
      e.DATABASE_URL && e.DATABASE_URL !== ''
        ? { kind: 'postgres', url: e.DATABASE_URL, poolSize: e.DMARCWATCH_DB_POOL_SIZE }
        : { kind: 'pglite', dataDir: path.join(dataDir, 'db') },
    dataDir,
    http: { host: e.HOST || '0.0.0.0', port: e.PORT },
    logLevel: e.LOG_LEVEL ?? 'info',
    limits: {
      maxDocumentBytes: e.DMARCWATCH_MAX_DOCUMENT_SIZE,
      maxMailBytes: e.DMARCWATCH_MAX_MAIL_SIZE,
      maxZipEntries: e.DMARCWATCH_MAX_ZIP_ENTRIES,
      maxDepth: e.DMARCWATCH_MAX_NESTING,
    },
    keepFailureHeaders: e.DMARCWATCH_KEEP_FAILURE_HEADERS,
    keys: e.DMARCWATCH_KEYS?.trim() ? e.DMARCWATCH_KEYS : undefined,
    keyFile: path.join(dataDir, 'secret.keys'),
    mailboxes: { pollConcurrency: e.DMARCWATCH_POLL_CONCURRENCY },
  };
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: MiB,
  mb: 1000 * 1000,
  mib: MiB,
  g: 1024 * MiB,
  gb: 1000 * 1000 * 1000,
  gib: 1024 * MiB,
};

export function parseByteSize(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!match) return null;
  const unit = UNITS[(match[2] ?? '').toLowerCase()];
  if (unit === undefined) return null;
  const bytes = Math.floor(Number(match[1]) * unit);
  return bytes > 0 ? bytes : null;
}
