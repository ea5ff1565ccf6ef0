import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrichDueSources, sourceEnrichmentJob, type EnrichDeps } from '../../src/enrich/enrich-job.js';
import { NO_GEO, openGeoDatabases } from '../../src/enrich/geo.js';
import { enrichmentOf, RECHECK_AFTER_MS, RETRY_FIRST_MS, retryDelayMs } from '../../src/enrich/ip-cache.js';
import { Scheduler } from '../../src/jobs/scheduler.js';
import { createDnsResolver } from '../../src/lib/dns.js';
import { silentLogger } from '../../src/lib/logger.js';
import { storeReports, utcDayBefore } from '../helpers/aggregate-xml.js';
import { describeEachBackend, openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { buildMmdb, writeMmdb } from '../helpers/mmdb.js';

const DAY = 86_400_000;
const START = new Date();

const daysAgo = (n: number) => utcDayBefore(START, n);

describe('MaxMind DB files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmarcwatch-mmdb-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('answers ASN, AS organisation and country, the most specific network winning, IPv4 and IPv6', () => {
    const asnDb = writeMmdb(path.join(dir, 'asn.mmdb'), [
      { network: '192.0.2.0/24', data: { autonomous_system_number: 64500, autonomous_system_organization: 'Example Networks' } },
      { network: '192.0.2.128/25', data: { autonomous_system_number: 64501, autonomous_system_organization: 'Example Mail' } },
      { network: '2001:db8::/32', data: { autonomous_system_number: 64502, autonomous_system_organization: 'Example Six' } },
    ]);
    const countryDb = writeMmdb(path.join(dir, 'country.mmdb'), [{ network: '192.0.2.0/24', data: { country: { iso_code: 'nl', names: { en: 'Netherlands' } } } }]);
    const geo = openGeoDatabases({ asnDb, countryDb });
    expect(geo.asn('192.0.2.1')).toEqual({ asn: 64500, organization: 'Example Networks' });
    expect(geo.asn('192.0.2.200')).toEqual({ asn: 64501, organization: 'Example Mail' });
    expect(geo.asn('2001:db8::25')).toEqual({ asn: 64502, organization: 'Example Six' });
    expect(geo.country('192.0.2.1')).toBe('NL');
    // Not in the file: unknown, not a guess.
    expect(geo.asn('198.51.100.7')).toBeNull();
    expect(geo.country('2001:db8::25')).toBeNull();
    expect(geo.asn('not an address')).toBeNull();
  });

  it('says which file is missing or not a MaxMind DB', () => {
    expect(() => openGeoDatabases({ asnDb: path.join(dir, 'absent.mmdb') })).toThrow(/cannot read the ASN database .*absent\.mmdb: ENOENT/);
    const junk = path.join(dir, 'junk.mmdb');
    fs.writeFileSync(junk, 'not a database');
    expect(() => openGeoDatabases({ countryDb: junk })).toThrow(/is not a MaxMind DB/);
    expect(buildMmdb([]).length).toBeGreaterThan(0);
  });

  it('has no answers without files', () => {
    expect(NO_GEO.asn('192.0.2.1')).toBeNull();
    expect(NO_GEO.country('192.0.2.1')).toBeNull();
  });
});

describeEachBackend('the source enrichment job', (backend) => {
  let database: TestDatabase;
  let dns: TestDnsServer;
  let dir: string;
  let now = new Date(START);
  let deps: EnrichDeps;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmarcwatch-enrich-'));
    database = await openTestDatabase(backend);
    dns = await startDnsServer();
    const asnDb = writeMmdb(path.join(dir, 'asn.mmdb'), [{ network: '192.0.2.0/24', data: { autonomous_system_number: 64500, autonomous_system_organization: 'Example Networks' } }]);
    const countryDb = writeMmdb(path.join(dir, 'country.mmdb'), [{ network: '192.0.2.0/24', data: { country: { iso_code: 'DE' } } }]);
    deps = {
      db: database.db,
      resolver: createDnsResolver({ servers: [dns.address], timeoutMs: 150, tries: 1 }),
      geo: openGeoDatabases({ asnDb, countryDb }),
      logger: silentLogger,
      clock: () => now,
    };

    // Confirmed: the PTR name leads back to the address.
    dns.setPtr('192.0.2.1', ['mail.example.net.']);
    dns.set('mail.example.net', { a: ['192.0.2.1'] });
    // Not confirmed: the name claims Google but resolves elsewhere.
    dns.setPtr('192.0.2.2', ['mail-x.google.com']);
    dns.set('mail-x.google.com', { a: ['203.0.113.9'] });
    // 192.0.2.3 has no PTR at all (NXDOMAIN).
    // The reverse zone of 192.0.2.4 does not answer.
    dns.set('4.2.0.192.in-addr.arpa', { silent: true });
    // IPv6, confirmed through AAAA written differently.
    dns.setPtr('2001:db8::25', ['mx.example.org']);
    dns.set('mx.example.org', { aaaa: ['2001:0db8:0000:0000:0000:0000:0000:0025'] });
    // Seen only long ago: not checked.
    dns.setPtr('198.51.100.99', ['old.example.net']);

    const record = (ip: string) => ({ ip, count: 5, dkim: 'pass' as const, spf: 'pass' as const });
    await storeReports(database.db, 1, [
      { domain: 'example.com', reportId: 'recent', begin: daysAgo(2), records: ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '2001:db8::25'].map(record) },
      { domain: 'example.com', reportId: 'old', begin: daysAgo(120), records: [record('198.51.100.99')] },
    ]);
  }, 60_000);
  afterAll(async () => {
    await database?.close();
    await dns?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('checks every recent source once: forward-confirmed PTR, unconfirmed PTR, no PTR, a timeout, IPv6', async () => {
    const summary = await enrichDueSources(deps);
    expect(summary).toEqual({ checked: 4, confirmed: 2, failed: 1 });
    const cache = await enrichmentOf(database.db, ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '2001:db8::25', '198.51.100.99']);

    expect(cache.get('192.0.2.1')).toMatchObject({ ptrHost: 'mail.example.net', ptrConfirmed: true, ptrOrgDomain: 'example.net', asn: 64500, asOrg: 'Example Networks', country: 'DE', failures: 0, lastError: null });
    expect(cache.get('192.0.2.1')!.nextCheckAt.getTime()).toBe(now.getTime() + RECHECK_AFTER_MS);
    expect(cache.get('192.0.2.2')).toMatchObject({ ptrHost: 'mail-x.google.com', ptrConfirmed: false, ptrOrgDomain: 'google.com', lastError: null });
    expect(cache.get('192.0.2.3')).toMatchObject({ ptrHost: null, ptrConfirmed: false, ptrOrgDomain: null, asn: 64500, lastError: null });
    // Outside the MMDB networks: unknown.
    expect(cache.get('2001:db8::25')).toMatchObject({ ptrHost: 'mx.example.org', ptrConfirmed: true, asn: null, asOrg: null, country: null });

    const failed = cache.get('192.0.2.4')!;
    expect(failed).toMatchObject({ ptrHost: null, failures: 1, checkedAt: null, asn: 64500, country: 'DE' });
    expect(failed.lastError).toContain('timed out');
    expect(failed.nextCheckAt.getTime()).toBe(now.getTime() + RETRY_FIRST_MS);

    expect(cache.has('198.51.100.99')).toBe(false);
  });

  it('checks nothing again before it is due', async () => {
    const before = dns.queries.length;
    now = new Date(START.getTime() + 60_000);
    expect(await enrichDueSources(deps)).toEqual({ checked: 0, confirmed: 0, failed: 0 });
    expect(dns.queries.length).toBe(before);
  });

  it('retries a failed address with a doubling back-off, and clears the failure once it answers', async () => {
    now = new Date(START.getTime() + RETRY_FIRST_MS);
    expect(await enrichDueSources(deps)).toEqual({ checked: 0, confirmed: 0, failed: 1 });
    let row = (await enrichmentOf(database.db, ['192.0.2.4'])).get('192.0.2.4')!;
    expect(row.failures).toBe(2);
    expect(row.nextCheckAt.getTime()).toBe(now.getTime() + retryDelayMs(2));
    expect(retryDelayMs(2)).toBe(2 * RETRY_FIRST_MS);
    expect(retryDelayMs(50)).toBe(DAY);

    dns.setPtr('192.0.2.4', ['relay.example.net']);
    dns.set('relay.example.net', { a: ['192.0.2.4'] });
    now = new Date(now.getTime() + retryDelayMs(2));
    expect(await enrichDueSources(deps)).toEqual({ checked: 1, confirmed: 1, failed: 0 });
    row = (await enrichmentOf(database.db, ['192.0.2.4'])).get('192.0.2.4')!;
    expect(row).toMatchObject({ ptrHost: 'relay.example.net', ptrConfirmed: true, failures: 0, lastError: null });
  });

  it('a week later checks again and notices a changed PTR, through the scheduled singleton job', async () => {
    dns.set('mail.example.net', { a: ['192.0.2.77'] });
    now = new Date(START.getTime() + RECHECK_AFTER_MS + DAY);
    const scheduler = new Scheduler(database.db, silentLogger);
    await scheduler.trigger(sourceEnrichmentJob(deps));
    await scheduler.stop();
    const row = (await enrichmentOf(database.db, ['192.0.2.1'])).get('192.0.2.1')!;
    expect(row).toMatchObject({ ptrHost: 'mail.example.net', ptrConfirmed: false });
    expect(row.checkedAt?.getTime()).toBe(now.getTime());
  });

  it('stops at the per-run bound', async () => {
    now = new Date(START.getTime() + 3 * RECHECK_AFTER_MS);
    const first = await enrichDueSources(deps, { maxPerRun: 2, batch: 1 });
    expect(first.checked + first.failed).toBe(2);
    const rest = await enrichDueSources(deps);
    expect(rest.checked + rest.failed).toBe(3);
  });
});
