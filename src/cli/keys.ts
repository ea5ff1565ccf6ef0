import { loadConfig } from '../config.js';
import { buildDeps } from '../deps.js';
import { checkKeys, rotateKeys } from '../keys/rotate.js';
import { generateKey } from '../lib/crypto/index.js';
import { createLogger } from '../lib/logger.js';
import { UsageError, type Command } from './io.js';

export const keysCommand: Command = {
  name: 'keys',
  summary: 'generate, check and rotate the keys that seal stored secrets',
  usage: `Usage: dmarcwatch keys <generate|check|rotate>

  generate  print a new key entry (id:base64) to put first in DMARCWATCH_KEYS
  check     count sealed values per key; list values sealed under keys you no longer have
  rotate    re-seal every value under the first key of DMARCWATCH_KEYS (safe to re-run)

To rotate: put a new key first in DMARCWATCH_KEYS and keep the old one after it, restart,
run \`dmarcwatch keys rotate\`, then \`keys check\` shows no retired values and the old key can go.`,
  async run(args, io) {
    const [sub] = args;
    if (sub === 'generate') {
      io.stdout.write(`${generateKey()}\n`);
      return 0;
    }
    if (sub !== 'check' && sub !== 'rotate') throw new UsageError('keys needs one of: generate, check, rotate');
    const config = loadConfig(io.env);
    const deps = await buildDeps(config, { logger: createLogger({ level: 'warn' }) });
    try {
      if (sub === 'check') {
        const check = await checkKeys(deps.database.db, deps.keyring);
        io.stdout.write(`Sealing key: ${deps.keyring.sealingKeyId}\n`);
        for (const [id, n] of Object.entries(check.byKey)) {
          const state = id === deps.keyring.sealingKeyId ? 'current' : deps.keyring.has(id) ? 'retired: run `keys rotate`' : 'UNKNOWN KEY';
          io.stdout.write(`  ${id}: ${n} value(s) (${state})\n`);
        }
        if (Object.keys(check.byKey).length === 0) io.stdout.write('  no sealed values yet\n');
        for (const u of check.unknown.slice(0, 50)) {
          io.stdout.write(`  cannot open ${u.table}.${u.column} of row ${u.id}: key ${u.keyId} is not in DMARCWATCH_KEYS\n`);
        }
        return check.unknown.length > 0 ? 1 : 0;
      }
      const result = await rotateKeys(deps.database.db, deps.keyring, {
        onBatch: (done) => io.stderr.write(`rotating: ${done} value(s) checked\n`),
      });
      io.stdout.write(
        `Re-sealed ${result.resealed} value(s) under ${deps.keyring.sealingKeyId}; ${result.alreadyCurrent} already current.\n`,
      );
      for (const f of result.failed) io.stdout.write(`  could not re-seal ${f.table}.${f.column} of row ${f.id}: ${f.reason}\n`);
      return result.failed.length > 0 ? 1 : 0;
    } finally {
      await deps.database.close();
    }
  },
};
