import { afterAll, beforeAll, expect, it } from 'vitest';
import { domainDaily } from '../../src/analytics/domain-daily.js';
import { domainOverview } from '../../src/analytics/domain-overview.js';
import { lastDays } from '../../src/analytics/period.js';
import { latestPublishedPolicies } from '../../src/analytics/published-policy.js';
import { defaultOrgId } from '../../src/orgs/default-org.js';
import { storeReports } from '../helpers/aggregate-xml.js';
import { describeEachBackend, openTestDatabase, type TestDatabase } from '../helpers/db.js';

const day = (text: string) => new Date(`${text}T00:00:00Z`);

describeEachBackend('domain analytics from the daily rollups', (backend) => {
  let database: TestDatabase;
  let orgId: number;
  let otherOrg: number;
  beforeAll(async () => {
    database = await openTestDatabase(backend);
    orgId = await defaultOrgId(database.db);
    otherOrg = (await database.db.insertInto('organization').values({ slug: 'other', name: 'Other' }).returning('id').executeTakeFirstOrThrow()).id;
    await storeReports(database.db, orgId, [
      // Previous period (March 1–7 is the period; Feb 22–28 the one before).
      { domain: 'example.com', reportId: 'old-1', begin: day('2026-02-25'), p: 'none', records: [{ ip: '192.0.2.1', count: 10, dkim: 'fail', spf: 'fail' }] },
      { domain: 'example.com', reportId: 'r1', begin: day('2026-03-02'), p: 'quarantine', records: [
        { ip: '192.0.2.1', count: 90, dkim: 'pass', spf: 'pass' },
        { ip: '198.51.100.9', count: 6, dkim: 'fail', spf: 'fail', disposition: 'quarantine' },
        { ip: '203.0.113.4', count: 4, dkim: 'pass', spf: 'fail' },
      ] },
      { domain: 'example.com', reporter: 'Yahoo', reportId: 'r2', begin: day('2026-03-05'), p: 'reject', records: [{ ip: '192.0.2.1', count: 50, dkim: 'fail', spf: 'pass' }] },
      { domain: 'quiet.example', reportId: 'r3', begin: day('2026-03-03'), records: [{ ip: '192.0.2.77', count: 2, dkim: 'fail', spf: 'fail', disposition: 'reject' }] },
    ]);
    await storeReports(database.db, otherOrg, [{ domain: 'example.com', reportId: 'other-1', begin: day('2026-03-02'), records: [{ ip: '192.0.2.1', count: 1000, dkim: 'fail', spf: 'fail' }] }]);
  }, 60_000);
  afterAll(() => database.close());

  const period = lastDays(new Date('2026-03-07T15:00:00Z'), 7);

  it('sums volume and DMARC pass per domain, with the period before for comparison', async () => {
    const overview = await domainOverview(database.db, orgId, period);
    expect(overview.map((d) => d.domain)).toEqual(['example.com', 'quiet.example']);
    const [example, quiet] = overview;
    expect(example).toMatchObject({ messages: 150, pass: 144, previous: { messages: 10, passRate: 0 } });
    expect(example!.passRate).toBeCloseTo(144 / 150, 10);
    expect(quiet).toMatchObject({ messages: 2, pass: 0, passRate: 0, previous: { messages: 0, passRate: null } });
    // A zero-filled series, one entry per day of the period.
    expect(example!.daily.map((d) => d.messages)).toEqual([0, 100, 0, 0, 50, 0, 0]);
    expect(example!.daily[0]!.day).toBe('2026-03-01');
  });

  it('is empty for an organisation without reports in the period, and never mixes organisations', async () => {
    const empty = await database.db.insertInto('organization').values({ slug: 'empty', name: 'Empty' }).returning('id').executeTakeFirstOrThrow();
    expect(await domainOverview(database.db, empty.id, period)).toEqual([]);
    const other = await domainOverview(database.db, otherOrg, period);
    expect(other.map((d) => d.messages)).toEqual([1000]);
  });

  it('splits one domain by day into DKIM, SPF and dispositions', async () => {
    const days = await domainDaily(database.db, orgId, 'example.com', period);
    expect(days).toHaveLength(7);
    expect(days[1]).toEqual({ day: '2026-03-02', messages: 100, pass: 94, bothPass: 90, dkimPass: 94, spfPass: 90, quarantine: 6, reject: 0 });
    expect(days[4]).toMatchObject({ day: '2026-03-05', messages: 50, pass: 50, dkimPass: 0, spfPass: 50 });
  });

  it('reads the newest published policy of each domain', async () => {
    const policies = await latestPublishedPolicies(database.db, orgId);
    expect(policies.get('example.com')).toMatchObject({ p: 'reject', pct: 100, adkim: 'r' });
    expect(policies.get('quiet.example')?.p).toBe('none');
    expect((await latestPublishedPolicies(database.db, orgId, ['quiet.example'])).size).toBe(1);
  });
});
