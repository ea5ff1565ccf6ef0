import zlib from 'node:zlib';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { openHarness, type Harness } from '../auth/harness.js';
import { describeEachBackend } from '../helpers/db.js';
import { buildZip } from '../helpers/zip.js';
import { callApi, keyFor, orgWith, signedIn, type Member } from './harness.js';
import { SAMPLES, part, sample, upload } from './upload-helpers.js';

const MiB = 1024 * 1024;

describeEachBackend('report upload', (backend) => {
  let h: Harness;
  let owner: Member;
  let member: Member;
  let viewer: Member;
  let org: { id: number; slug: string };
  let writeKey: string;
  let readKey: string;

  const reportCounts = async () => {
    const db = h.database.db;
    const count = async (table: 'aggregate_report' | 'tls_report' | 'failure_report' | 'aggregate_record') =>
      Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('org_id', '=', org.id).executeTakeFirstOrThrow()).n);
    const messages = await db
      .selectFrom('aggregate_daily')
      .select((eb) => eb.fn.sum<number>('messages').as('n'))
      .where('org_id', '=', org.id)
      .executeTakeFirstOrThrow();
    return {
      aggregate: await count('aggregate_report'),
      tls: await count('tls_report'),
      failure: await count('failure_report'),
      records: await count('aggregate_record'),
      dailyMessages: Number(messages.n ?? 0),
    };
  };

  beforeAll(async () => {
    h = await openHarness(backend, { DMARCWATCH_MAX_DOCUMENT_SIZE: '1MiB', DMARCWATCH_MAX_MAIL_SIZE: '4MiB', DMARCWATCH_API_RATE_LIMIT: '100000' });
    owner = await signedIn(h, 'owner@upload.example');
    member = await signedIn(h, 'member@upload.example');
    viewer = await signedIn(h, 'viewer@upload.example');
    org = await orgWith(h, 'Upload Inc', owner, [
      { member, role: 'member' },
      { member: viewer, role: 'viewer' },
    ]);
    writeKey = await keyFor(h, org.id, 'write');
    readKey = await keyFor(h, org.id, 'read');
  }, 60_000);
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.database.db.deleteFrom('rate_limit').execute();
  });

  it('stores real aggregate (xml, gz, zip, mail), TLS and failure reports and answers each outcome with its report', async () => {
    const response = await upload(h, { key: writeKey }, org.slug, [part(SAMPLES.xml), part(SAMPLES.gz), part(SAMPLES.zip), part(SAMPLES.eml), part(SAMPLES.tls), part(SAMPLES.arf)]);
    expect(response.status).toBe(200);
    const files = response.body.files;
    expect(files.map((f: { name: string }) => f.name)).toEqual([SAMPLES.xml, SAMPLES.gz, SAMPLES.zip, SAMPLES.eml, SAMPLES.tls, SAMPLES.arf].map((p) => p.split('/').pop()));
    const kinds = files.map((f: { documents: Array<{ kind: string; outcome: string }> }) => f.documents.map((d) => `${d.kind}:${d.outcome}`));
    expect(kinds).toEqual([['aggregate:stored'], ['aggregate:stored'], ['aggregate:stored'], ['aggregate:stored'], ['tls:stored'], ['failure:stored']]);
    expect(response.body.totals).toEqual({ stored: 6, duplicate: 0, refused: 0, not_a_report: 0 });
    for (const file of files) {
      const [doc] = file.documents;
      expect(doc.report).toEqual({ kind: doc.kind, id: expect.any(Number) });
      expect(file.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(files[0].documents[0]).toMatchObject({ item: 'test.xml', reportRef: 'Test Inc. 1.id.0', records: 2, reason: null, problemCode: null });
    expect(files[2].documents[0].item).toBe('google.com!bluesun.net!1766102400!1766188799.zip › google.com!bluesun.net!1766102400!1766188799.xml');

    // The report ids answered are the organisation's reports.
    const aggregateId = files[0].documents[0].report.id;
    const stored = await h.database.db.selectFrom('aggregate_report').select(['org_id', 'reporter_org', 'message_count']).where('id', '=', aggregateId).executeTakeFirstOrThrow();
    expect(stored).toEqual({ org_id: org.id, reporter_org: 'Test Inc.', message_count: 7 });

    // The source names the upload: the file's hash and its name; the items start with the file name.
    const log = await h.database.db.selectFrom('ingest_log').select(['source', 'item']).where('org_id', '=', org.id).where('item', '=', 'test.xml').executeTakeFirstOrThrow();
    expect(log.source).toBe(`upload:${files[0].sha256.slice(0, 16)}:test.xml`);
  });

  it('answers a re-upload as duplicate, counts nothing twice and leaves the ingest log as it was', async () => {
    const before = await reportCounts();
    const logBefore = await h.database.db.selectFrom('ingest_log').select(['source', 'item', 'outcome']).where('org_id', '=', org.id).orderBy('id').execute();
    const again = await upload(h, { browser: member.browser }, org.slug, [part(SAMPLES.xml), part(SAMPLES.zip), part(SAMPLES.tls), part(SAMPLES.arf)]);
    expect(again.status).toBe(200);
    expect(again.body.totals).toEqual({ stored: 0, duplicate: 4, refused: 0, not_a_report: 0 });
    const first = again.body.files[0].documents[0];
    expect(first.outcome).toBe('duplicate');
    expect(first.reason).toMatch(/identical document already received/);
    // The duplicate still points at the report it duplicates.
    expect(first.report).toEqual({ kind: 'aggregate', id: expect.any(Number) });
    expect(await reportCounts()).toEqual(before);
    const logAfter = await h.database.db.selectFrom('ingest_log').select(['source', 'item', 'outcome']).where('org_id', '=', org.id).orderBy('id').execute();
    expect(logAfter).toEqual(logBefore);

    // The same report in other wrapping (gzip of the same XML) is a duplicate too, from a new source.
    const gz = await upload(h, { key: writeKey }, org.slug, [part(SAMPLES.xmlGz)]);
    expect(gz.body.files[0].documents[0]).toMatchObject({ outcome: 'duplicate', report: first.report });
    expect(await reportCounts()).toEqual(before);
  });

  it('refuses hostile and broken files with a reason, never a server error, and stores nothing', async () => {
    const before = await reportCounts();
    const xxe = '<?xml version="1.0"?>\n<!DOCTYPE feedback [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<feedback><report_metadata><org_name>&xxe;</org_name></report_metadata></feedback>';
    const gzipBomb = zlib.gzipSync(Buffer.alloc(16 * MiB, 0x3c));
    const zeros = zlib.deflateRawSync(Buffer.alloc(16 * MiB));
    const zipBomb = buildZip([{ name: 'bomb.xml', raw: { bytes: zeros, uncompressedSize: 1000, crc: 0 } }]);
    const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256));
    const response = await upload(h, { key: writeKey }, org.slug, [
      { name: 'xxe.xml', bytes: Buffer.from(xxe) },
      { name: 'bomb.xml.gz', bytes: gzipBomb },
      { name: 'bomb.zip', bytes: zipBomb },
      { name: 'garbage.bin', bytes: garbage },
      { name: '../../etc/empty.xml', bytes: new Uint8Array() },
      { name: 'broken.zip', bytes: Buffer.concat([Buffer.from('PK\u0003\u0004'), garbage]) },
    ]);
    expect(response.status).toBe(200);
    const outcomes = response.body.files.map((f: { name: string; documents: Array<{ outcome: string; problemCode: string; reason: string; report: unknown }> }) => ({
      name: f.name,
      outcomes: f.documents.map((d) => `${d.outcome}:${d.problemCode}`),
    }));
    expect(outcomes).toEqual([
      { name: 'xxe.xml', outcomes: ['refused:dtd_refused'] },
      { name: 'bomb.xml.gz', outcomes: ['refused:too_large'] },
      { name: 'bomb.zip', outcomes: ['refused:too_large'] },
      { name: 'garbage.bin', outcomes: ['not_a_report:not_a_report'] },
      { name: 'empty.xml', outcomes: ['not_a_report:empty'] },
      { name: 'broken.zip', outcomes: ['refused:corrupt_zip'] },
    ]);
    for (const file of response.body.files) {
      for (const doc of file.documents) {
        expect(doc.report).toBeNull();
        expect(doc.reason).toEqual(expect.any(String));
      }
    }
    expect(response.body.files[1].documents[0].reason).toContain('1 MiB');
    expect(await reportCounts()).toEqual(before);
    expect(JSON.stringify(response.body)).not.toContain('root:');
  });

  it('lets members and write keys upload, but not viewers or read keys', async () => {
    const viewerTry = await upload(h, { browser: viewer.browser }, org.slug, [part(SAMPLES.xml)]);
    expect(viewerTry.status).toBe(403);
    expect(viewerTry.body.error.code).toBe('forbidden');
    const readTry = await upload(h, { key: readKey }, org.slug, [part(SAMPLES.xml)]);
    expect(readTry.status).toBe(403);
    expect((await upload(h, { anonymous: true }, org.slug, [part(SAMPLES.xml)])).status).toBe(401);
    // A viewer may read what was uploaded.
    expect((await callApi(h, { browser: viewer.browser }, 'GET', `/orgs/${org.slug}/reports`)).status).toBe(200);
    expect((await upload(h, { browser: owner.browser }, org.slug, [part(SAMPLES.xml)])).status).toBe(200);
  });

  it("cannot upload into another organisation, and another organisation's upload stays its own", async () => {
    const stranger = await signedIn(h, 'stranger@upload.example');
    const other = await orgWith(h, 'Other Upload', stranger);
    expect((await upload(h, { browser: stranger.browser }, org.slug, [part(SAMPLES.gz)])).status).toBe(404);
    // The same file in another organisation is new there.
    const theirs = await upload(h, { browser: stranger.browser }, other.slug, [part(SAMPLES.xml)]);
    expect(theirs.body.files[0].documents[0].outcome).toBe('stored');
    const ours = await h.database.db.selectFrom('aggregate_report').select('id').where('org_id', '=', org.id).execute();
    expect(ours.map((r) => r.id)).not.toContain(theirs.body.files[0].documents[0].report.id);
  });

  it('checks the request: multipart only, a "file" part, and the body limit', async () => {
    const json = await callApi(h, { key: writeKey }, 'POST', `/orgs/${org.slug}/reports/upload`, { file: 'x' });
    expect(json.status).toBe(415);
    const wrongField = await upload(h, { key: writeKey }, org.slug, [part(SAMPLES.xml)], { field: 'report' });
    expect(wrongField.status).toBe(400);
    expect(wrongField.body.error.message).toContain('"file"');
    const tooLarge = await upload(h, { key: writeKey }, org.slug, [{ name: 'big.xml', bytes: Buffer.alloc(5 * MiB, 0x20) }]);
    expect(tooLarge.status).toBe(413);
    expect(sample(SAMPLES.xml).length).toBeGreaterThan(0);
  });

  it('writes one audit event per upload, with the files and outcomes but not their contents', async () => {
    await upload(h, { key: writeKey }, org.slug, [part(SAMPLES.tls)]);
    const event = await h.database.db
      .selectFrom('audit_event')
      .select(['action', 'actor_type', 'summary'])
      .where('org_id', '=', org.id)
      .where('action', '=', 'report.upload')
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow();
    expect(event.actor_type).toBe('api_key');
    expect(event.summary).toMatchObject({ fileCount: 1, files: [{ name: 'google.json' }], outcomes: { duplicate: 1 } });
    expect(JSON.stringify(event.summary)).not.toContain('policy-domain');
  });
});
