import { keysetOrder } from '../helpers/keyset-order.js';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { auditPage, AUDIT_SORT, type AuditSort } from '../../src/audit/routes.js';
import { recordAuditEvent } from '../../src/audit/record.js';
import { apiKeySort, listApiKeys, type ApiKeySort } from '../../src/auth/api-keys.js';
import { INVITATION_SORT, listPendingInvitations, type InvitationSort } from '../../src/auth/invitations.js';
import { sortCursorOf, type SortCursor, type SortKey } from '../../src/db/keyset.js';
import type { DB } from '../../src/db/schema.js';
import { INGEST_LOG_SORT, listIngestLog, type IngestLogSort } from '../../src/ingest/routes.js';
import { listMembers, MEMBER_SORT, type MemberSort } from '../../src/orgs/members.js';
import { createOrganization } from '../../src/orgs/organizations.js';
import { aggregateRecords, RECORD_SORT, type RecordSort } from '../../src/reports/queries/aggregate-report.js';
import { storeReports, type HandRecord } from '../helpers/aggregate-xml.js';
import { describeEachBackend, openTestDatabase, type TestDatabase } from '../helpers/db.js';

type Plain = string | number | null;
type Dir = 'asc' | 'desc';

function expectedOrder<Row>(rows: Row[], value: (row: Row) => Plain | bigint, id: (row: Row) => number, dir: Dir): number[] {
  return keysetOrder(rows, value, id, dir).map(id);
}

/** Every row of a list, `limit` at a time, each page starting after the cursor of the one before. */
async function pageThrough<Row>(fetch: (after: SortCursor | null, limit: number) => Promise<Row[]>, key: SortKey<Row>, id: (row: Row) => number, limit: number): Promise<number[]> {
  const seen: number[] = [];
  let after: SortCursor | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const rows = await fetch(after, limit);
    seen.push(...rows.map(id));
    const last = rows[rows.length - 1];
    if (rows.length < limit || last === undefined) return seen;
    after = sortCursorOf(key, last, id(last));
  }
  throw new Error('the list never ended');
}

/** A time as the lists compare it: to the millisecond. */
const ms = (date: Date | string) => new Date(date).getTime();

/** inet order: IPv4 before IPv6, each by its number. */
function inetOrder(ip: string): bigint {
  if (ip.includes(':')) {
    const [head, tail = ''] = ip.split('::') as [string, string?];
    const left = head ? head.split(':') : [];
    const right = tail ? tail.split(':') : [];
    const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
    return (1n << 200n) + groups.reduce((n, g) => (n << 16n) + BigInt(parseInt(g, 16)), 0n);
  }
  return ip.split('.').reduce((n, octet) => (n << 8n) + BigInt(Number(octet)), 0n);
}

const DIRS: Dir[] = ['asc', 'desc'];

describeEachBackend('sorted, keyset-paged lists', (backend) => {
  let database: TestDatabase;
  let db: Kysely<DB>;
  let orgId: number;
  let ownerId: number;
  const now = new Date('2026-03-02T10:00:00.000Z');

  beforeAll(async () => {
    database = await openTestDatabase(backend);
    db = database.db;
    const owner = await db.insertInto('user_account').values({ email: 'owner@lists.example' }).returning('id').executeTakeFirstOrThrow();
    ownerId = owner.id;
    orgId = (await createOrganization(db, { name: 'Lists', ownerUserId: ownerId, actor: { type: 'system' }, ip: null, now })).id;
  });
  afterAll(() => database.close());

  it('pages the ingest log in every order, across ties, NULLs and times equal to the millisecond', async () => {
    const outcomes = ['stored', 'refused', 'duplicate', 'not_a_report'];
    // Some times differ only below the millisecond (a cursor keeps milliseconds), some are equal.
    const times = ['2026-03-01T10:00:00.123456Z', '2026-03-01T10:00:00.123789Z', '2026-03-01T10:00:00.123Z', '2026-03-01T09:00:00Z', '2026-03-01T11:30:00.5Z'];
    for (let i = 0; i < 23; i++) {
      await db
        .insertInto('ingest_log')
        .values({
          org_id: orgId,
          source: `file:/s${i % 3}`,
          item: `doc-${String(i % 10).padStart(2, '0')}`,
          kind: i % 4 === 0 ? null : ['aggregate', 'tls', 'failure'][i % 3]!,
          outcome: outcomes[i % 4]!,
          problem: i % 3 === 0 ? null : `problem ${i % 2}`,
          report_ref: i % 5 === 0 ? null : `ref-${i % 4}`,
          first_seen_at: sql<Date>`${times[i % 5]!}::timestamptz`,
          last_seen_at: sql<Date>`${times[(i * 2) % 5]!}::timestamptz`,
        })
        .execute();
    }
    const rows = await listIngestLog(db, orgId, {}, { limit: 1000, after: null });
    expect(rows).toHaveLength(23);
    const truth: Record<IngestLogSort, (r: (typeof rows)[number]) => Plain> = {
      seen: (r) => ms(r.first_seen_at),
      outcome: (r) => r.outcome,
      kind: (r) => r.kind,
      reason: (r) => r.problem,
      source: (r) => r.source,
      item: (r) => r.item,
      report: (r) => r.report_ref,
      lastSeen: (r) => ms(r.last_seen_at),
    };
    // The default is newest first.
    expect(rows.map((r) => r.id)).toEqual(expectedOrder(rows, truth.seen, (r) => r.id, 'desc'));
    for (const by of Object.keys(INGEST_LOG_SORT) as IngestLogSort[]) {
      for (const dir of DIRS) {
        const got = await pageThrough((after, limit) => listIngestLog(db, orgId, {}, { limit, after, order: { by, dir } }), INGEST_LOG_SORT[by], (r) => r.id, 4);
        expect(got, `${by} ${dir}`).toEqual(expectedOrder(rows, truth[by], (r) => r.id, dir));
      }
    }
    // Filters apply under any order.
    const refused = await pageThrough((after, limit) => listIngestLog(db, orgId, { outcome: 'refused' }, { limit, after, order: { by: 'kind', dir: 'asc' } }), INGEST_LOG_SORT.kind, (r) => r.id, 2);
    expect(refused).toEqual(expectedOrder(rows.filter((r) => r.outcome === 'refused'), truth.kind, (r) => r.id, 'asc'));
  });

  it("pages a report's records by source address (inet order), messages, verdict, disposition and From", async () => {
    const ips = ['10.0.0.9', '10.0.0.10', '192.0.2.1', '2001:db8::1', '9.255.0.1', '2001:db8::a', '10.0.0.9'];
    const records: HandRecord[] = Array.from({ length: 23 }, (_, i) => ({
      ip: ips[i % ips.length]!,
      count: [5, 1, 5, 20, 1][i % 5]!,
      disposition: (['none', 'quarantine', 'reject'] as const)[i % 3],
      dkim: i % 2 === 0 ? 'pass' : 'fail',
      spf: i % 3 === 0 ? 'pass' : 'fail',
      headerFrom: ['a.example', 'b.example', 'c.example'][i % 3],
    }));
    await storeReports(db, orgId, [{ domain: 'sorted.example', reportId: 'sorted-1', begin: new Date('2026-02-01T00:00:00Z'), records }]);
    const report = await db.selectFrom('aggregate_report').select('id').where('org_id', '=', orgId).where('external_id', '=', 'sorted-1').executeTakeFirstOrThrow();
    const all = await aggregateRecords(db, orgId, report.id, { limit: 1000, after: null });
    expect(all.map((r) => r.ordinal)).toEqual(all.map((_, i) => i));
    const truth: Record<RecordSort, (r: (typeof all)[number]) => Plain | bigint> = {
      report: (r) => r.ordinal,
      sourceIp: (r) => inetOrder(r.sourceIp),
      count: (r) => r.count,
      dmarc: (r) => (r.dkim === 'pass' || r.spf === 'pass' ? 'pass' : 'fail'),
      disposition: (r) => r.disposition,
      identifiers: (r) => r.headerFrom,
    };
    for (const by of Object.keys(RECORD_SORT) as RecordSort[]) {
      for (const dir of DIRS) {
        const fetch = async (after: SortCursor | null, limit: number) => aggregateRecords(db, orgId, report.id, { limit, after, order: { by, dir } });
        const got = await pageThrough(fetch, RECORD_SORT[by], (r) => r.ordinal, 4);
        expect(got, `${by} ${dir}`).toEqual(expectedOrder(all, truth[by], (r) => r.ordinal, dir));
        // Each record keeps its own auth results whatever the order.
        for (const r of await fetch(null, 6)) {
          expect(r.spfResults.map((s) => s.result), `${by} ${dir} #${r.ordinal}`).toEqual([r.spf]);
          expect(r.dkimResults.length, `${by} ${dir} #${r.ordinal}`).toBe(r.dkim === 'pass' ? 1 : 0);
        }
      }
    }
  });

  it('pages members, invitations and API keys in every order', async () => {
    const roles = ['viewer', 'member', 'admin', 'owner'];
    const rank: Record<string, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };
    const joined = ['2026-01-05T00:00:00.000100Z', '2026-01-05T00:00:00.000900Z', '2026-01-03T00:00:00Z'];
    for (let i = 0; i < 9; i++) {
      const user = await db.insertInto('user_account').values({ email: `m${(i * 7) % 9}@lists.example` }).returning('id').executeTakeFirstOrThrow();
      await db.insertInto('membership').values({ org_id: orgId, user_id: user.id, role: roles[i % 4]!, created_at: sql<Date>`${joined[i % 3]!}::timestamptz` }).execute();
    }
    const members = await listMembers(db, orgId, { limit: 1000, after: null });
    expect(members).toHaveLength(10);
    expect(members.map((m) => m.email)).toEqual([...members.map((m) => m.email)].sort());
    const memberTruth: Record<MemberSort, (m: (typeof members)[number]) => Plain> = { email: (m) => m.email, role: (m) => rank[m.role]!, joined: (m) => ms(m.joinedAt) };
    for (const by of Object.keys(MEMBER_SORT) as MemberSort[]) {
      for (const dir of DIRS) {
        const got = await pageThrough((after, limit) => listMembers(db, orgId, { limit, after, order: { by, dir } }), MEMBER_SORT[by], (m) => m.userId, 3);
        expect(got, `members ${by} ${dir}`).toEqual(expectedOrder(members, memberTruth[by], (m) => m.userId, dir));
      }
    }

    for (let i = 0; i < 9; i++) {
      await db
        .insertInto('invitation')
        .values({
          org_id: orgId,
          email: `i${i % 4}@lists.example`,
          role: roles[i % 3]!,
          token_hash: Buffer.from(`invitation-${i}`),
          created_at: sql<Date>`${joined[i % 3]!}::timestamptz`,
          expires_at: new Date(now.getTime() + (i % 2) * 86_400_000 + 3_600_000),
        })
        .execute();
    }
    const invitations = await listPendingInvitations(db, orgId, { limit: 1000, after: null, now });
    expect(invitations).toHaveLength(9);
    const invitationTruth: Record<InvitationSort, (i: (typeof invitations)[number]) => Plain> = {
      email: (i) => i.email,
      role: (i) => rank[i.role]!,
      sent: (i) => ms(i.createdAt),
      expires: (i) => ms(i.expiresAt),
    };
    expect(invitations.map((i) => i.id)).toEqual(expectedOrder(invitations, invitationTruth.sent, (i) => i.id, 'desc'));
    for (const by of Object.keys(INVITATION_SORT) as InvitationSort[]) {
      for (const dir of DIRS) {
        const got = await pageThrough((after, limit) => listPendingInvitations(db, orgId, { limit, after, now, order: { by, dir } }), INVITATION_SORT[by], (i) => i.id, 2);
        expect(got, `invitations ${by} ${dir}`).toEqual(expectedOrder(invitations, invitationTruth[by], (i) => i.id, dir));
      }
    }

    const scopes = ['read', 'write', 'admin'];
    const scopeRank: Record<string, number> = { read: 0, write: 1, admin: 2 };
    for (let i = 0; i < 11; i++) {
      await db
        .insertInto('api_key')
        .values({
          org_id: orgId,
          name: `key ${i % 4}`,
          prefix: `dmw_${'abcdef'[i % 6]}x`,
          token_hash: Buffer.from(`key-${i}`),
          scope: scopes[i % 3]!,
          created_at: sql<Date>`${joined[i % 3]!}::timestamptz`,
          last_used_at: i % 3 === 0 ? null : new Date(now.getTime() - (i % 2) * 60_000),
          expires_at: i % 4 === 0 ? null : new Date(now.getTime() + ((i % 3) - 1) * 86_400_000),
          revoked_at: i % 5 === 0 ? now : null,
        })
        .execute();
    }
    const keys = await listApiKeys(db, orgId, { limit: 1000, after: null, now });
    expect(keys).toHaveLength(11);
    const stateRank = (k: (typeof keys)[number]) => (k.revokedAt ? 2 : k.expiresAt && k.expiresAt <= now ? 1 : 0);
    expect(new Set(keys.map(stateRank))).toEqual(new Set([0, 1, 2]));
    const keyTruth: Record<ApiKeySort, (k: (typeof keys)[number]) => Plain> = {
      name: (k) => k.name,
      prefix: (k) => k.prefix,
      scope: (k) => scopeRank[k.scope]!,
      created: (k) => ms(k.createdAt),
      lastUsed: (k) => (k.lastUsedAt ? ms(k.lastUsedAt) : null),
      expires: (k) => (k.expiresAt ? ms(k.expiresAt) : null),
      state: stateRank,
    };
    const keySorts = apiKeySort(now);
    for (const by of Object.keys(keySorts) as ApiKeySort[]) {
      for (const dir of DIRS) {
        const got = await pageThrough((after, limit) => listApiKeys(db, orgId, { limit, after, order: { by, dir }, now }), keySorts[by], (k) => k.id, 3);
        expect(got, `keys ${by} ${dir}`).toEqual(expectedOrder(keys, keyTruth[by], (k) => k.id, dir));
      }
    }
  });

  it('pages the audit log in every order, its cursor id being the seq', async () => {
    for (let i = 0; i < 13; i++) {
      await recordAuditEvent(db, {
        orgId,
        actor: { type: 'system', id: 'test' },
        action: ['member.add', 'api_key.create', 'domain.create'][i % 3]!,
        ...(i % 4 === 0 ? {} : { target: { type: ['domain', 'api_key'][i % 2]!, id: i % 3 } }),
        ip: i % 3 === 0 ? null : `203.0.113.${i % 2}`,
      });
    }
    const events = await auditPage(db, orgId, {}, { limit: 1000, after: null });
    const seq = (r: (typeof events)[number]) => Number(r.seq);
    expect(events.map(seq)).toEqual(events.map(seq).sort((a, b) => b - a));
    const truth: Record<AuditSort, (r: (typeof events)[number]) => Plain> = {
      seq,
      time: (r) => ms(r.created_at),
      action: (r) => r.action,
      target: (r) => (r.target_type === null ? null : `${r.target_type} ${r.target_id}`),
      ip: (r) => r.ip,
    };
    for (const by of Object.keys(AUDIT_SORT) as AuditSort[]) {
      for (const dir of DIRS) {
        const got = await pageThrough((after, limit) => auditPage(db, orgId, {}, { limit, after, order: { by, dir } }), AUDIT_SORT[by], seq, 4);
        expect(got, `${by} ${dir}`).toEqual(expectedOrder(events, truth[by], seq, dir));
      }
    }
    const filtered = await pageThrough((after, limit) => auditPage(db, orgId, { action: 'domain.create' }, { limit, after, order: { by: 'target', dir: 'asc' } }), AUDIT_SORT.target, seq, 2);
    expect(filtered).toEqual(expectedOrder(events.filter((e) => e.action === 'domain.create'), truth.target, seq, 'asc'));
  });
});
