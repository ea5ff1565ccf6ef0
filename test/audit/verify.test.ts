import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { exportAuditJsonl, type AuditExportLine } from '../../src/audit/export.js';
import { hashAuditEvent, recordAuditEvent, type RecordedAuditEvent } from '../../src/audit/record.js';
import { listChains, verifyAuditChain, type AuditChainVerification } from '../../src/audit/verify.js';
import type { DB } from '../../src/db/schema.js';
import { defaultOrgId } from '../../src/orgs/default-org.js';
import { describeEachBackend, openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createOrg, eventId, seedChain, withRollback } from './helpers.js';

describeEachBackend('audit verify', (backend) => {
  let database: TestDatabase;
  let chain: string;
  let recorded: RecordedAuditEvent[];
  // One chain of 50 events; every tamper happens in a transaction that is rolled back.
  beforeAll(async () => {
    database = await openTestDatabase(backend);
    const orgId = await defaultOrgId(database.db);
    chain = `org:${orgId}`;
    recorded = await seedChain(database.db, orgId, 50);
  });
  afterAll(async () => {
    await database.close();
  });

  const head = () => ({ seq: 50, hash: recorded[49]!.hash });
  const tampered = (tamper: (trx: Kysely<DB>) => Promise<unknown>, options?: Parameters<typeof verifyAuditChain>[2]) =>
    withRollback(database.db, async (trx) => {
      await tamper(trx);
      return verifyAuditChain(trx, chain, options);
    });
  const update = (trx: Kysely<DB>, seq: number) => trx.updateTable('audit_event').where('chain', '=', chain).where('seq', '=', seq);
  const bad = (result: AuditChainVerification) => {
    if (result.ok) throw new Error(`expected a broken chain, got ${JSON.stringify(result)}`);
    return result;
  };

  it('verifies an intact chain of 50 events and reports its head', async () => {
    const result = await verifyAuditChain(database.db, chain);
    expect(result).toEqual({ ok: true, chain, events: 50, head: head() });
  });

  it('reads in batches and gives the same answer whatever the batch size', async () => {
    for (const batchSize of [1, 7, 49, 50, 51]) {
      expect(await verifyAuditChain(database.db, chain, { batchSize })).toEqual({ ok: true, chain, events: 50, head: head() });
    }
    const broken = await tampered((trx) => update(trx, 22).set({ action: 'x.y' }).execute(), { batchSize: 7 });
    expect(bad(broken).firstBad).toMatchObject({ seq: 22, kind: 'edited' });
  });

  it('detects an edited summary field and names the event', async () => {
    const result = bad(await tampered((trx) => update(trx, 20).set({ summary: sql`jsonb_set(summary, '{after,interval}', '999')` }).execute()));
    expect(result.firstBad).toEqual({
      seq: 20,
      id: await eventId(database.db, chain, 20),
      kind: 'edited',
      problem: 'its content no longer matches its hash: a field was changed after it was written',
    });
    expect(result.events).toBe(19);
  });

  it('detects an edit of any hashed column', async () => {
    // seq 33 was written by the system actor "scheduler" from 192.0.2.33.
    const edits: Array<(trx: Kysely<DB>) => Promise<unknown>> = [
      (trx) => update(trx, 33).set({ action: 'member.remove' }).execute(),
      (trx) => update(trx, 33).set({ actor_type: 'user' }).execute(),
      (trx) => update(trx, 33).set({ actor_id: '1' }).execute(),
      (trx) => update(trx, 33).set({ target_id: '1' }).execute(),
      (trx) => update(trx, 33).set({ target_type: null }).execute(),
      (trx) => update(trx, 33).set({ ip: '203.0.113.1' }).execute(),
      (trx) => update(trx, 33).set({ created_at: sql`created_at + interval '1 millisecond'` }).execute(),
      (trx) => update(trx, 33).set({ summary: sql`'{}'::jsonb` }).execute(),
      (trx) => update(trx, 33).set({ hash: new Uint8Array(32).fill(7) }).execute(),
    ];
    for (const [i, edit] of edits.entries()) {
      expect(bad(await tampered(edit)).firstBad, `edit #${i}`).toMatchObject({ seq: 33, kind: 'edited' });
    }
  });

  it('does not count org_id, which is set to null when the organisation is deleted', async () => {
    const result = await tampered((trx) => update(trx, 12).set({ org_id: null }).execute());
    expect(result.ok).toBe(true);
  });

  it('detects an edited event whose hash was recomputed, through the next event', async () => {
    const result = bad(
      await tampered(async (trx) => {
        const row = await trx.selectFrom('audit_event').selectAll().where('chain', '=', chain).where('seq', '=', 40).executeTakeFirstOrThrow();
        const forged = { ...row, seq: Number(row.seq), action: 'nothing.happened' };
        await update(trx, 40).set({ action: forged.action, hash: hashAuditEvent(row.prev_hash, forged) }).execute();
      }),
    );
    expect(result.firstBad).toMatchObject({ seq: 40, id: await eventId(database.db, chain, 40), kind: 'edited' });
    expect(result.firstBad.problem).toMatch(/hash recomputed: seq 41 .* still links to its original hash/);
    expect(result.events).toBe(39);
  });

  it('detects a deleted event in the middle', async () => {
    const result = bad(await tampered((trx) => trx.deleteFrom('audit_event').where('chain', '=', chain).where('seq', '=', 25).execute()));
    expect(result.firstBad).toEqual({
      seq: 25,
      id: null,
      kind: 'deleted',
      problem: `seq 25 is missing (deleted): the chain jumps from seq 24 to seq 26 (id ${await eventId(database.db, chain, 26)})`,
    });
    expect(result.events).toBe(24);
  });

  it('detects deleted events at the start', async () => {
    const result = bad(await tampered((trx) => trx.deleteFrom('audit_event').where('chain', '=', chain).where('seq', '<=', 3).execute()));
    expect(result.firstBad).toMatchObject({ seq: 1, id: null, kind: 'wrong_start', problem: expect.stringMatching(/starts at seq 4, not 1: seq 1–3 are missing/) });
    expect(result.events).toBe(0);
  });

  it('cannot see the last event deleted without an anchor, and can with one', async () => {
    const anchor = head();
    const deleteLast = (trx: Kysely<DB>) => trx.deleteFrom('audit_event').where('chain', '=', chain).where('seq', '=', 50).execute();
    // The remaining 49 events are a perfectly valid chain: only the head betrays the deletion.
    const alone = await tampered(deleteLast);
    expect(alone).toEqual({ ok: true, chain, events: 49, head: { seq: 49, hash: recorded[48]!.hash } });

    const anchored = bad(await tampered(deleteLast, { anchor }));
    expect(anchored.firstBad).toEqual({
      seq: 50,
      id: null,
      kind: 'truncated',
      problem: 'the chain ends at seq 49 but the anchor has seq 50: seq 50 is missing (deleted from the end)',
    });
    expect(anchored.events).toBe(49);
    // The intact chain passes the same anchor, and an older anchor too.
    expect((await verifyAuditChain(database.db, chain, { anchor })).ok).toBe(true);
    expect((await verifyAuditChain(database.db, chain, { anchor: { seq: 10, hash: recorded[9]!.hash.toUpperCase() } })).ok).toBe(true);
  });

  it('anchors on the last line of an earlier export', async () => {
    const lines: string[] = [];
    for await (const line of exportAuditJsonl(database.db, Number(chain.slice(4)))) lines.push(line);
    const last = JSON.parse(lines.at(-1)!) as AuditExportLine;
    const anchor = { seq: last.seq, hash: last.hash };
    const result = bad(await tampered((trx) => trx.deleteFrom('audit_event').where('chain', '=', chain).where('seq', '>=', 45).execute(), { anchor }));
    expect(result.firstBad).toMatchObject({ seq: 45, kind: 'truncated', problem: expect.stringMatching(/seq 45–50 are missing/) });
  });

  it('catches a tail rewritten with recomputed hashes only through an anchor', async () => {
    const rewriteLast = async (trx: Kysely<DB>) => {
      const row = await trx.selectFrom('audit_event').selectAll().where('chain', '=', chain).where('seq', '=', 50).executeTakeFirstOrThrow();
      const forged = { ...row, seq: 50, summary: { innocent: true } };
      await update(trx, 50)
        .set({ summary: sql`'{"innocent":true}'::jsonb`, hash: hashAuditEvent(row.prev_hash, forged) })
        .execute();
    };
    expect((await tampered(rewriteLast)).ok).toBe(true);
    const result = bad(await tampered(rewriteLast, { anchor: head() }));
    expect(result.firstBad).toMatchObject({ seq: 50, id: await eventId(database.db, chain, 50), kind: 'rewritten' });
    expect(result.firstBad.problem).toContain(recorded[49]!.hash);
  });

  it('detects a forged event inserted in the middle with a valid hash, through the next event', async () => {
    let forgedId = 0;
    const result = bad(
      await tampered(async (trx) => {
        // Make room at seq 30 (two steps, so the unique (chain, seq) never clashes mid-update).
        await trx.updateTable('audit_event').set({ seq: sql`seq + 1000` }).where('chain', '=', chain).where('seq', '>=', 30).execute();
        await trx.updateTable('audit_event').set({ seq: sql`seq - 999` }).where('chain', '=', chain).where('seq', '>=', 1000).execute();
        const before = await trx.selectFrom('audit_event').selectAll().where('chain', '=', chain).where('seq', '=', 29).executeTakeFirstOrThrow();
        const forged = {
          chain,
          seq: 30,
          actor_type: 'user',
          actor_id: '1',
          action: 'member.role_change',
          target_type: 'user',
          target_id: '666',
          summary: { after: { role: 'owner' } },
          ip: null,
          created_at: new Date(before.created_at.getTime() + 1),
        };
        const row = await trx
          .insertInto('audit_event')
          .values({
            ...forged,
            org_id: before.org_id,
            summary: sql`cast(${JSON.stringify(forged.summary)} as jsonb)`,
            prev_hash: before.hash,
            hash: hashAuditEvent(before.hash, forged),
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        forgedId = Number(row.id);
      }),
    );
    expect(result.firstBad).toEqual({
      seq: 30,
      id: forgedId,
      kind: 'inserted',
      problem: `seq 30 was inserted: seq 31 (id ${await eventId(database.db, chain, 30)}) links to seq 29`,
    });
    expect(result.events).toBe(29);
  });

  it('detects two events whose seq were swapped', async () => {
    const result = bad(
      await tampered(async (trx) => {
        await update(trx, 10).set({ seq: -10 }).execute();
        await update(trx, 11).set({ seq: 10 }).execute();
        await update(trx, -10).set({ seq: 11 }).execute();
      }),
    );
    expect(result.firstBad).toEqual({
      seq: 10,
      id: await eventId(database.db, chain, 11),
      kind: 'reordered',
      problem: 'it links to seq 11, which comes after it: events were reordered',
    });
    expect(result.events).toBe(9);
  });

  it('detects a replaced start of chain', async () => {
    const result = bad(
      await tampered(async (trx) => {
        const row = await trx.selectFrom('audit_event').selectAll().where('chain', '=', chain).where('seq', '=', 1).executeTakeFirstOrThrow();
        const prevHash = new Uint8Array(32).fill(1);
        await update(trx, 1).set({ prev_hash: prevHash, hash: hashAuditEvent(prevHash, { ...row, seq: 1 }) }).execute();
      }),
    );
    expect(result.firstBad).toMatchObject({ seq: 1, kind: 'wrong_start', problem: expect.stringMatching(/zero hash/) });
  });

  it('detects a duplicated seq even with the unique constraint dropped', async () => {
    const result = bad(
      await tampered(async (trx) => {
        await sql`alter table audit_event drop constraint audit_event_chain_seq_key`.execute(trx);
        await sql`insert into audit_event (org_id, chain, seq, actor_type, action, summary, created_at, prev_hash, hash)
          select org_id, chain, seq, actor_type, 'copy', summary, created_at, prev_hash, hash from audit_event where chain = ${chain} and seq = 15`.execute(trx);
      }),
    );
    expect(result.firstBad).toMatchObject({ seq: 15, kind: 'inserted', problem: expect.stringMatching(/a second event with seq 15/) });
  });

  it('verifies a chain without events as empty, and an anchor on it as truncated', async () => {
    expect(await verifyAuditChain(database.db, 'org:424242')).toEqual({ ok: true, chain: 'org:424242', events: 0, head: null });
    const result = bad(await verifyAuditChain(database.db, 'org:424242', { anchor: { seq: 2, hash: 'ab'.repeat(32) } }));
    expect(result.firstBad).toMatchObject({ seq: 1, id: null, kind: 'truncated', problem: expect.stringMatching(/has no events/) });
    await expect(verifyAuditChain(database.db, chain, { anchor: { seq: 0, hash: 'zz' } })).rejects.toThrow(RangeError);
    await expect(verifyAuditChain(database.db, chain, { batchSize: 0 })).rejects.toThrow(RangeError);
  });

  it('lists chains: instance first, then organisations by id', async () => {
    const chains = await withRollback(database.db, async (trx) => {
      const ids: number[] = [];
      for (let i = 0; i < 10; i++) ids.push(await createOrg(trx, `filler-${i}`));
      // Two ids whose text order differs from their numeric order (e.g. 2 and 11).
      const [low, high] = [ids[0]!, ids[9]!];
      await recordAuditEvent(trx, { orgId: high, actor: { type: 'system' }, action: 'org.create' });
      await recordAuditEvent(trx, { orgId: low, actor: { type: 'system' }, action: 'org.create' });
      await recordAuditEvent(trx, { orgId: null, actor: { type: 'system' }, action: 'instance.start' });
      return { list: await listChains(trx), low, high };
    });
    expect(chains.list).toEqual(['instance', chain, `org:${chains.low}`, `org:${chains.high}`]);
  });
});
