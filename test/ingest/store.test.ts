import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { generateAggregateXml } from '../../bench/synthetic.js';
import { importPaths, type FileIngestContext } from '../../src/ingest/sources/files.js';
import { silentLogger } from '../../src/lib/logger.js';
import { defaultOrgId } from '../../src/orgs/default-org.js';
import { DEFAULT_LIMITS } from '../../src/reports/types.js';
import { describeEachBackend, openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { crashingAfter, snapshotReportData } from '../helpers/snapshot.js';

const CORPUS = path.resolve(import.meta.dirname, '../fixtures/corpus');

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'dmarcwatch-store-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function writeFiles(dir: string, files: Record<string, string | Uint8Array>): Promise<string> {
  const target = path.join(tmp, dir);
  await fs.mkdir(target, { recursive: true });
  for (const [name, content] of Object.entries(files)) await fs.writeFile(path.join(target, name), content);
  return target;
}

function gzip(text: string | Uint8Array): Buffer {
  return zlib.gzipSync(text);
}

function mailWith(attachmentName: string, content: Uint8Array): string {
  const body = Buffer.from(content).toString('base64').replace(/.{76}/g, '$&\r\n');
  return [
    'From: noreply-dmarc-support@google.com',
    'To: dmarc@example.com',
    'Subject: Report domain: example.com Submitter: google.com',
    'Date: Mon, 04 Mar 2024 10:00:00 +0000',
    'Message-ID: <report-1@google.com>',
    'MIME-Version: 1.0',
    `Content-Type: application/gzip; name="${attachmentName}"`,
    `Content-Disposition: attachment; filename="${attachmentName}"`,
    'Content-Transfer-Encoding: base64',
    '',
    body,
    '',
  ].join('\r\n');
}

describeEachBackend('store', (backend) => {
  let database: TestDatabase;
  let ctx: FileIngestContext;

  beforeEach(async () => {
    database = await openTestDatabase(backend);
    ctx = {
      db: database.db,
      orgId: await defaultOrgId(database.db),
      limits: DEFAULT_LIMITS,
      keepFailureHeaders: true,
      logger: silentLogger,
    };
  });
  afterEach(async () => {
    await database.close();
  });

  const count = async (table: 'aggregate_report' | 'aggregate_record' | 'tls_report' | 'failure_report') =>
    Number((await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(database.db)).rows[0]!.n);
  const sums = async () =>
    (
      await sql<{ records: number; daily: number }>`
        select (select coalesce(sum(message_count), 0)::int8 from aggregate_record) as records,
               (select coalesce(sum(messages), 0)::int8 from aggregate_daily) as daily`.execute(database.db)
    ).rows[0]!;

  it('stores the real-receiver corpus, and a second import changes nothing', async () => {
    const first = await importPaths(ctx, [CORPUS]);
    expect(first.unreadable).toEqual([]);
    expect(first.stored.aggregate).toBeGreaterThan(50);
    expect(first.stored.tlsrpt).toBeGreaterThan(10);
    expect(first.stored.failure).toBeGreaterThan(0);
    expect(first.outcomes.refused).toBeGreaterThan(0);
    const { records, daily } = await sums();
    expect(daily).toBe(records);

    const before = await snapshotReportData(database.db);
    const second = await importPaths(ctx, [CORPUS]);
    expect(second.outcomes.stored).toBe(0);
    const wrappersRefused = await sql<{ n: number }>`select count(*)::int as n from ingest_log where sha256 is null`.execute(database.db);
    expect(second.documents).toBe(first.documents);
    expect(second.seenBefore).toBe(second.documents - wrappersRefused.rows[0]!.n);
    expect(await snapshotReportData(database.db)).toEqual(before);
  });

  it('recognises the same report in any wrapper by its content hash', async () => {
    const xml = generateAggregateXml({ records: 25, seed: 7, reportId: 'wrap-1' });
    const dir = await writeFiles('wrappers-' + backend, {
      'a.xml': xml,
      'b.xml.gz': gzip(xml),
      'c.xml.gz.gz': gzip(gzip(xml)),
      'd.eml': mailWith('report.xml.gz', gzip(xml)),
    });
    const summary = await importPaths(ctx, [dir]);
    expect(summary.outcomes).toEqual({ stored: 1, duplicate: 3, refused: 0, not_a_report: 0 });
    expect(summary.seenBefore).toBe(3);
    expect(await count('aggregate_report')).toBe(1);
    expect(await count('aggregate_record')).toBe(25);
  });

  it('counts a re-sent report with different bytes once, keeping it as a duplicate', async () => {
    const xml = generateAggregateXml({ records: 40, seed: 11, reportId: 'resent-1' });
    const reformatted = xml.replace(/\n/g, '\r\n');
    expect(reformatted).not.toBe(xml);
    const dir = await writeFiles('resent-' + backend, { '1.xml': xml, '2.xml': reformatted });
    const summary = await importPaths(ctx, [dir]);
    expect(summary.outcomes.stored).toBe(1);
    expect(summary.outcomes.duplicate).toBe(1);
    expect(summary.seenBefore).toBe(0);
    expect(await count('aggregate_record')).toBe(40);
    const { records, daily } = await sums();
    expect(daily).toBe(records);
    const raw = await database.db.selectFrom('raw_document').select(['outcome', 'problem']).orderBy('outcome').execute();
    expect(raw.map((r) => r.outcome)).toEqual(['duplicate', 'stored']);
    expect(raw[0]!.problem).toMatch(/already stored/);
  });

  it('refuses a truncated report whole, with a reason, and goes on with the others', async () => {
    const good = generateAggregateXml({ records: 10, seed: 3, reportId: 'good-1' });
    const truncated = generateAggregateXml({ records: 10, seed: 4, reportId: 'bad-1' }).slice(0, 3000);
    const dir = await writeFiles('truncated-' + backend, { 'bad.xml': truncated, 'good.xml': good });
    const summary = await importPaths(ctx, [dir]);
    expect(summary.outcomes.stored).toBe(1);
    expect(summary.outcomes.refused).toBe(1);
    expect(Object.keys(summary.problems)).toEqual(['malformed_xml']);
    expect(await count('aggregate_report')).toBe(1);
    expect(await count('aggregate_record')).toBe(10);
    const log = await database.db.selectFrom('ingest_log').select(['item', 'outcome', 'problem']).where('outcome', '=', 'refused').execute();
    expect(log).toHaveLength(1);
    expect(log[0]!.item).toMatch(/bad\.xml/);
    expect(log[0]!.problem).toBeTruthy();
  });

  it('spreads a multi-day report over the days it covers and keeps totals exact', async () => {
    const begin = Date.UTC(2024, 2, 1, 12) / 1000;
    const xml = generateAggregateXml({ records: 30, seed: 5, reportId: 'multi-day', beginEpoch: begin }).replace(
      /<end>\d+<\/end>/,
      `<end>${begin + 3 * 86400}</end>`,
    );
    const dir = await writeFiles('multiday-' + backend, { 'r.xml': xml });
    await importPaths(ctx, [dir]);
    const days = await sql<{ day: string; messages: number }>`
      select day, sum(messages)::int8 as messages from aggregate_daily group by day order by day`.execute(database.db);
    expect(days.rows.map((r) => r.day)).toEqual(['2024-03-01', '2024-03-02', '2024-03-03', '2024-03-04']);
    const { records, daily } = await sums();
    expect(daily).toBe(records);
  });

  it('leaves the database as one clean run would after a crash at any point and a re-run', async () => {
    const files: Record<string, string | Uint8Array> = {};
    for (let i = 0; i < 4; i++) files[`r${i}.xml`] = generateAggregateXml({ records: 1500, seed: 100 + i, reportId: `crash-${i}` });
    files['dup.xml.gz'] = gzip(files['r1.xml'] as string);
    files['bad.xml'] = '<feedback><report_metadata>';
    const dir = await writeFiles('crash-' + backend, files);

    await importPaths(ctx, [dir]);
    const clean = await snapshotReportData(database.db);
    const queries = await countQueries(database, ctx, dir);

    for (const crashAt of [0, 3, Math.floor(queries / 3), Math.floor(queries / 2), queries - 2]) {
      const fresh = await openTestDatabase(backend);
      try {
        const freshCtx = { ...ctx, db: fresh.db, orgId: await defaultOrgId(fresh.db) };
        const crashing = crashingAfter(fresh.db, crashAt);
        await expect(importPaths({ ...freshCtx, db: crashing.db }, [dir])).rejects.toThrow(/simulated crash/);
        expect(crashing.crashed()).toBe(true);
        await importPaths(freshCtx, [dir]);
        expect(await snapshotReportData(fresh.db), `crash before query ${crashAt + 1}`).toEqual(clean);
      } finally {
        await fresh.close();
      }
    }
  });
});

async function countQueries(database: TestDatabase, ctx: FileIngestContext, dir: string): Promise<number> {
  const fresh = await openTestDatabase(database.url ? 'postgres' : 'pglite');
  try {
    let n = 0;
    const counting = fresh.db.withPlugin({
      transformQuery: (args) => {
        n += 1;
        return args.node;
      },
      transformResult: async (args) => args.result,
    });
    await importPaths({ ...ctx, db: counting, orgId: await defaultOrgId(fresh.db) }, [dir]);
    return n;
  } finally {
    await fresh.close();
  }
}

describeEachBackend('deleting reports', (backend) => {
  it('removes a report and all its record rows, only within its organisation', async () => {
    const { deleteAggregateReports } = await import('../../src/ingest/delete-reports.js');
    const database = await openTestDatabase(backend);
    try {
      const orgId = await defaultOrgId(database.db);
      const other = await database.db.insertInto('organization').values({ slug: 'other', name: 'Other' }).returning('id').executeTakeFirstOrThrow();
      const dir = await writeFiles(`delete-${backend}`, {
        'a.xml': generateAggregateXml({ records: 20, seed: 1, reportId: 'del-a' }),
        'b.xml': generateAggregateXml({ records: 10, seed: 2, reportId: 'del-b' }),
      });
      const ctx = { db: database.db, orgId, limits: DEFAULT_LIMITS, keepFailureHeaders: true, logger: silentLogger };
      await importPaths(ctx, [dir]);
      const a = await database.db.selectFrom('aggregate_report').select('id').where('external_id', '=', 'del-a').executeTakeFirstOrThrow();
      expect(await deleteAggregateReports(database.db, other.id, [a.id])).toBe(0);
      expect(await deleteAggregateReports(database.db, orgId, [a.id])).toBe(1);
      for (const table of ['aggregate_record', 'aggregate_record_dkim', 'aggregate_record_spf'] as const) {
        const left = await database.db.selectFrom(table).select('report_id').distinct().execute();
        expect(left.map((r) => r.report_id)).not.toContain(a.id);
        expect(left.length).toBe(1);
      }
    } finally {
      await database.close();
    }
  });
});
