import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { buildDeps } from '../deps.js';
import { importPaths } from '../ingest/sources/files.js';
import { formatSummary } from '../ingest/summary.js';
import { createLogger } from '../lib/logger.js';
import { createProgress } from '../lib/progress.js';
import { defaultOrgId } from '../orgs/default-org.js';
import { UsageError, type Command } from './io.js';

export const importCommand: Command = {
  name: 'import',
  summary: 'import report files, directories, mbox files and maildirs',
  usage: `Usage: dmarcwatch import [--json] [--quiet] <path>...

Reads DMARC aggregate (XML), SMTP TLS (JSON) and failure (ARF) reports from files of any
wrapping (plain, .gz, .zip, .eml, mbox; directories and maildirs are walked) and stores each
report once. Already-imported documents are recognised and skipped.

Options:
  --json     print the summary as JSON on stdout
  --quiet    no progress output
Exit status: 0 when anything could be read, 1 when nothing could.`,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { json: { type: 'boolean' }, quiet: { type: 'boolean' } },
    });
    if (positionals.length === 0) throw new UsageError('import needs at least one file or directory');
    const config = loadConfig(io.env);
    const logger = createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel });
    const deps = await buildDeps(config, { logger });
    try {
      let progress: ReturnType<typeof createProgress> | undefined;
      const summary = await importPaths(
        {
          db: deps.database.db,
          orgId: await defaultOrgId(deps.database.db),
          limits: config.limits,
          keepFailureHeaders: config.keepFailureHeaders,
          logger,
        },
        positionals,
        values.quiet
          ? undefined
          : ({ filesDone, filesTotal, current }) => {
              progress ??= createProgress('importing', filesTotal, io.stderr);
              if (current) progress.update(filesDone, current.split('/').pop());
              else progress.finish();
            },
      );
      if (values.json) io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      else io.stdout.write(`${formatSummary(summary)}\n`);
      return summary.files === 0 ? 1 : 0;
    } finally {
      await deps.database.close();
    }
  },
};
