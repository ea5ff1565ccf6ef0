import type { Kysely } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { canonicalJson } from '../../src/audit/canonical-json.js';
import { exportAuditJsonl, type AuditExportLine, type AuditExportOptions } from '../../src/audit/export.js';
import { AUDIT_ZERO_HASH, hashAuditEvent, recordAuditEvent } from '../../src/audit/record.js';
import type { DB } from '../../src/db/schema.js';
import { defaultOrgId } from '../../src/orgs/default-org.js';
import { describeEachBackend, openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createOrg, seedChain } from './helpers.js';

async function collect(db: Kysely<DB>, orgId: number | null, options?: AuditExportOptions): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of exportAuditJsonl(db, orgId, options)) lines.push(line);
  return lines;
}

const parse = (lines: string[]) => lines.map((line) => JSON.parse(line) as AuditExportLine);

describeEachBackend('audit export', (backend) => {
  let database: TestDatabase;
  let orgId: number;
  beforeAll(async () => {
    database = await openTestDatabase(backend);
    orgId = await defaultOrgId(database.db);
    await seedChain(database.db, orgId, 50);
    await seedChain(database.db, null, 3);
  });
  afterAll(async () => {
    await database.close();
  });

  it('writes one JSON object per line, in seq order, with hex hashes', async () => {
    const lines = await collect(database.db, orgId);
    expect(lines).toHaveLength(50);
    // Sorted keys, no whitespace: exporting the same event twice gives the same bytes.
    for (const line of lines) expect(line).toBe(`${canonicalJson(JSON.parse(line))}\n`);
    const events = parse(lines);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(events[0]).toMatchObject({
      chain: `org:${orgId}`,
      seq: 1,
      org_id: orgId,
      actor_type: 'user',
      actor_id: '1',
      action: 'member.role_change',
      target_type: 'mailbox',
      target_id: '1',
      ip: '192.0.2.1',
      summary: { before: { interval: 1, name: 'box 1' }, after: { interval: 2, tags: ['a', 1] }, n: 0.1 },
      prev_hash: AUDIT_ZERO_HASH.toString('hex'),
    });
    expect(events[0]!.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    for (const [i, event] of events.entries()) {
      expect(event.hash).toMatch(/^[0-9a-f]{64}$/);
      if (i > 0) expect(event.prev_hash).toBe(events[i - 1]!.hash);
    }
  });

  it('carries everything needed to re-verify the copy away from the database', async () => {
    for (const event of parse(await collect(database.db, orgId))) {
      const recomputed = hashAuditEvent(Buffer.from(event.prev_hash, 'hex'), { ...event, created_at: new Date(event.created_at) });
      expect(recomputed.toString('hex')).toBe(event.hash);
    }
  });

  it('pages by seq: each page continues after the last seq of the previous one', async () => {
    const pages: number[][] = [];
    let after = 0;
    for (;;) {
      const page = parse(await collect(database.db, orgId, { after, limit: 20, batchSize: 6 }));
      if (page.length === 0) break;
      pages.push(page.map((e) => e.seq));
      after = page.at(-1)!.seq;
    }
    expect(pages.map((p) => [p[0], p.at(-1), p.length])).toEqual([
      [1, 20, 20],
      [21, 40, 20],
      [41, 50, 10],
    ]);
    expect(pages.flat()).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await collect(database.db, orgId, { after: 50 })).toEqual([]);
    expect(parse(await collect(database.db, orgId, { after: 48 })).map((e) => e.seq)).toEqual([49, 50]);
  });

  it('exports the instance chain for a null organisation, and a deleted organisation under its id', async () => {
    expect(parse(await collect(database.db, null)).map((e) => [e.chain, e.seq, e.org_id])).toEqual([
      ['instance', 1, null],
      ['instance', 2, null],
      ['instance', 3, null],
    ]);
    const gone = await createOrg(database.db, 'export-gone');
    await recordAuditEvent(database.db, { orgId: gone, actor: { type: 'user', id: 1 }, action: 'org.delete' });
    await database.db.deleteFrom('organization').where('id', '=', gone).execute();
    expect(parse(await collect(database.db, gone))).toMatchObject([{ chain: `org:${gone}`, seq: 1, org_id: null, action: 'org.delete' }]);
    expect(await collect(database.db, 987654)).toEqual([]);
  });

  it('refuses a bad cursor or limit', async () => {
    await expect(collect(database.db, orgId, { after: -1 })).rejects.toThrow(RangeError);
    await expect(collect(database.db, orgId, { limit: 0 })).rejects.toThrow(RangeError);
    await expect(collect(database.db, orgId, { after: 1.5 })).rejects.toThrow(RangeError);
  });
});
