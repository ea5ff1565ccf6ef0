import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { exportAuditJsonl } from '../audit/export.js';
import { listChains, verifyAuditChain, type AuditChainHead } from '../audit/verify.js';
import { loadConfig } from '../config.js';
import { buildDeps, type Deps } from '../deps.js';
import { createLogger } from '../lib/logger.js';
import { UsageError, type CliIo, type Command } from './io.js';

const USAGE = `Usage: dmarcwatch audit <verify|export> [options]

  verify [--chain NAME] [--anchor SEQ:HASH]
            check every chain (or only NAME, e.g. org:1 or instance) from its first event;
            prints OK with the head (SEQ:HASH of the last event) or the first bad event,
            and exits 1 if any chain is broken.
            --anchor (with --chain): a head printed by an earlier verify (or the seq and hash
            of an exported line); the chain must still reach it with the same hash, which
            also catches events deleted from the end.
  export --org ID|instance [--after SEQ] [--limit N]
            one JSON object per event on stdout, in seq order, with prev_hash and hash in hex
            (for a SIEM); continue with --after the last seq received.

A chain alone cannot show that its newest events were deleted: keep heads (or exports) elsewhere
and compare (see docs/security.md, "Audit trail").`;

async function withDeps<T>(io: CliIo, fn: (deps: Deps) => Promise<T>): Promise<T> {
  const deps = await buildDeps(loadConfig(io.env), { logger: createLogger({ level: 'warn' }) });
  try {
    return await fn(deps);
  } finally {
    await deps.database.close();
  }
}

function parseCount(value: string | undefined, option: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < min) {
    throw new UsageError(`${option} needs an integer ≥ ${min}, not "${value}"`);
  }
  return Number(value);
}

function parseAnchor(value: string): AuditChainHead {
  const match = /^(\d+):([0-9a-fA-F]{64})$/.exec(value);
  if (!match || Number(match[1]) < 1) throw new UsageError(`--anchor needs SEQ:HASH (a seq and a 64-digit hex hash), not "${value}"`);
  return { seq: Number(match[1]), hash: match[2]!.toLowerCase() };
}

async function verify(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { chain: { type: 'string' }, anchor: { type: 'string' } } });
  if (values.anchor !== undefined && values.chain === undefined) throw new UsageError('--anchor needs --chain');
  const anchor = values.anchor === undefined ? undefined : parseAnchor(values.anchor);
  return withDeps(io, async ({ database }) => {
    const chains = values.chain === undefined ? await listChains(database.db) : [values.chain];
    if (chains.length === 0) {
      io.stdout.write('No audit events yet.\n');
      return 0;
    }
    let broken = 0;
    for (const chain of chains) {
      const result = await verifyAuditChain(database.db, chain, anchor ? { anchor } : {});
      if (!result.ok) {
        broken += 1;
        const { seq, id, kind, problem } = result.firstBad;
        const where = id === null ? `seq ${seq}` : `seq ${seq} (event id ${id})`;
        io.stdout.write(`${chain}: BROKEN at ${where}: ${kind}: ${problem}; ${result.events} event(s) verified before it\n`);
      } else if (result.head === null) {
        broken += 1;
        io.stdout.write(`${chain}: no events (is the chain name right? chains are "instance" and "org:<id>")\n`);
      } else {
        io.stdout.write(`${chain}: OK, ${result.events} event(s), head ${result.head.seq}:${result.head.hash}\n`);
      }
    }
    return broken > 0 ? 1 : 0;
  });
}

async function exportJsonl(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { org: { type: 'string' }, after: { type: 'string' }, limit: { type: 'string' } },
  });
  if (values.org === undefined) throw new UsageError('export needs --org ID (or --org instance)');
  const orgId = values.org === 'instance' ? null : parseCount(values.org, '--org', 1)!;
  const after = parseCount(values.after, '--after', 0);
  const limit = parseCount(values.limit, '--limit', 1);
  return withDeps(io, async ({ database }) => {
    for await (const line of exportAuditJsonl(database.db, orgId, { after, limit })) {
      if (!io.stdout.write(line)) await once(io.stdout, 'drain');
    }
    return 0;
  });
}

export const auditCommand: Command = {
  name: 'audit',
  summary: 'verify the tamper-evident audit trail, export it as JSON lines',
  usage: USAGE,
  async run(args, io) {
    const [sub, ...rest] = args;
    if (sub === 'verify') return verify(rest, io);
    if (sub === 'export') return exportJsonl(rest, io);
    throw new UsageError('audit needs one of: verify, export');
  },
};
