import { sql } from 'kysely';
import { afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { checkKeys, rotateKeys } from '../../src/keys/rotate.js';
import { createKeyring, initCrypto, type Keyring } from '../../src/lib/crypto/index.js';
import { claimDueMailbox, claimMailbox, releaseClaim } from '../../src/mailboxes/claim.js';
import { mailboxAuth, openMailboxSecret } from '../../src/mailboxes/credentials.js';
import {
  addMailbox,
  findMailbox,
  listMailboxes,
  MailboxInputError,
  removeMailbox,
  requestPoll,
  setMailboxPaused,
  updateMailbox,
} from '../../src/mailboxes/manage.js';
import { defaultOrgId } from '../../src/orgs/default-org.js';
import { describeEachBackend, openTestDatabase, type TestDatabase } from '../helpers/db.js';

const PASSWORD = 'correct horse battery staple ✓';
const key = (byte: number) => new Uint8Array(32).fill(byte);
let oldRing: Keyring;
let newRing: Keyring;

beforeAll(async () => {
  await initCrypto();
  oldRing = createKeyring([{ id: 'old', key: key(1) }]);
  newRing = createKeyring([
    { id: 'new', key: key(2) },
    { id: 'old', key: key(1) },
  ]);
});

const imapInput = (name: string) => ({
  name,
  host: 'imap.example.com',
  username: 'dmarc@example.com',
  authMethod: 'password',
  password: PASSWORD,
});

describeEachBackend('mailbox management', (backend) => {
  let database: TestDatabase;
  let orgId: number;
  beforeEach(async () => {
    database = await openTestDatabase(backend);
    orgId = await defaultOrgId(database.db);
  });
  afterEach(async () => {
    await database.close();
  });

  it('stores the password sealed: never in plaintext anywhere in the table', async () => {
    const view = await addMailbox(database.db, oldRing, orgId, imapInput('dmarc'));
    expect(view).toMatchObject({ name: 'dmarc', port: 993, tlsMode: 'implicit', hasPassword: true, folder: 'INBOX' });
    expect(JSON.stringify(view)).not.toContain(PASSWORD);
    const dump = await sql<{ row: string }>`select row_to_json(m)::text as row from mailbox m`.execute(database.db);
    expect(dump.rows[0]!.row).not.toContain('horse');
    const row = await findMailbox(database.db, orgId, 'dmarc');
    expect(Buffer.from(row.password_sealed!).toString('latin1')).not.toContain('horse');
    expect(openMailboxSecret(oldRing, row, 'password_sealed')).toBe(PASSWORD);
    expect(await mailboxAuth(database.db, oldRing, row)).toEqual({ method: 'password', username: 'dmarc@example.com', password: PASSWORD });
  });

  it('refuses a sealed value copied onto another mailbox', async () => {
    await addMailbox(database.db, oldRing, orgId, imapInput('a'));
    await addMailbox(database.db, oldRing, orgId, { ...imapInput('b'), password: 'other' });
    await sql`update mailbox set password_sealed = (select password_sealed from mailbox where name = 'a') where name = 'b'`.execute(database.db);
    const b = await findMailbox(database.db, orgId, 'b');
    expect(() => openMailboxSecret(oldRing, b, 'password_sealed')).toThrow(/password_sealed/);
  });

  it('validates input with one line per problem', async () => {
    const attempt = addMailbox(database.db, oldRing, orgId, { name: '', host: 'bad host!', authMethod: 'password', password: '' });
    await expect(attempt).rejects.toBeInstanceOf(MailboxInputError);
    const message = (await attempt.catch((e: Error) => e.message)) as string;
    expect(message.split('\n').length).toBeGreaterThanOrEqual(3);
    expect(message).toMatch(/host: expected a host name/);
    await addMailbox(database.db, oldRing, orgId, imapInput('dup'));
    await expect(addMailbox(database.db, oldRing, orgId, imapInput('dup'))).rejects.toThrow(/already exists/);
  });

  it('edits, pauses, requests a poll and removes', async () => {
    await addMailbox(database.db, oldRing, orgId, imapInput('box'));
    const edited = await updateMailbox(database.db, oldRing, orgId, 'box', { folder: 'DMARC', pollIntervalMinutes: 5, password: 'new-secret' });
    expect(edited).toMatchObject({ folder: 'DMARC', pollIntervalMinutes: 5 });
    expect(openMailboxSecret(oldRing, await findMailbox(database.db, orgId, 'box'), 'password_sealed')).toBe('new-secret');
    expect((await setMailboxPaused(database.db, orgId, 'box', true)).paused).toBe(true);
    await sql`update mailbox set next_poll_at = now() + interval '1 hour'`.execute(database.db);
    await requestPoll(database.db, orgId, 'box');
    const row = await findMailbox(database.db, orgId, 'box');
    expect(row.next_poll_at.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    await removeMailbox(database.db, orgId, 'box');
    expect(await listMailboxes(database.db, orgId)).toEqual([]);
  });

  it('never lets two workers claim the same mailbox', async () => {
    for (let i = 0; i < 5; i++) await addMailbox(database.db, oldRing, orgId, imapInput(`m${i}`));
    await setMailboxPaused(database.db, orgId, 'm4', true);
    const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => claimDueMailbox(database.db, `worker-${i}`, 60_000)));
    const claimed = claims.filter((c) => c !== undefined).map((c) => c!.name);
    expect(claimed.sort()).toEqual(['m0', 'm1', 'm2', 'm3']);
    expect(await claimDueMailbox(database.db, 'late', 60_000)).toBeUndefined();
    const m0 = claims.find((c) => c?.name === 'm0')!;
    expect(await claimMailbox(database.db, m0.id, 'someone-else', 60_000)).toBeUndefined();
    await releaseClaim(database.db, m0.id, m0.claimed_by!);
    expect((await claimMailbox(database.db, m0.id, 'someone-else', 60_000))?.name).toBe('m0');
  });

  it('takes over a claim whose worker died (claim expired)', async () => {
    await addMailbox(database.db, oldRing, orgId, imapInput('orphan'));
    expect((await claimDueMailbox(database.db, 'dead-worker', 60_000))?.name).toBe('orphan');
    await sql`update mailbox set claimed_until = now() - interval '1 second'`.execute(database.db);
    expect((await claimDueMailbox(database.db, 'live-worker', 60_000))?.claimed_by).toBe('live-worker');
  });

  it('rotates every sealed value to the new key, resumably, and reports unknown keys', async () => {
    for (let i = 0; i < 7; i++) await addMailbox(database.db, oldRing, orgId, { ...imapInput(`r${i}`), password: `pw-${i}` });
    expect(await checkKeys(database.db, newRing)).toMatchObject({ byKey: { old: 7 }, current: 0, retired: 7, unknown: [] });

    const first = await rotateKeys(database.db, newRing, { batchSize: 3 });
    expect(first).toEqual({ resealed: 7, alreadyCurrent: 0, failed: [] });
    const again = await rotateKeys(database.db, newRing, { batchSize: 3 });
    expect(again).toEqual({ resealed: 0, alreadyCurrent: 7, failed: [] });
    expect(await checkKeys(database.db, newRing)).toMatchObject({ byKey: { new: 7 }, current: 7, retired: 0 });

    const onlyNew = createKeyring([{ id: 'new', key: key(2) }]);
    for (let i = 0; i < 7; i++) {
      expect(openMailboxSecret(onlyNew, await findMailbox(database.db, orgId, `r${i}`), 'password_sealed')).toBe(`pw-${i}`);
    }
    const stranger = createKeyring([{ id: 'other', key: key(3) }]);
    const check = await checkKeys(database.db, stranger);
    expect(check.unknown).toHaveLength(7);
    expect(check.unknown[0]).toMatchObject({ table: 'mailbox', column: 'password_sealed', keyId: 'new' });
  });
});
