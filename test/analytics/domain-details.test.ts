import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bulkSenderChecklist } from '../../src/analytics/bulk-sender.js';
import { domainReporters } from '../../src/analytics/domain-reporters.js';
import { headerFromDomains } from '../../src/analytics/header-from-domains.js';
import { lastDays } from '../../src/analytics/period.js';
import { policyHistory } from '../../src/analytics/policy-history.js';
import { reverseDnsCoverage } from '../../src/analytics/reverse-dns-coverage.js';
import { defaultOrgId } from '../../src/orgs/default-org.js';
import { storeReports } from '../helpers/aggregate-xml.js';
import { describeEachBackend, openTestDatabase, type TestDatabase } from '../helpers/db.js';

const day = (text: string) => new Date(`${text}T00:00:00Z`);

describeEachBackend('domain page details', (backend) => {
  let database: TestDatabase;
  let orgId: number;
  beforeAll(async () => {
    database = await openTestDatabase(backend);
    orgId = await defaultOrgId(database.db);
    await storeReports(database.db, orgId, [
      { domain: 'example.com', reportId: 'a', reporter: 'google.com', begin: day('2026-03-01'), p: 'none', records: [{ ip: '192.0.2.1', count: 100, dkim: 'pass', spf: 'pass' }] },
      { domain: 'example.com', reportId: 'b', reporter: 'Yahoo', begin: day('2026-03-02'), p: 'none', records: [{ ip: '192.0.2.1', count: 20, dkim: 'pass', spf: 'pass' }] },
      {
        domain: 'example.com',
        reportId: 'c',
        reporter: 'google.com',
        begin: day('2026-03-04'),
        p: 'quarantine',
        records: [
          { ip: '192.0.2.1', count: 70, dkim: 'pass', spf: 'fail' },
          { ip: '198.51.100.5', count: 10, dkim: 'fail', spf: 'fail', headerFrom: 'news.example.com', disposition: 'quarantine' },
        ],
      },
      { domain: 'example.com', reportId: 'd', reporter: 'google.com', begin: day('2026-03-05'), p: 'quarantine', records: [{ ip: '192.0.2.1', count: 5, dkim: 'pass', spf: 'pass' }] },
    ]);
    await database.db
      .insertInto('ip_enrichment')
      .values([
        { ip: '192.0.2.1', ptr_host: 'mail.example.com', ptr_confirmed: true, checked_at: day('2026-03-06'), next_check_at: day('2026-03-13') },
        { ip: '198.51.100.5', ptr_host: null, ptr_confirmed: false, checked_at: day('2026-03-06'), next_check_at: day('2026-03-13') },
      ])
      .execute();
  }, 60_000);
  afterAll(() => database.close());

  const period = lastDays(new Date('2026-03-07T12:00:00Z'), 7);

  it('lists the receivers by the volume they saw', async () => {
    const reporters = await domainReporters(database.db, orgId, 'example.com', period);
    expect(reporters.map((r) => [r.reporter, r.reports])).toEqual([
      ['google.com', 3],
      ['Yahoo', 1],
    ]);
    expect(reporters[0]!.lastReportDay).toBe('2026-03-05');
  });

  it('shows the policy as runs of reports, oldest first', async () => {
    const spans = await policyHistory(database.db, orgId, 'example.com', day('2026-01-01'));
    expect(spans.map((s) => [s.p, s.firstDay, s.lastDay, s.reports])).toEqual([
      ['none', '2026-03-01', '2026-03-02', 2],
      ['quarantine', '2026-03-04', '2026-03-05', 2],
    ]);
  });

  it('counts tags a receiver left out as their defaults, so they do not split a run', async () => {
    // Yahoo's report (b) states only p=; Google's state every tag with its default value.
    await database.db.updateTable('aggregate_report').set({ policy_sp: null, policy_pct: null, adkim: null, aspf: null }).where('external_id', '=', 'b').execute();
    try {
      const spans = await policyHistory(database.db, orgId, 'example.com', day('2026-01-01'));
      expect(spans.map((s) => [s.p, s.sp, s.pct, s.adkim, s.aspf, s.reports])).toEqual([
        ['none', 'none', 100, 'r', 'r', 2],
        ['quarantine', 'quarantine', 100, 'r', 'r', 2],
      ]);
    } finally {
      await database.db.updateTable('aggregate_report').set({ policy_sp: 'none', policy_pct: 100, adkim: 'r', aspf: 'r' }).where('external_id', '=', 'b').execute();
    }
  });

  it('starts a new run when a policy comes back after a change', async () => {
    const before = await database.db.selectFrom('aggregate_report').select(['policy_p', 'policy_sp']).where('external_id', '=', 'd').executeTakeFirstOrThrow();
    await database.db.updateTable('aggregate_report').set({ policy_p: 'none', policy_sp: 'none' }).where('external_id', '=', 'd').execute();
    try {
      const spans = await policyHistory(database.db, orgId, 'example.com', day('2026-01-01'));
      expect(spans.map((s) => [s.p, s.firstDay, s.lastDay, s.reports])).toEqual([
        ['none', '2026-03-01', '2026-03-02', 2],
        ['quarantine', '2026-03-04', '2026-03-04', 1],
        ['none', '2026-03-05', '2026-03-05', 1],
      ]);
    } finally {
      await database.db.updateTable('aggregate_report').set(before).where('external_id', '=', 'd').execute();
    }
  });

  it('finds the subdomains used in From:', async () => {
    const rows = await headerFromDomains(database.db, orgId, 'example.com', period);
    expect(rows).toEqual([
      { headerFrom: 'example.com', messages: 195, pass: 195 },
      { headerFrom: 'news.example.com', messages: 10, pass: 0 },
    ]);
  });

  it('measures forward-confirmed reverse DNS by volume, leaving unchecked addresses unknown', async () => {
    expect(await reverseDnsCoverage(database.db, orgId, 'example.com', period)).toEqual({ messages: 205, confirmed: 195, unconfirmed: 10, unchecked: 0 });
    expect(await reverseDnsCoverage(database.db, orgId, 'nothing.example', period)).toEqual({ messages: 0, confirmed: 0, unconfirmed: 0, unchecked: 0 });
  });
});

describe('bulk-sender checklist', () => {
  const policy = { domain: 'example.com', p: 'quarantine', sp: null, pct: 100, adkim: 'r', aspf: 'r', seenAt: new Date() };
  const rdnsGood = { messages: 1000, confirmed: 1000, unconfirmed: 0, unchecked: 0 };

  it('is met when nearly all mail is aligned and authenticated', () => {
    const items = bulkSenderChecklist({ messages: 1000, pass: 995, dkimPass: 990, spfPass: 985 }, policy, rdnsGood);
    expect(items.map((i) => i.state)).toEqual(['met', 'met', 'met', 'met', 'met']);
  });

  it('names what is not met, with the numbers', () => {
    const items = bulkSenderChecklist({ messages: 1000, pass: 990, dkimPass: 600, spfPass: 985 }, policy, { messages: 1000, confirmed: 700, unconfirmed: 300, unchecked: 0 });
    expect(items[1]).toMatchObject({ state: 'not_met', evidence: '60.0% of messages passed DKIM aligned.' });
    expect(items[4]!.state).toBe('not_met');
  });

  it('says unknown, never failed, without data', () => {
    const items = bulkSenderChecklist({ messages: 0, pass: 0, dkimPass: 0, spfPass: 0 }, undefined, { messages: 0, confirmed: 0, unconfirmed: 0, unchecked: 0 });
    expect(items.every((i) => i.state === 'unknown')).toBe(true);
  });
});
