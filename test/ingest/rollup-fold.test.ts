import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { generateAggregateXml } from '../../bench/synthetic.js';
import { Rows, supportsCopy, useGenericWrites, writeRows, type Column } from '../../src/db/bulk.js';
import { foldDailyDeltas } from '../../src/ingest/daily-fold.js';
import { deleteAggregateReports } from '../../src/ingest/delete-reports.js';
import { importPaths, type FileIngestContext } from '../../src/ingest/sources/files.js';
import { silentLogger } from '../../src/lib/logger.js';
import { defaultOrgId } from '../../src/orgs/default-org.js';
import { DEFAULT_LIMITS } from '../../src/reports/types.js';
import { describeEachBackend, openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { snapshotReportData } from '../helpers/snapshot.js';

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'dmarcwatch-fold-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function corpus(name: string, reports: number, records: number, beginEpoch?: number): Promise<string> {
  const dir = path.join(tmp, name);
  await fs.mkdir(dir, { recursive: true });
  for (let i = 0; i < reports; i++) {
    // Same domain and day for every report: their rollup keys overlap, as real reports' do.
    const xml = generateAggregateXml({ records, seed: 7 + (i % 2), reportId: `${name}-${i}`, ...(beginEpoch ? { beginEpoch } : {}) });
    await fs.writeFile(path.join(dir, `r${i}.xml`), xml);
  }
  return dir;
}

const rollup = async (db: TestDatabase['db']) =>
  (
    await sql<Record<string, unknown>>`select policy_domain, day, header_from, host(source_ip) as ip, disposition, dkim_eval, spf_eval, sum(messages)::int8 as messages
      from aggregate_daily group by 1, 2, 3, 4, 5, 6, 7 order by 1, 2, 3, 4, 5, 6, 7`.execute(db)
  ).rows;
/** The domain-day rollup, and the same totals computed from the full daily rollup: they must always agree. */
const domainTotals = async (db: TestDatabase['db']) => {
  const kept = await sql<Record<string, unknown>>`select policy_domain, day, messages, dmarc_pass, dkim_pass, spf_pass, both_pass, quarantine, reject
    from aggregate_domain_daily order by 1, 2`.execute(db);
  const derived = await sql<Record<string, unknown>>`select policy_domain, day, sum(messages)::int8 as messages,
      coalesce(sum(messages) filter (where dkim_eval = 'pass' or spf_eval = 'pass'), 0)::int8 as dmarc_pass,
      coalesce(sum(messages) filter (where dkim_eval = 'pass'), 0)::int8 as dkim_pass,
      coalesce(sum(messages) filter (where spf_eval = 'pass'), 0)::int8 as spf_pass,
      coalesce(sum(messages) filter (where dkim_eval = 'pass' and spf_eval = 'pass'), 0)::int8 as both_pass,
      coalesce(sum(messages) filter (where disposition = 'quarantine'), 0)::int8 as quarantine,
      coalesce(sum(messages) filter (where disposition = 'reject'), 0)::int8 as reject
    from aggregate_daily group by 1, 2 order by 1, 2`.execute(db);
  return { kept: kept.rows, derived: derived.rows };
};
const deltaCount = async (db: TestDatabase['db']) =>
  Number((await sql<{ n: number }>`select count(*)::int8 as n from aggregate_daily_delta`.execute(db)).rows[0]!.n);
const total = async (db: TestDatabase['db'], table: 'aggregate_daily' | 'aggregate_record') =>
  Number(
    (await sql<{ n: number }>`select coalesce(sum(${sql.ref(table === 'aggregate_daily' ? 'messages' : 'message_count')}), 0)::int8 as n from ${sql.table(table)}`.execute(db))
      .rows[0]!.n,
  );

describeEachBackend('daily rollup increments', (backend) => {
  let database: TestDatabase;
  let ctx: FileIngestContext;

  beforeEach(async () => {
    database = await openTestDatabase(backend);
    ctx = { db: database.db, orgId: await defaultOrgId(database.db), limits: DEFAULT_LIMITS, keepFailureHeaders: true, logger: silentLogger };
  });
  afterEach(async () => {
    await database.close();
  });

  it('are appended by ingest, counted by the aggregate_daily view, and folded without changing it', async () => {
    await importPaths(ctx, [await corpus(`fold-${backend}`, 4, 300)]);
    expect(await deltaCount(database.db)).toBeGreaterThan(0);
    const before = await rollup(database.db);
    expect(await total(database.db, 'aggregate_daily')).toBe(await total(database.db, 'aggregate_record'));
    // One row per key in the view even though the four reports appended overlapping keys.
    const keys = new Set(before.map((r) => JSON.stringify({ ...r, messages: 0 })));
    expect(keys.size).toBe(before.length);

    const domainsBefore = await domainTotals(database.db);
    expect(domainsBefore.kept).toEqual(domainsBefore.derived);
    expect(domainsBefore.kept.length).toBeGreaterThan(0);

    const folded = await foldDailyDeltas(database.db, 250); // several chunks
    expect(folded).toBeGreaterThan(250);
    expect(await deltaCount(database.db)).toBe(0);
    expect(await rollup(database.db)).toEqual(before);
    expect((await domainTotals(database.db)).kept).toEqual(domainsBefore.kept);
    const foldedDomainRows = await sql`select count(*)::int8 as n from aggregate_domain_daily_folded`.execute(database.db);
    expect(Number((foldedDomainRows.rows[0] as { n: number }).n)).toBe(domainsBefore.kept.length);
    expect(await foldDailyDeltas(database.db)).toBe(0);
    expect(await rollup(database.db)).toEqual(before);

    // More reports on the same keys after a fold: added to the folded rows, totals still exact.
    await importPaths(ctx, [await corpus(`fold-more-${backend}`, 2, 300)]);
    const after = await rollup(database.db);
    await foldDailyDeltas(database.db);
    const domainsAfter = await domainTotals(database.db);
    expect(domainsAfter.kept).toEqual(domainsAfter.derived);
    expect(await rollup(database.db)).toEqual(after);
    expect(await total(database.db, 'aggregate_daily')).toBe(await total(database.db, 'aggregate_record'));
  });

  it('a fold that fails midway changes nothing, and the next fold finishes it', async () => {
    await importPaths(ctx, [await corpus(`fold-crash-${backend}`, 3, 200)]);
    const before = await rollup(database.db);
    const deltas = await deltaCount(database.db);
    // The statement fails after its delete ran: the whole chunk rolls back.
    await expect(
      database.db.transaction().execute(async (trx) => {
        await foldDailyDeltas(trx);
        throw new Error('simulated crash before commit');
      }),
    ).rejects.toThrow(/simulated crash/);
    expect(await deltaCount(database.db)).toBe(deltas);
    expect(await rollup(database.db)).toEqual(before);
    await foldDailyDeltas(database.db);
    expect(await rollup(database.db)).toEqual(before);
  });

  it('deleting reports leaves the rollups, folded or not', async () => {
    await importPaths(ctx, [await corpus(`fold-delete-${backend}`, 2, 100)]);
    const before = await rollup(database.db);
    const [first, second] = await database.db.selectFrom('aggregate_report').select('id').orderBy('id').execute();
    expect(await deleteAggregateReports(database.db, ctx.orgId, [first!.id])).toBe(1);
    expect(await rollup(database.db)).toEqual(before);
    await foldDailyDeltas(database.db);
    expect(await deleteAggregateReports(database.db, ctx.orgId, [second!.id])).toBe(1);
    expect(await rollup(database.db)).toEqual(before);
  });

  it('drops the increments of an organisation that no longer exists', async () => {
    const other = await database.db.insertInto('organization').values({ slug: 'gone', name: 'Gone' }).returning('id').executeTakeFirstOrThrow();
    await importPaths({ ...ctx, orgId: other.id }, [await corpus(`fold-gone-${backend}`, 1, 50)]);
    await importPaths(ctx, [await corpus(`fold-kept-${backend}`, 1, 50)]);
    await sql`delete from aggregate_record where org_id = ${other.id}`.execute(database.db);
    await sql`delete from aggregate_report where org_id = ${other.id}`.execute(database.db);
    await sql`delete from ingest_log where org_id = ${other.id}`.execute(database.db);
    await sql`delete from raw_document where org_id = ${other.id}`.execute(database.db);
    await sql`delete from organization where id = ${other.id}`.execute(database.db);
    await foldDailyDeltas(database.db);
    expect(await deltaCount(database.db)).toBe(0);
    const orgs = await sql<{ org_id: number }>`select distinct org_id from aggregate_daily`.execute(database.db);
    expect(orgs.rows.map((r) => Number(r.org_id))).toEqual([ctx.orgId]);
  });

  it('stores the same values through COPY and through unnest, whatever the characters', async () => {
    expect(await supportsCopy(database.db)).toBe(backend === 'postgres');
    const columns: Column[] = [
      ['report_id', 'int8'],
      ['record_ordinal', 'int4'],
      ['ordinal', 'int2'],
      ['org_id', 'int8'],
      ['type', 'text'],
      ['comment', 'text'],
    ];
    const awkward = ['plain', '', 'NULL', 'back\\slash', 'tab\there', 'line\nbreak', 'cr\rlf\r\n', 'quote"s', "it's", '{braces}', 'a,b', ' spaced ', 'ünïcødé ✓', '\\N', '550-5.7.26 x'];
    const write = async (reportId: number, copy: boolean) => {
      const rows = new Rows('aggregate_record_reason', columns);
      awkward.forEach((value, i) => rows.add(reportId, i, 0, ctx.orgId, value, i % 3 === 0 ? null : value));
      await database.db.transaction().execute((trx) => writeRows(trx, [rows], copy));
    };
    await write(1, false);
    if (backend === 'postgres') await write(2, true);
    else await write(2, false);
    const stored = await sql<{ report_id: number; record_ordinal: number; type: string; comment: string | null }>`
      select report_id, record_ordinal, type, comment from aggregate_record_reason order by record_ordinal, report_id`.execute(database.db);
    const byReport = (id: number) => stored.rows.filter((r) => Number(r.report_id) === id).map(({ record_ordinal, type, comment }) => ({ record_ordinal, type, comment }));
    expect(byReport(1).map((r) => r.type)).toEqual(awkward);
    expect(byReport(1).map((r) => r.comment)).toEqual(awkward.map((v, i) => (i % 3 === 0 ? null : v)));
    expect(byReport(2)).toEqual(byReport(1));
  });
});

describeEachBackend('the COPY and generic write paths', (backend) => {
  it('store identical report data', async () => {
    if (backend === 'pglite') return; // PGlite has only the generic path, covered by every other test
    const dir = await corpus('paths', 3, 400, 1_700_000_000);
    const snapshots = [];
    for (const copy of [true, false]) {
      const database = await openTestDatabase(backend);
      try {
        const db = database.db;
        if (!copy) useGenericWrites(db);
        expect(await supportsCopy(db)).toBe(copy);
        await importPaths({ db, orgId: await defaultOrgId(db), limits: DEFAULT_LIMITS, keepFailureHeaders: true, logger: silentLogger }, [dir]);
        snapshots.push(await snapshotReportData(database.db));
      } finally {
        await database.close();
      }
    }
    expect(snapshots[1]).toEqual(snapshots[0]);
  });
});
