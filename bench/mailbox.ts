import zlib from 'node:zlib';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { createKeyring, initCrypto } from '../src/lib/crypto/index.js';
import { silentLogger } from '../src/lib/logger.js';
import { claimMailbox } from '../src/mailboxes/claim.js';
import { addMailbox, findMailbox } from '../src/mailboxes/manage.js';
import { pollMailbox, type PollDeps } from '../src/mailboxes/poll.js';
import { defaultOrgId } from '../src/orgs/default-org.js';
import { DEFAULT_LIMITS } from '../src/reports/types.js';
import { startDovecot } from '../test/helpers/dovecot.js';
import { buildMail } from '../test/helpers/mail.js';
import { scratchDatabase } from './ingest.js';
import { generateAggregateXml } from './synthetic.js';

export interface MailboxFigures {
  messages: number;
  firstPollSeconds: number;
  incrementalPollSeconds: number;
  rssStartMb: number;
  rssFirstHalfPeakMb: number;
  rssSecondHalfPeakMb: number;
  rssEndMb: number;
}

/** Polls a 10,000-message folder on a local Dovecot into PostgreSQL, then polls it again unchanged. */
export async function benchMailbox(messages = 10_000): Promise<MailboxFigures> {
  await initCrypto();
  const keyring = createKeyring([{ id: 'bench', key: new Uint8Array(32).fill(1) }]);
  const server = await startDovecot({ users: { bench: 'bench-password' } });
  const scratch = await scratchDatabase();
  const database = await openDatabase({ kind: 'postgres', url: scratch.url, poolSize: 10 });
  try {
    for (let i = 0; i < messages; i++) {
      const xml = generateAggregateXml({ records: 3, seed: i + 1, reportId: `mailbench-${i}` });
      server.deliver(
        'bench',
        'INBOX',
        buildMail({ subject: `Report ${i}`, body: { contentType: 'application/gzip', filename: `r${i}.xml.gz`, content: zlib.gzipSync(xml) } }),
      );
    }
    await migrateToLatest(database.db);
    const orgId = await defaultOrgId(database.db);
    await addMailbox(database.db, keyring, orgId, {
      name: 'bench',
      host: 'localhost',
      port: server.ports.imaps,
      caPem: server.caPem,
      username: 'bench',
      authMethod: 'password',
      password: 'bench-password',
      afterProcessing: 'seen',
    });
    const deps: PollDeps = {
      db: database.db,
      keyring,
      logger: silentLogger,
      limits: DEFAULT_LIMITS,
      keepFailureHeaders: true,
      holder: 'bench',
      claimTtlMs: 600_000,
    };
    const poll = async () => {
      const row = await findMailbox(database.db, orgId, 'bench');
      const claimed = await claimMailbox(database.db, row.id, 'bench', 600_000);
      const started = performance.now();
      const result = await pollMailbox(deps, claimed!, new AbortController().signal);
      if (result.outcome !== 'ok') throw new Error(`poll failed: ${result.error}`);
      return { seconds: (performance.now() - started) / 1000, result };
    };
    const rssStart = process.memoryUsage().rss;
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(process.memoryUsage().rss), 100);
    const first = await poll();
    clearInterval(sampler);
    // Flat: the second half of the poll needs no more memory than the first half did.
    const half = Math.floor(samples.length / 2);
    const firstHalfPeak = Math.max(rssStart, ...samples.slice(0, half));
    const secondHalfPeak = Math.max(rssStart, ...samples.slice(half));
    if (first.result.reportsStored !== messages) throw new Error(`stored ${first.result.reportsStored} of ${messages} reports`);
    const rssEnd = process.memoryUsage().rss;
    const again = await poll();
    if (again.result.messages !== 0) throw new Error('the unchanged folder yielded messages again');
    const mb = (n: number) => n / 1024 / 1024;
    return {
      messages,
      firstPollSeconds: first.seconds,
      incrementalPollSeconds: again.seconds,
      rssStartMb: mb(rssStart),
      rssFirstHalfPeakMb: mb(firstHalfPeak),
      rssSecondHalfPeakMb: mb(secondHalfPeak),
      rssEndMb: mb(rssEnd),
    };
  } finally {
    await database.close();
    await scratch.drop();
    await server.stop();
  }
}
