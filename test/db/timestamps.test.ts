import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { describePostgres, openTestDatabase, type TestDatabase } from '../helpers/db.js';

// The pg driver's parser is ours (src/db/database.ts); PGlite parses timestamps itself.
describePostgres('timestamptz values read back through the pg driver', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openTestDatabase('postgres');
  });
  afterAll(() => database.close());

  it('as the same instant whatever the session time zone, to the millisecond', async () => {
    for (const zone of ['UTC', 'Asia/Kathmandu', 'America/St_Johns', 'Pacific/Chatham', 'Europe/Amsterdam']) {
      const rows = await database.db.transaction().execute(async (trx) => {
        await sql`select set_config('TimeZone', ${zone}, true)`.execute(trx);
        return (
          await sql<{ a: Date; b: Date; c: Date; d: Date }>`select
            '2026-11-22T23:59:59Z'::timestamptz as a,
            '2026-03-29T01:30:00.123456Z'::timestamptz as b,
            '1999-12-31T23:59:59.999Z'::timestamptz as c,
            '1883-11-18T12:00:00Z'::timestamptz as d`.execute(trx)
        ).rows[0]!;
      });
      expect(rows.a.toISOString(), zone).toBe('2026-11-22T23:59:59.000Z');
      expect(rows.b.toISOString(), zone).toBe('2026-03-29T01:30:00.123Z');
      expect(rows.c.toISOString(), zone).toBe('1999-12-31T23:59:59.999Z');
      // Before standard time zones, offsets had seconds (Amsterdam: +00:19:32).
      expect(rows.d.toISOString(), zone).toBe('1883-11-18T12:00:00.000Z');
    }
  });

  it('keeps infinity and dates before the common era readable', async () => {
    const row = (await sql<{ inf: unknown; bc: Date }>`select 'infinity'::timestamptz as inf, '0044-03-15 12:00:00+00 BC'::timestamptz as bc`.execute(database.db)).rows[0]!;
    expect(row.inf === Infinity || String(row.inf) === 'infinity').toBe(true);
    expect(new Date(row.bc).getUTCFullYear()).toBe(-43);
  });

  it('counts calendar days in UTC even when the server or the connection defaults to another zone', async () => {
    if (database.url === undefined) throw new Error('a PostgreSQL test database has a URL');
    const url = new URL(database.url);
    url.searchParams.set('options', '-c TimeZone=Pacific/Kiritimati');
    const zoned = await openDatabase({ kind: 'postgres', url: url.toString(), poolSize: 2 });
    try {
      const row = (
        await sql<{ zone: string; day: string; text: string }>`select current_setting('TimeZone') as zone,
          '2026-11-22T23:30:00Z'::timestamptz::date::text as day, '2026-11-22T23:30:00Z'::timestamptz::text as text`.execute(zoned.db)
      ).rows[0]!;
      expect(row).toEqual({ zone: 'UTC', day: '2026-11-22', text: '2026-11-22 23:30:00+00' });
    } finally {
      await zoned.close();
    }
  });
});
