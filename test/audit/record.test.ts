import { sql } from 'kysely';
import { afterEach, beforeEach, expect, it } from 'vitest';
import {
  AUDIT_SUMMARY_MAX_BYTES,
  AUDIT_ZERO_HASH,
  auditChainName,
  hashAuditEvent,
  recordAuditEvent,
  sanitizeAuditSummary,
} from '../../src/audit/record.js';
import { verifyAuditChain } from '../../src/audit/verify.js';
import { defaultOrgId } from '../../src/orgs/default-org.js';
import { describeEachBackend, openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createOrg, seedChain } from './helpers.js';

it('names chains by organisation, or instance', () => {
  expect(auditChainName(7)).toBe('org:7');
  expect(auditChainName(null)).toBe('instance');
  expect(() => auditChainName(0)).toThrow(TypeError);
  expect(() => auditChainName(1.5)).toThrow(TypeError);
});

it('bounds the summary size with a note naming its keys', () => {
  const big = sanitizeAuditSummary({ blob: 'x'.repeat(AUDIT_SUMMARY_MAX_BYTES), other: 1 });
  expect(big).toEqual({ omitted: expect.stringMatching(/^summary of \d+ bytes exceeds the 8192-byte limit$/), keys: ['blob', 'other'] });
  const fits = { blob: 'x'.repeat(AUDIT_SUMMARY_MAX_BYTES - 20) };
  expect(sanitizeAuditSummary(fits)).toEqual(fits);
});

it('makes a summary plain, storable JSON', () => {
  const circular: Record<string, unknown> = { name: 'loop' };
  circular.self = circular;
  let deep: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < 12; i++) deep = { d: deep };
  const out = sanitizeAuditSummary({
    when: new Date('2026-01-02T03:04:05.678Z'),
    big: 2n ** 70n,
    nan: Number.NaN,
    gone: undefined,
    fn: () => 1,
    list: [undefined, 1],
    nul: 'a\u0000b',
    lone: 'x\ud800y',
    circular,
    deep,
  });
  expect(out).toMatchObject({
    when: '2026-01-02T03:04:05.678Z',
    big: '1180591620717411303424',
    nan: null,
    list: [null, 1],
    nul: 'a\uFFFDb',
    lone: 'x\uFFFDy',
    circular: { name: 'loop', self: '[circular]' },
  });
  expect(out).not.toHaveProperty('gone');
  expect(out).not.toHaveProperty('fn');
  expect(JSON.stringify(out.deep)).toContain('[nested too deep]');
});

describeEachBackend('audit record', (backend) => {
  let database: TestDatabase;
  let orgId: number;
  beforeEach(async () => {
    database = await openTestDatabase(backend);
    orgId = await defaultOrgId(database.db);
  });
  afterEach(async () => {
    await database.close();
  });

  const rowsOf = (chain: string) =>
    database.db.selectFrom('audit_event').selectAll().where('chain', '=', chain).orderBy('seq').execute();

  it('starts each chain at seq 1 from the zero hash and links every event to the previous one', async () => {
    const first = await database.db.transaction().execute((trx) =>
      recordAuditEvent(trx, {
        orgId,
        actor: { type: 'user', id: 42 },
        action: 'mailbox.create',
        target: { type: 'mailbox', id: 9 },
        summary: { after: { name: 'dmarc', interval: 15 } },
        ip: '2001:db8::1',
      }),
    );
    const second = await recordAuditEvent(database.db, { orgId, actor: { type: 'system' }, action: 'mailbox.poll' });
    expect(first.seq).toBe(1);
    expect(second.seq).toBe(2);

    const rows = await rowsOf(`org:${orgId}`);
    expect(rows).toHaveLength(2);
    const [a, b] = rows as [(typeof rows)[0], (typeof rows)[0]];
    expect(a).toMatchObject({
      org_id: orgId,
      chain: `org:${orgId}`,
      actor_type: 'user',
      actor_id: '42',
      action: 'mailbox.create',
      target_type: 'mailbox',
      target_id: '9',
      summary: { after: { name: 'dmarc', interval: 15 } },
      ip: '2001:db8::1',
    });
    expect(b).toMatchObject({ actor_type: 'system', actor_id: null, target_type: null, target_id: null, summary: {}, ip: null });
    expect(Buffer.from(a.prev_hash).equals(AUDIT_ZERO_HASH)).toBe(true);
    expect(Buffer.from(a.hash).toString('hex')).toBe(first.hash);
    expect(Buffer.from(b.prev_hash).toString('hex')).toBe(first.hash);
    expect(Buffer.from(b.hash).toString('hex')).toBe(second.hash);
    // The stored hash is recomputable from the row as read back (same ms timestamp, same summary).
    expect(hashAuditEvent(a.prev_hash, { ...a, seq: Number(a.seq) }).toString('hex')).toBe(first.hash);
  });

  it('keeps one chain per organisation and one for the instance, each from seq 1', async () => {
    const other = await createOrg(database.db, 'other');
    await seedChain(database.db, orgId, 3);
    const instance = await recordAuditEvent(database.db, { orgId: null, actor: { type: 'user', id: 1 }, action: 'instance.signup_policy' });
    const otherFirst = await recordAuditEvent(database.db, { orgId: other, actor: { type: 'user', id: 1 }, action: 'org.create' });
    expect(instance.seq).toBe(1);
    expect(otherFirst.seq).toBe(1);
    const row = await database.db.selectFrom('audit_event').selectAll().where('chain', '=', 'instance').executeTakeFirstOrThrow();
    expect(row.org_id).toBeNull();
    for (const chain of [`org:${orgId}`, `org:${other}`, 'instance']) {
      expect((await verifyAuditChain(database.db, chain)).ok).toBe(true);
    }
  });

  it('never stores secrets from the summary', async () => {
    await recordAuditEvent(database.db, {
      orgId,
      actor: { type: 'user', id: 1 },
      action: 'mailbox.update',
      summary: {
        password: 'x',
        token: 'y',
        nested: { apiKey: 'z' },
        host: 'imap.example.com',
        // Deeper than logger's redact looks (it stops after 6 levels).
        deep: { a: { b: { c: { d: { e: { f: { clientSecret: 'hunter2-deep' } } } } } } },
        list: [{ refresh_token: 'rt-in-array' }],
      },
    });
    const row = await database.db.selectFrom('audit_event').select('summary').executeTakeFirstOrThrow();
    expect(row.summary).toMatchObject({
      password: '[redacted]',
      token: '[redacted]',
      nested: { apiKey: '[redacted]' },
      host: 'imap.example.com',
      list: [{ refresh_token: '[redacted]' }],
      deep: { a: { b: { c: { d: { e: { f: { clientSecret: '[redacted]' } } } } } } },
    });
    const dump = await sql<{ row: string }>`select row_to_json(a)::text as row from audit_event a`.execute(database.db);
    for (const secret of ['"x"', '"y"', '"z"', 'hunter2-deep', 'rt-in-array']) expect(dump.rows[0]!.row).not.toContain(secret);
    expect((await verifyAuditChain(database.db, `org:${orgId}`)).ok).toBe(true);
  });

  it('leaves no trace and no gap when the transaction rolls back', async () => {
    await seedChain(database.db, orgId, 2);
    await expect(
      database.db.transaction().execute(async (trx) => {
        await trx.updateTable('organization').set({ name: 'renamed' }).where('id', '=', orgId).execute();
        const recorded = await recordAuditEvent(trx, { orgId, actor: { type: 'user', id: 1 }, action: 'org.rename' });
        expect(recorded.seq).toBe(3);
        throw new Error('change failed');
      }),
    ).rejects.toThrow('change failed');
    expect(await rowsOf(`org:${orgId}`)).toHaveLength(2);
    const next = await recordAuditEvent(database.db, { orgId, actor: { type: 'user', id: 1 }, action: 'org.rename' });
    expect(next.seq).toBe(3);
    expect(await verifyAuditChain(database.db, `org:${orgId}`)).toMatchObject({ ok: true, events: 3 });
  });

  it('numbers several events of one transaction consecutively', async () => {
    await seedChain(database.db, orgId, 1);
    const seqs = await database.db.transaction().execute(async (trx) => {
      const a = await recordAuditEvent(trx, { orgId, actor: { type: 'user', id: 1 }, action: 'member.invite' });
      const b = await recordAuditEvent(trx, { orgId, actor: { type: 'user', id: 1 }, action: 'member.role_change' });
      return [a.seq, b.seq];
    });
    expect(seqs).toEqual([2, 3]);
    expect(await verifyAuditChain(database.db, `org:${orgId}`)).toMatchObject({ ok: true, events: 3 });
  });

  it('keeps 20 concurrent writers on two chains gap-free and valid', async () => {
    const other = await createOrg(database.db, 'busy');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        database.db.transaction().execute(async (trx) => {
          // Some work of the transaction's own first, so that writers reach the chain together.
          await trx.insertInto('domain').values({ org_id: other, name: `d${i}.example`, verification_token: `t${i}` }).execute();
          await sql`select pg_sleep(0.005)`.execute(trx);
          return recordAuditEvent(trx, {
            orgId: i % 5 === 4 ? null : other,
            actor: { type: 'api_key', id: i },
            action: 'domain.create',
            target: { type: 'domain', id: `d${i}.example` },
          });
        }),
      ),
    );
    const orgSeqs = results.filter((_, i) => i % 5 !== 4).map((r) => r.seq);
    const instanceSeqs = results.filter((_, i) => i % 5 === 4).map((r) => r.seq);
    expect(orgSeqs.sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(instanceSeqs.sort((a, b) => a - b)).toEqual([1, 2, 3, 4]);
    expect(await verifyAuditChain(database.db, `org:${other}`)).toMatchObject({ ok: true, events: 16 });
    expect(await verifyAuditChain(database.db, 'instance')).toMatchObject({ ok: true, events: 4 });
  });

  it('keeps 20 concurrent writers to one chain gap-free and valid', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        database.db
          .transaction()
          .execute((trx) => recordAuditEvent(trx, { orgId, actor: { type: 'user', id: i + 1 }, action: 'session.sign_in', ip: `198.51.100.${i}` })),
      ),
    );
    expect(results.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const verification = await verifyAuditChain(database.db, `org:${orgId}`);
    expect(verification).toMatchObject({ ok: true, events: 20, head: { seq: 20 } });
    const head = results.find((r) => r.seq === 20)!;
    expect(verification.ok && verification.head?.hash).toBe(head.hash);
  });

  it('hashes exactly what jsonb gives back, whatever the summary holds', async () => {
    const summary = {
      z: 1,
      a: [1e21, 1e-7, 0.1 + 0.2, 2 ** 60, -0, 5e-324, 1.7976931348623157e308],
      'ünïcode keys': { '😀': 'emoji', é: 'e', E: 'E', '': 'empty key', '10': 'ten', '9': 'nine' },
      text: 'tab\tquote" backslash\\ nul\u0000 lone\udc00 \u2028',
      when: new Date('2026-03-04T05:06:07.089Z'),
      nothing: null,
      flags: [true, false, null, [], {}],
      ['__proto__']: { sneaky: true },
    };
    await recordAuditEvent(database.db, { orgId, actor: { type: 'user', id: 1 }, action: 'odd.summary', target: { type: 't\u0000', id: 'id\ud800' }, summary });
    expect(await verifyAuditChain(database.db, `org:${orgId}`)).toMatchObject({ ok: true, events: 1 });
    const row = await database.db.selectFrom('audit_event').select(['summary', 'target_type', 'target_id']).executeTakeFirstOrThrow();
    expect(row.summary).toEqual(sanitizeAuditSummary(summary));
    expect(row.target_type).toBe('t\uFFFD');
    expect(row.target_id).toBe('id\uFFFD');
  });

  it('replaces an oversize summary with a note and still verifies', async () => {
    await recordAuditEvent(database.db, {
      orgId,
      actor: { type: 'system' },
      action: 'import.finish',
      summary: { files: Array.from({ length: 2000 }, (_, i) => `report-${i}.xml`), count: 2000 },
    });
    const row = await database.db.selectFrom('audit_event').select('summary').executeTakeFirstOrThrow();
    expect(row.summary).toEqual({ omitted: expect.stringMatching(/exceeds the 8192-byte limit/), keys: ['count', 'files'] });
    expect((await verifyAuditChain(database.db, `org:${orgId}`)).ok).toBe(true);
  });

  it('keeps the chain of a deleted organisation under its id', async () => {
    const gone = await createOrg(database.db, 'gone');
    await seedChain(database.db, gone, 4);
    await database.db.deleteFrom('organization').where('id', '=', gone).execute();
    const rows = await rowsOf(`org:${gone}`);
    expect(rows.map((r) => r.org_id)).toEqual([null, null, null, null]);
    expect(await verifyAuditChain(database.db, `org:${gone}`)).toMatchObject({ ok: true, events: 4 });
  });

  it('refuses an event without an action or with a bad organisation id', async () => {
    await expect(recordAuditEvent(database.db, { orgId, actor: { type: 'user', id: 1 }, action: '' })).rejects.toThrow(/action is required/);
    await expect(recordAuditEvent(database.db, { orgId: -1, actor: { type: 'user', id: 1 }, action: 'x.y' })).rejects.toThrow(
      /invalid organisation id/,
    );
    expect(await rowsOf(`org:${orgId}`)).toHaveLength(0);
  });
});
