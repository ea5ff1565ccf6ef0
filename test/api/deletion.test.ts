import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { listChains, verifyAuditChain } from '../../src/audit/verify.js';
import { deleteAccount } from '../../src/auth/account-deletion.js';
import { importPaths } from '../../src/ingest/sources/files.js';
import { generateKey } from '../../src/lib/crypto/index.js';
import { silentLogger } from '../../src/lib/logger.js';
import { deleteOrganization } from '../../src/orgs/delete-organization.js';
import { DEFAULT_LIMITS } from '../../src/reports/types.js';
import { openHarness, type Harness } from '../auth/harness.js';
import { runDmarcwatch } from '../helpers/cli.js';
import { describeEachBackend } from '../helpers/db.js';
import { callApi, keyFor, orgWith, signedIn, type Member } from './harness.js';

const CORPUS = path.resolve(import.meta.dirname, '../fixtures/corpus');

describeEachBackend('deleting organisations and accounts', (backend) => {
  let h: Harness;
  let owner: Member;
  let colleague: Member;
  let neighbour: Member;
  beforeAll(async () => {
    h = await openHarness(backend);
    owner = await signedIn(h, 'owner@delete.example');
    colleague = await signedIn(h, 'colleague@delete.example');
    neighbour = await signedIn(h, 'neighbour@delete.example');
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  /** Every base table with an org_id column, as the schema says today. */
  async function tenantTables(): Promise<string[]> {
    const rows = await sql<{ table_name: string }>`
      select c.table_name from information_schema.columns c
      join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
      where c.table_schema = current_schema() and c.column_name = 'org_id' and t.table_type = 'BASE TABLE'
      order by 1`.execute(h.database.db);
    return rows.rows.map((r) => r.table_name);
  }

  async function rowsPerTable(orgId: number): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const table of await tenantTables()) {
      const result = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)} where org_id = ${orgId}`.execute(h.database.db);
      counts[table] = Number(result.rows[0]!.n);
    }
    return counts;
  }

  /** Reports from the whole corpus, a mailbox with its POP3 state and a run, a domain, a key and an invitation. */
  async function fill(orgId: number): Promise<void> {
    await importPaths({ db: h.database.db, orgId, limits: DEFAULT_LIMITS, keepFailureHeaders: true, logger: silentLogger }, [CORPUS]);
    const db = h.database.db;
    const mailbox = await db
      .insertInto('mailbox')
      .values({ org_id: orgId, name: `reports-${orgId}`, protocol: 'pop3', host: 'pop.example.org', port: 995, tls_mode: 'implicit', username: 'dmarc', auth_method: 'password' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await db.insertInto('pop3_seen').values({ mailbox_id: mailbox.id, uidl: 'uidl-1', org_id: orgId, outcome: 'stored' }).execute();
    await db.insertInto('job_run').values({ job: 'mailbox.poll', org_id: orgId, mailbox_id: mailbox.id, holder: 'test' }).execute();
    await db.insertInto('domain').values({ org_id: orgId, name: `example-${orgId}.org`, verification_token: 'dmw-verify' }).execute();
    await keyFor(h, orgId, 'read');
    await callApi(h, { key: await keyFor(h, orgId, 'admin') }, 'POST', `/orgs/${(await db.selectFrom('organization').select('slug').where('id', '=', orgId).executeTakeFirstOrThrow()).slug}/invitations`, {
      email: `invitee-${orgId}@example.org`,
      role: 'viewer',
    });
    await h.smtp.nextMailTo(`invitee-${orgId}@example.org`);
  }

  async function allChainsVerify(): Promise<void> {
    for (const chain of await listChains(h.database.db)) {
      const result = await verifyAuditChain(h.database.db, chain);
      expect(result.ok, `${chain}: ${JSON.stringify(result)}`).toBe(true);
    }
  }

  it('deleting an organisation leaves none of its rows in any tenant table, keeps its audit chain, and leaves the others alone', async () => {
    const doomed = await orgWith(h, 'Doomed', owner, [{ member: colleague, role: 'viewer' }]);
    const kept = await orgWith(h, 'Kept', neighbour, [{ member: colleague, role: 'admin' }]);
    await fill(doomed.id);
    await fill(kept.id);

    const before = await rowsPerTable(doomed.id);
    for (const table of ['aggregate_report', 'aggregate_record', 'tls_report', 'failure_report', 'raw_document', 'ingest_log', 'mailbox', 'pop3_seen', 'domain', 'api_key', 'invitation', 'membership']) {
      expect(before[table], table).toBeGreaterThan(0);
    }
    const keptBefore = await rowsPerTable(kept.id);

    const response = await callApi(h, { browser: owner.browser }, 'DELETE', `/orgs/${doomed.slug}`);
    expect(response.status).toBe(204);

    const after = await rowsPerTable(doomed.id);
    expect(Object.entries(after).filter(([, n]) => n > 0)).toEqual([]);
    expect(await h.database.db.selectFrom('organization').select('id').where('id', '=', doomed.id).executeTakeFirst()).toBeUndefined();
    expect(await rowsPerTable(kept.id)).toEqual(keptBefore);
    expect((await callApi(h, { browser: colleague.browser }, 'GET', `/orgs/${kept.slug}/members`)).status).toBe(200);

    // The chain survives under its name, ending with the deletion, and still verifies.
    const chain = await h.database.db.selectFrom('audit_event').select(['action', 'org_id', 'summary']).where('chain', '=', `org:${doomed.id}`).orderBy('seq', 'desc').execute();
    expect(chain.length).toBeGreaterThan(2);
    expect(chain.every((e) => e.org_id === null)).toBe(true);
    expect(chain[0]!.action).toBe('organization.delete');
    expect(chain[0]!.summary).toMatchObject({ slug: doomed.slug, name: 'Doomed', members: 2, removed: { aggregate_report: before.aggregate_report, mailbox: 1 } });
    await allChainsVerify();

    if (backend === 'postgres') {
      const cli = await runDmarcwatch(['audit', 'verify'], { DATABASE_URL: h.database.url!, DMARCWATCH_KEYS: `k1:${generateKey().split(':').pop()}` });
      expect(cli.stderr).toBe('');
      expect(cli.stdout).toContain(`org:${doomed.id}: OK`);
      expect(cli.code).toBe(0);
    }
  });

  it('deletes in batches of the size asked for, with the same result', async () => {
    const batched = await orgWith(h, 'Batched', neighbour);
    await fill(batched.id);
    const before = await rowsPerTable(batched.id);
    const deleted = await deleteOrganization(h.database.db, { orgId: batched.id, actor: { type: 'user', id: neighbour.userId }, ip: null, batches: { reports: 3, rows: 7 } });
    expect(deleted?.removed.aggregate_report).toBe(before.aggregate_report);
    expect(deleted?.removed.raw_document).toBe(before.raw_document);
    expect(deleted?.removed.ingest_log).toBe(before.ingest_log);
    expect(Object.entries(await rowsPerTable(batched.id)).filter(([, n]) => n > 0)).toEqual([]);
    expect(await deleteOrganization(h.database.db, { orgId: batched.id, actor: { type: 'system' }, ip: null })).toBeNull();
    await allChainsVerify();
  });

  it('exports everything about the person, without secrets', async () => {
    const person = await signedIn(h, 'export@delete.example');
    const org = await orgWith(h, 'Export Org', person);
    const created = await callApi(h, { browser: person.browser }, 'POST', `/orgs/${org.slug}/api-keys`, { name: 'export key', scope: 'read' });
    const key: string = created.body.key;
    await callApi(h, { browser: person.browser }, 'PATCH', `/orgs/${org.slug}`, { name: 'Export Org Renamed' });

    const exported = await callApi(h, { browser: person.browser }, 'GET', '/me/export');
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-disposition')).toContain('attachment');
    const data = exported.body;
    expect(data.account).toMatchObject({ id: person.userId, email: 'export@delete.example', instanceAdmin: false, twoFactor: false });
    expect(data.memberships).toEqual([{ organization: { slug: org.slug, name: 'Export Org Renamed' }, role: 'owner', joinedAt: expect.any(String) }]);
    expect(data.sessions).toHaveLength(1);
    expect(data.signInLinks.length).toBeGreaterThan(0);
    expect(data.apiKeys).toEqual([expect.objectContaining({ organization: org.slug, name: 'export key', scope: 'read', prefix: key.slice(0, 8) })]);
    const actions = data.auditEvents.map((e: { action: string }) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['user.create', 'session.sign_in', 'api_key.create', 'organization.rename']));
    // Only their own actions.
    expect(data.auditEvents.some((e: { action: string; target: { id: string } | null }) => e.action === 'user.create' && e.target?.id !== String(person.userId))).toBe(false);

    const text = JSON.stringify(data);
    expect(text).not.toContain(key.slice(8));
    expect(text).not.toMatch(/token_hash|totp_secret|code_hash/);
    expect(text).not.toContain(person.browser.cookies.values().next().value as string);

    const audited = await h.database.db.selectFrom('audit_event').select('action').where('action', '=', 'user.export').where('actor_id', '=', String(person.userId)).execute();
    expect(audited).toHaveLength(1);
    expect((await callApi(h, { key: await keyFor(h, org.id, 'admin') }, 'GET', '/me/export')).status).toBe(403);
  });

  it('refuses to delete the last owner of an organisation with other members, then deletes once ownership is handed over', async () => {
    const leaver = await signedIn(h, 'leaver@delete.example');
    const stayer = await signedIn(h, 'stayer@delete.example');
    const shared = await orgWith(h, 'Shared Team', leaver, [{ member: stayer, role: 'admin' }]);
    const solo = await orgWith(h, 'Solo Project', leaver);
    await fill(solo.id);
    const other = await orgWith(h, 'Someone Else’s', stayer, [{ member: leaver, role: 'viewer' }]);

    const refused = await callApi(h, { browser: leaver.browser }, 'DELETE', '/me');
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('last_owner');
    expect(refused.body.error.message).toContain('Shared Team');
    expect(refused.body.error.details).toEqual({ organizations: [shared.slug] });
    expect((await callApi(h, { browser: leaver.browser }, 'GET', '/me')).status).toBe(200);
    expect(await h.database.db.selectFrom('organization').select('id').where('id', '=', solo.id).executeTakeFirst()).toBeDefined();

    expect((await callApi(h, { browser: leaver.browser }, 'PATCH', `/orgs/${shared.slug}/members/${stayer.userId}`, { role: 'owner' })).status).toBe(200);
    const deleted = await callApi(h, { browser: leaver.browser }, 'DELETE', '/me');
    expect(deleted.status).toBe(204);
    expect(deleted.headers.get('set-cookie')).toMatch(/Max-Age=0/);

    expect((await callApi(h, { browser: leaver.browser }, 'GET', '/me')).status).toBe(401);
    expect(await h.database.db.selectFrom('user_account').select('id').where('id', '=', leaver.userId).executeTakeFirst()).toBeUndefined();
    expect(await h.database.db.selectFrom('user_session').select('id').where('user_id', '=', leaver.userId).execute()).toEqual([]);
    expect(await h.database.db.selectFrom('magic_link').select('id').where('email', '=', 'leaver@delete.example').execute()).toEqual([]);
    // The organisation only they were in is gone with all its data; the others stay, without them.
    expect(Object.entries(await rowsPerTable(solo.id)).filter(([, n]) => n > 0)).toEqual([]);
    const remaining = await h.database.db.selectFrom('membership').select(['org_id', 'user_id', 'role']).where('org_id', 'in', [shared.id, other.id]).orderBy('org_id').execute();
    expect(remaining).toEqual([
      { org_id: shared.id, user_id: stayer.userId, role: 'owner' },
      { org_id: other.id, user_id: stayer.userId, role: 'owner' },
    ]);

    const events = await h.database.db.selectFrom('audit_event').select(['chain', 'action', 'summary']).where('actor_id', '=', String(leaver.userId)).where('action', 'in', ['user.delete', 'member.leave', 'organization.delete']).orderBy('id').execute();
    expect(events.map((e) => `${e.chain} ${e.action}`)).toEqual([`org:${solo.id} organization.delete`, `org:${shared.id} member.leave`, `org:${other.id} member.leave`, 'instance user.delete']);
    await allChainsVerify();
  });

  it('the default organisation is never deleted with an account, only left', async () => {
    // The first account of this instance owns the default organisation alone.
    const defaultOrg = await h.database.db.selectFrom('organization').select('id').where('slug', '=', 'default').executeTakeFirstOrThrow();
    const members = await h.database.db.selectFrom('membership').select(['user_id', 'role']).where('org_id', '=', defaultOrg.id).execute();
    expect(members).toEqual([{ user_id: owner.userId, role: 'owner' }]);
    const result = await deleteAccount(h.database.db, { userId: owner.userId, ip: null, now: h.clock() });
    expect(result).toEqual({ deleted: true, organizationsDeleted: [] });
    expect(await h.database.db.selectFrom('organization').select('id').where('slug', '=', 'default').executeTakeFirst()).toBeDefined();
    expect(await h.database.db.selectFrom('membership').select('user_id').where('org_id', '=', defaultOrg.id).execute()).toEqual([]);
  });
});
