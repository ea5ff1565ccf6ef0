import fs from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { DNS_DEFAULT_TIMEOUT_MS, dnsServerProblem } from './lib/dns.js';

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

/**
 * Two connections per CPU, at least four: more connections than PostgreSQL can run at once only
 * queue inside it, and on a small machine that also runs PostgreSQL they take CPU from it (on two
 * cores, ten connections cost PostgreSQL a third more CPU per API read than four, and the slowest
 * reads took a quarter longer).
 */
function defaultPoolSize(): number {
  return Math.max(4, 2 * os.availableParallelism());
}

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

/** An optional path to a file that must exist and be readable, made absolute. */
const readableFile = () =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return undefined;
      const file = path.resolve(value.trim());
      try {
        fs.accessSync(file, fs.constants.R_OK);
      } catch {
        ctx.addIssue({ code: 'custom', message: `no readable file at ${file}` });
        return z.NEVER;
      }
      return file;
    });

const envSchema = z.object({
  DATABASE_URL: z
    .string()
    .optional()
    .refine((v) => v === undefined || v === '' || /^postgres(ql)?:\/\//.test(v), {
      message: 'expected a postgres:// or postgresql:// connection URL (leave unset for the embedded database)',
    }),
  DMARCWATCH_DATA_DIR: z.string().optional(),
  DMARCWATCH_DB_POOL_SIZE: positiveInt(defaultPoolSize()),
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
  DMARCWATCH_API_RATE_LIMIT: positiveInt(1200),
  DMARCWATCH_PUBLIC_URL: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return undefined;
      const problem = publicUrlProblem(value.trim());
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
        return z.NEVER;
      }
      return new URL(value.trim()).origin;
    }),
  SMTP_URL: z
    .string()
    .optional()
    .refine((v) => v === undefined || v.trim() === '' || smtpUrlValid(v.trim()), {
      message: 'expected smtp://user:password@host:port or smtps://user:password@host:port (percent-encode special characters)',
    }),
  SMTP_FROM: z
    .string()
    .optional()
    .refine((v) => v === undefined || v.trim() === '' || mailboxValid(v.trim()), {
      message: 'expected an address such as dmarc@example.com or "DMARC Watch <dmarc@example.com>"',
    }),
  DMARCWATCH_SIGNUP: z.enum(['open', 'invite', 'closed']).optional(),
  DMARCWATCH_ADMIN_EMAIL: z
    .string()
    .optional()
    .refine((v) => v === undefined || v.trim() === '' || EMAIL.test(v.trim()), { message: 'expected an email address' }),
  DMARCWATCH_TRUSTED_PROXIES: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return [];
      const entries = value.split(',').map((entry) => entry.trim());
      const bad = entries.filter((entry) => !ipOrCidrValid(entry));
      if (bad.length > 0) {
        ctx.addIssue({ code: 'custom', message: `expected comma-separated IP addresses or CIDR ranges such as 10.0.0.0/8 or fd00::/8; not understood: ${bad.map((b) => JSON.stringify(b)).join(', ')}` });
        return z.NEVER;
      }
      return entries;
    }),
  DMARCWATCH_DNS_SERVERS: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return [];
      const entries = value.split(',').map((entry) => entry.trim());
      const bad = entries.filter((entry) => dnsServerProblem(entry) !== null);
      if (bad.length > 0) {
        ctx.addIssue({ code: 'custom', message: `expected comma-separated IP addresses, ip:port or [ipv6]:port; not understood: ${bad.map((b) => JSON.stringify(b)).join(', ')}` });
        return z.NEVER;
      }
      return entries;
    }),
  DMARCWATCH_DNS_TIMEOUT_MS: positiveInt(DNS_DEFAULT_TIMEOUT_MS),
  DMARCWATCH_REQUIRE_DOMAIN_PROOF: boolean(false),
  DMARCWATCH_GEOIP_ASN_DB: readableFile(),
  DMARCWATCH_GEOIP_COUNTRY_DB: readableFile(),
});

/** Deliberately loose: one @, something on each side, no spaces or angle brackets. */
export const EMAIL = /^[^\s@<>()",;:]+@[^\s@<>()",;:]+\.[^\s@<>()",;:]+$/;

function publicUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'expected the address people use to reach DMARC Watch, e.g. https://dmarc.example.com';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'expected an https:// URL, e.g. https://dmarc.example.com';
  if (url.username || url.password) return 'must not contain a user name or password';
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    return 'expected an origin only (scheme, host and optional port, e.g. https://dmarc.example.com): DMARC Watch cannot be served under a path';
  }
  // Session cookies are always Secure except on a loopback address (see src/auth/sessions.ts);
  // over plain http anywhere else a browser would drop them and nobody could sign in.
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    return 'must be https:// (put DMARC Watch behind a TLS-terminating reverse proxy); plain http:// is accepted only for localhost and 127.0.0.1';
  }
  return null;
}

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '127.0.0.1';
}

function smtpUrlValid(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'smtp:' || url.protocol === 'smtps:') && url.hostname !== '';
  } catch {
    return false;
  }
}

function mailboxValid(text: string): boolean {
  if (/[\r\n]/.test(text)) return false;
  const angle = /^[^<>]*<([^<>]+)>$/.exec(text);
  return EMAIL.test(angle ? (angle[1] as string) : text);
}

function ipOrCidrValid(entry: string): boolean {
  const [address, prefix, ...rest] = entry.split('/');
  if (rest.length > 0 || address === undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

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
  /** Origin people reach the web interface at (no trailing slash), e.g. https://dmarc.example.com. */
  publicUrl: string;
  mail: {
    /** smtp[s]://user:pass@host:port; unset: mail is written to the log (embedded database only). */
    smtpUrl: string | undefined;
    from: string;
  };
  /** Who may create an account by signing in: anyone, invited addresses only, or nobody new. */
  signup: 'open' | 'invite' | 'closed';
  /** This address is made instance admin when it signs in. */
  adminEmail: string | undefined;
  /** Peers (IPs or CIDRs) whose X-Forwarded-For / X-Forwarded-Proto headers are believed. */
  trustedProxies: string[];
  /** API requests allowed per minute for one API key or one signed-in person, across every replica. */
  apiRateLimitPerMinute: number;
  /** DNS servers (`ip` or `ip:port`; empty: the system's) and how long to wait for one answer. */
  dns: { servers: string[]; timeoutMs: number };
  /** Domains count only once their DNS ownership proof is found (the hosted edition). */
  requireDomainProof: boolean;
  /** MaxMind DB files (GeoLite2 or DB-IP lite) for the ASN and the country of sending addresses; unset: unknown. */
  geo: { asnDb: string | undefined; countryDb: string | undefined };
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
    publicUrl: e.DMARCWATCH_PUBLIC_URL ?? `http://localhost:${e.PORT}`,
    mail: {
      smtpUrl: e.SMTP_URL?.trim() ? e.SMTP_URL.trim() : undefined,
      from: e.SMTP_FROM?.trim() ? e.SMTP_FROM.trim() : `DMARC Watch <dmarcwatch@${new URL(e.DMARCWATCH_PUBLIC_URL ?? 'http://localhost').hostname}>`,
    },
    signup: e.DMARCWATCH_SIGNUP ?? 'open',
    adminEmail: e.DMARCWATCH_ADMIN_EMAIL?.trim() ? e.DMARCWATCH_ADMIN_EMAIL.trim() : undefined,
    trustedProxies: e.DMARCWATCH_TRUSTED_PROXIES,
    apiRateLimitPerMinute: e.DMARCWATCH_API_RATE_LIMIT,
    dns: { servers: e.DMARCWATCH_DNS_SERVERS, timeoutMs: e.DMARCWATCH_DNS_TIMEOUT_MS },
    requireDomainProof: e.DMARCWATCH_REQUIRE_DOMAIN_PROOF,
    geo: { asnDb: e.DMARCWATCH_GEOIP_ASN_DB, countryDb: e.DMARCWATCH_GEOIP_COUNTRY_DB },
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
