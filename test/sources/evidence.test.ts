import type { Kysely } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { lastDays, type DayPeriod } from '../../src/analytics/period.js';
import type { DB } from '../../src/db/schema.js';
import { deleteAggregateReports } from '../../src/ingest/delete-reports.js';
import { silentLogger } from '../../src/lib/logger.js';
import { deleteOrganization } from '../../src/orgs/delete-organization.js';
import { sourcesByIp, type SourceRow } from '../../src/reports/queries/sources.js';
import { classifyOne, classifySources, toSourceRecord, type SourceView } from '../../src/sources/classify-sources.js';
import { decideSource, decisionsOf } from '../../src/sources/decisions.js';
import { evidenceWindow, recomputeDomainEvidence, refreshSourceEvidence, staleDomains } from '../../src/sources/evidence-job.js';
import { readEvidence } from '../../src/sources/evidence-store.js';
import { orgServiceEntries } from '../../src/sources/org-services.js';
import { periodBounds, sourceRecords, type StoredSourceRecord } from '../../src/sources/source-records.js';
import { enrichmentOf } from '../../src/enrich/ip-cache.js';
import { storeReports, type HandReport, utcDayBefore } from '../helpers/aggregate-xml.js';
import { describeEachBackend, openTestDatabase, type TestDatabase } from '../helpers/db.js';

const DAY = 86_400_000;
const SERVICE = '167.89.0.10';
const FORWARDER = '209.85.220.41';
const SPOOFER = '198.51.100.23';
const SHARED = '192.0.2.10';
const AUTHORISED = '192.0.2.77';
const LATE = '203.0.113.9';

const daysAgo = utcDayBefore;

/**
 * Three weeks of reports for two domains from three reporters, with every fact the classifier
 * reads varying: several signatures, strict alignment, HELO-only SPF, reporter disagreements,
 * ARC and forwarding reasons, an address sending for both domains.
 */
function reports(now: Date): HandReport[] {
  const out: HandReport[] = [];
  for (let i = 1; i <= 21; i += 1) {
    const reporter = ['google.com', 'Yahoo', 'Outlook.com'][i % 3]!;
    out.push({
      domain: 'example.com',
      reporter,
      reportId: `com-${i}`,
      begin: daysAgo(now, i),
      adkim: i % 4 === 0 ? 's' : 'r',
      records: [
        { ip: SERVICE, count: 100 + i, dkim: 'pass', spf: 'fail', headerFrom: i % 5 === 0 ? 'news.example.com' : 'example.com', dkimResults: [{ domain: 'example.com', result: 'pass' }, { domain: 'sendgrid.net', result: 'pass' }], spfResults: [{ domain: 'em1.sendgrid.net', result: 'pass', scope: 'mfrom' }] },
        {
          ip: FORWARDER,
          count: 20,
          dkim: i % 2 === 0 ? 'pass' : 'fail',
          spf: 'fail',
          dkimResults: [{ domain: 'example.com', result: i % 2 === 0 ? 'pass' : 'fail' }],
          spfResults: [{ domain: 'lists.example.org', result: 'pass' }],
          reasons: i % 3 === 0 ? [{ type: 'local_policy', comment: 'arc=pass as[2].d=google.com as[1].google.com=pass' }] : [{ type: 'trusted_forwarder' }],
        },
        { ip: SPOOFER, count: 30 + (i % 4), dkim: i % 7 === 0 ? 'pass' : 'fail', spf: 'fail', spfResults: [{ domain: 'example.com', result: 'pass', scope: 'helo' }, { domain: 'spoof.example.net', result: 'softfail' }] },
        { ip: SHARED, count: 5, dkim: 'pass', spf: 'pass' },
        { ip: AUTHORISED, count: 12, dkim: 'fail', spf: 'fail', reasons: [{ type: 'local_policy' }] },
      ],
    });
    if (i % 2 === 0) {
      out.push({
        domain: 'example.org',
        reporter,
        reportId: `org-${i}`,
        begin: daysAgo(now, i),
        aspf: 's',
        records: [
          { ip: SHARED, count: 40, dkim: 'fail', spf: 'pass', spfResults: [{ domain: 'mail.example.org', result: 'pass' }] },
          { ip: SPOOFER, count: 3, dkim: 'fail', spf: 'fail' },
        ],
      });
    }
  }
  return out;
}

/** The classification as it was computed from raw records while the page rendered (the oracle). */
async function onTheFly(db: Kysely<DB>, orgId: number, rows: readonly SourceRow[], scope: { period: DayPeriod; domain?: string }) {
  const ips = rows.map((r) => r.sourceIp);
  const [enrichment, records, decisions, services] = await Promise.all([
    enrichmentOf(db, ips),
    sourceRecords(db, orgId, { ips, ...periodBounds(scope.period), ...(scope.domain !== undefined ? { domain: scope.domain } : {}) }, 20_000),
    decisionsOf(db, orgId),
    orgServiceEntries(db, orgId),
  ]);
  return rows.map((row) => {
    const own: StoredSourceRecord[] = records.filter((r) => r.sourceIp === row.sourceIp);
    const dkim = new Map<string, Set<string>>();
    const reasons = new Map<string, { type: string; comment: string | null }>();
    for (const r of own) {
      for (const d of r.dkim) dkim.set(d.domain.toLowerCase(), (dkim.get(d.domain.toLowerCase()) ?? new Set()).add(d.result.toLowerCase()));
      for (const x of r.reasons) reasons.set(`${x.type}\u0000${x.comment ?? ''}`, x);
    }
    return {
      ip: row.sourceIp,
      dkim: [...dkim].map(([domain, results]) => ({ domain, results: [...results].sort() })).sort((a, b) => a.domain.localeCompare(b.domain)),
      reasons: [...reasons.values()].slice(0, 20),
      records: own.length,
      ...classifyOne(row.sourceIp, own.map(toSourceRecord), enrichment.get(row.sourceIp) ?? null, { decisions, services }),
    };
  });
}

function comparable(views: SourceView[]) {
  return views.map((v) => ({ ip: v.ip, dkim: v.dkim, reasons: v.reasons, records: v.records, classification: v.classification, decision: v.decision }));
}

function row(ip: string): SourceRow {
  return { sourceIp: ip, messages: 1, dmarcPass: 0, dmarcFail: 1, dispositions: { none: 1, quarantine: 0, reject: 0, other: 0 }, headerFrom: [], firstDay: '2000-01-01', lastDay: '2099-01-01' };
}

describeEachBackend('source evidence: computed in the background, read by pages', (backend) => {
  let database: TestDatabase;
  let db: Kysely<DB>;
  let orgId: number;
  let otherOrgId: number;
  const now = new Date();
  const period = lastDays(now, 90);
  const refresh = (at: Date = now) => refreshSourceEvidence({ db, logger: silentLogger, clock: () => at });

  beforeAll(async () => {
    database = await openTestDatabase(backend);
    db = database.db;
    orgId = (await db.insertInto('organization').values({ slug: 'evidence', name: 'Evidence' }).returning('id').executeTakeFirstOrThrow()).id;
    otherOrgId = (await db.insertInto('organization').values({ slug: 'other', name: 'Other' }).returning('id').executeTakeFirstOrThrow()).id;
    await storeReports(db, orgId, reports(now));
    await storeReports(db, otherOrgId, reports(now).slice(0, 3));
    const change = { orgId, actor: { type: 'system' as const }, ip: null, now };
    await decideSource(db, change, { type: 'ip', value: AUTHORISED }, 'authorised', 'Our relay');
    await decideSource(db, change, { type: 'service', value: 'sendgrid' }, 'ignored', null);
  }, 120_000);
  afterAll(async () => {
    await database?.close();
  });

  it('says "being analysed" before the job ran, and calls nothing suspicious without evidence', async () => {
    const rows = await sourcesByIp(db, orgId, { ...period, domain: 'example.com' }, { limit: 50, after: null });
    const views = await classifySources(db, orgId, rows, { domain: 'example.com', now });
    expect(views.map((v) => v.evidence.status)).toEqual(views.map(() => 'pending'));
    expect(views.find((v) => v.ip === SPOOFER)!.classification.kind).toBe('unknown');
    expect(views.find((v) => v.ip === AUTHORISED)!.classification.kind).toBe('authorised');
    expect(views.every((v) => v.records === 0)).toBe(true);
  });

  it('gives exactly what the on-the-fly computation from raw records gave, per domain and across domains', async () => {
    expect(await refresh()).toEqual({ domains: 4, sources: 5 + 2 + 5 + 2, failed: 0, more: false });
    for (const domain of ['example.com', 'example.org']) {
      const rows = await sourcesByIp(db, orgId, { ...period, domain }, { limit: 50, after: null });
      const views = await classifySources(db, orgId, rows, { domain, now });
      expect(views.every((v) => v.evidence.status === 'ready')).toBe(true);
      expect(comparable(views)).toEqual(await onTheFly(db, orgId, rows, { period, domain }));
    }
    const all = [SERVICE, FORWARDER, SPOOFER, SHARED, AUTHORISED].map(row);
    const across = await classifySources(db, orgId, all, { now });
    expect(comparable(across)).toEqual(await onTheFly(db, orgId, all, { period }));

    const byIp = new Map(across.map((v) => [v.ip, v]));
    expect(byIp.get(SERVICE)!.classification).toMatchObject({ kind: 'known_service', service: { service: { id: 'sendgrid' } } });
    expect(byIp.get(SERVICE)!.decision).toMatchObject({ decision: 'ignored', subject: { type: 'service' } });
    expect(byIp.get(FORWARDER)!.classification.kind).toBe('forwarder');
    expect(byIp.get(SPOOFER)!.classification.kind).toBe('suspicious');
    expect(byIp.get(SPOOFER)!.records).toBe(21 + 10);
    expect(byIp.get(AUTHORISED)!.classification.evidence[0]).toBe('Authorised by a member of this organisation: Our relay');
    expect(byIp.get(SHARED)!.classification.totals.messages).toBe(21 * 5 + 10 * 40);

    // What is stored is readable by itself: DKIM domains, SPF scopes and reason comments with counts.
    const [forwarder] = await readEvidence(db, orgId, { ips: [FORWARDER], domain: 'example.com' });
    expect(forwarder).toMatchObject({ messages: 21 * 20, records: 21 });
    expect(forwarder!.reasons).toContainEqual({ type: 'local_policy', comment: 'arc=pass as[2].d=google.com as[1].google.com=pass', messages: 7 * 20 });
    expect(forwarder!.reasons).toContainEqual({ type: 'trusted_forwarder', comment: null, messages: 14 * 20 });
    const [spoofer] = await readEvidence(db, orgId, { ips: [SPOOFER], domain: 'example.com' });
    expect(spoofer!.spf).toContainEqual({ domain: 'example.com', scope: 'helo', result: 'pass', messages: spoofer!.messages });
  });

  it('recomputes only the pairs with a new or deleted report, and running again changes nothing', async () => {
    expect(await staleDomains(db, evidenceWindow(now), 10)).toEqual([]);
    const before = await db.selectFrom('source_evidence').selectAll().where('org_id', '=', orgId).orderBy('policy_domain').orderBy('source_ip').execute();
    expect(await refresh()).toEqual({ domains: 0, sources: 0, failed: 0, more: false });
    expect(await db.selectFrom('source_evidence').selectAll().where('org_id', '=', orgId).orderBy('policy_domain').orderBy('source_ip').execute()).toEqual(before);

    await storeReports(db, orgId, [{ domain: 'example.org', reporter: 'google.com', reportId: 'late-1', begin: daysAgo(now, 1), records: [{ ip: LATE, count: 500, dkim: 'fail', spf: 'fail' }] }]);
    expect(await staleDomains(db, evidenceWindow(now), 10)).toEqual([{ orgId, domain: 'example.org' }]);
    const pending = await classifySources(db, orgId, [{ ...row(LATE), lastDay: period.toDay }], { domain: 'example.org', now });
    expect(pending[0]!.evidence.status).toBe('pending');
    expect(pending[0]!.classification.kind).toBe('unknown');

    expect(await refresh()).toMatchObject({ domains: 1, failed: 0 });
    const rows = await sourcesByIp(db, orgId, { ...period, domain: 'example.org' }, { limit: 50, after: null });
    const views = await classifySources(db, orgId, rows, { domain: 'example.org', now });
    expect(views.find((v) => v.ip === LATE)!.classification.kind).toBe('suspicious');
    expect(comparable(views)).toEqual(await onTheFly(db, orgId, rows, { period, domain: 'example.org' }));

    const late = await db.selectFrom('aggregate_report').select('id').where('org_id', '=', orgId).where('external_id', '=', 'late-1').executeTakeFirstOrThrow();
    await deleteAggregateReports(db, orgId, [late.id]);
    expect(await refresh()).toMatchObject({ domains: 1 });
    expect(await readEvidence(db, orgId, { ips: [LATE] })).toEqual([]);

    // Recomputing a pair that did not change gives the same rows.
    const again = async () => (await readEvidence(db, orgId, { ips: [SERVICE, FORWARDER, SPOOFER, SHARED, AUTHORISED], domain: 'example.com' })).map((e) => ({ ...e, computedAt: null })).sort((a, b) => a.ip.localeCompare(b.ip));
    const first = await again();
    await recomputeDomainEvidence(db, orgId, 'example.com', evidenceWindow(now), new Date(now.getTime() + 1000));
    expect(await again()).toEqual(first);
  });

  it('recomputes when the window moves, and drops what left it', async () => {
    const tomorrow = new Date(now.getTime() + DAY);
    expect((await staleDomains(db, evidenceWindow(tomorrow), 10)).length).toBe(4);
    expect(await refresh(tomorrow)).toMatchObject({ domains: 4, failed: 0, more: false });
    // With a 10-day window, the older reports are no longer evidence; bounded runs leave the rest for later.
    const narrow = (at: Date, max: number) => refreshSourceEvidence({ db, logger: silentLogger, clock: () => at }, { windowDays: 10, maxDomainsPerRun: max });
    expect(await narrow(tomorrow, 1)).toMatchObject({ domains: 1, more: true });
    expect(await narrow(tomorrow, 10)).toMatchObject({ domains: 3, more: false });
    const [shared] = await readEvidence(db, orgId, { ips: [SHARED], domain: 'example.com' });
    expect(shared!.records).toBe(8);
    // A source with no record left in the window is not judged, and not called suspicious.
    const old = await classifySources(db, orgId, [{ ...row('198.51.100.200'), lastDay: '2000-01-01' }], { domain: 'example.org', now: tomorrow });
    expect(old[0]!.evidence.status).toBe('outside_window');
    expect(old[0]!.classification.kind).toBe('unknown');
    await refresh(tomorrow);
  });

  it('goes with a deleted organisation, leaving the others', async () => {
    expect(Number((await db.selectFrom('source_evidence').select((eb) => eb.fn.countAll<number>().as('n')).where('org_id', '=', otherOrgId).executeTakeFirstOrThrow()).n)).toBeGreaterThan(0);
    await deleteOrganization(db, { orgId, actor: { type: 'system' }, ip: null });
    for (const table of ['source_evidence', 'source_evidence_state'] as const) {
      expect(await db.selectFrom(table).select('org_id').where('org_id', '=', orgId).execute()).toEqual([]);
      expect((await db.selectFrom(table).select('org_id').where('org_id', '=', otherOrgId).execute()).length).toBeGreaterThan(0);
    }
    expect(await staleDomains(db, evidenceWindow(new Date(now.getTime() + DAY)), 10)).toEqual([]);
  });
});
