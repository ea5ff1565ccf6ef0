import { ConfigError } from '../config.js';
import { DataDirLockedError } from '../db/lockfile.js';
import { KeyringError } from '../lib/crypto/index.js';
import { auditCommand } from './audit.js';
import { importCommand } from './import.js';
import { keysCommand } from './keys.js';
import { mailboxCommand } from './mailbox.js';
import { UsageError, type CliIo, type Command } from './io.js';
import { migrateCommand } from './migrate.js';
import { serveCommand, startCommand, workerCommand } from './serve.js';

const COMMANDS: Command[] = [startCommand, serveCommand, workerCommand, migrateCommand, importCommand, mailboxCommand, keysCommand, auditCommand];

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'DMARC Watch — DMARC, SMTP TLS and failure report monitoring',
    '',
    'Usage: dmarcwatch <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `dmarcwatch <command> --help` for a command’s options. Configuration comes from the',
    'environment (see .env.example and docs/configuration.md).',
  ].join('\n');
}

/** Runs one command and returns the process exit code; every expected failure becomes one clear message. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${help()}\n`);
    return name ? 0 : 2;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(`Unknown command "${name}".\n\n${help()}\n`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(args, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`${error.message}\n\n${command.usage}\n`);
      return 2;
    }
    if (error instanceof ConfigError || error instanceof DataDirLockedError || error instanceof KeyringError) {
      io.stderr.write(`${error.message}\n`);
      return 1;
    }
    if (error instanceof TypeError && (error as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      io.stderr.write(`${error.message}\n\n${command.usage}\n`);
      return 2;
    }
    throw error;
  }
}
