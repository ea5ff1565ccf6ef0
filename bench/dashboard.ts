import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { sql, type Kysely } from 'kysely';
import { domainDaily } from '../src/analytics/domain-daily.js';
import { domainOverview } from '../src/analytics/domain-overview.js';
import { lastDays } from '../src/analytics/period.js';
import { latestPublishedPolicies } from '../src/analytics/published-policy.js';
import { createApp } from '../src/app.js';
import { createSession, sessionCookie } from '../src/auth/sessions.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import type { DB } from '../src/db/schema.js';
import { createKeyring, initCrypto } from '../src/lib/crypto/index.js';
import { silentLogger } from '../src/lib/logger.js';
import { createMailer } from '../src/mail/mailer.js';
import { sourcesByIp } from '../src/reports/queries/sources.js';
import { refreshSourceEvidence } from '../src/sources/evidence-job.js';
import { scratchDatabase } from './ingest.js';

const DOMAINS = 50;
const DAYS = 365;
const REPORTERS = ['google.com', 'Outlook.com', 'Yahoo', 'Mail.Ru'];

export interface Timing {
  label: string;
  p50Ms: number;
  p95Ms: number;
}

export interface DashboardFigures {
  records: number;
  rollupRows: number;
  generateSeconds: number;
  /** The evidence job's first pass over every domain (src/sources/evidence-job.ts). */
  evidenceSeconds: number;
  evidenceRows: number;
  /** Load average (1, 5, 15 minutes) when the pages were measured: the machine may be shared. */
  loadAverage: number[];
  queries: Timing[];
  pages: Timing[];
  fromRawRecords: Timing[];
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

async function time(label: string, runs: number, fn: (i: number) => Promise<unknown>): Promise<Timing> {
  await fn(0); // warm-up: plans, caches, JIT
  const samples: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const started = performance.now();
    await fn(i + 1);
    samples.push(performance.now() - started);
  }
  return { label, p50Ms: percentile(samples, 50), p95Ms: percentile(samples, 95) };
}

/**
 * `records` aggregate records across 50 domains × 365 days × 4 reporters, written with SQL
 * (faster than parsing that many reports; the ingest benchmark measures the parser), and the daily
 * rollups built from them exactly as the store step would.
 */
export async function generate(db: Kysely<DB>, orgId: number, records: number): Promise<number> {
  const reports = DOMAINS * DAYS * REPORTERS.length;
  const perReport = Math.max(1, Math.round(records / reports));
  await sql`
    insert into raw_document (org_id, sha256, format, size_bytes, outcome)
    select ${orgId}, sha256(int8send(g)), 'xml', 0, 'stored' from generate_series(1, ${reports}::int) g`.execute(db);
  await sql`
    insert into aggregate_report (org_id, document_id, reporter_org, reporter_key, external_id, policy_domain, begin_at, end_at,
                                  adkim, aspf, policy_p, policy_sp, policy_pct, record_count, message_count)
    select ${orgId}, d.id, (${REPORTERS}::text[])[1 + (g / ${DOMAINS * DAYS})], lower((${REPORTERS}::text[])[1 + (g / ${DOMAINS * DAYS})]),
           'bench-' || g, 'domain' || (g % ${DOMAINS}) || '.example',
           date_trunc('day', now()) - make_interval(days => 1 + (g / ${DOMAINS}) % ${DAYS}),
           date_trunc('day', now()) - make_interval(days => (g / ${DOMAINS}) % ${DAYS}) - interval '1 second',
           'r', 'r', (array['none', 'quarantine', 'reject'])[1 + (g % 3)], 'none', 100, ${perReport}, 0
    from generate_series(0, ${reports - 1}::int) g
    join raw_document d on d.sha256 = sha256(int8send(g + 1)) and d.org_id = ${orgId}`.execute(db);
  // Per domain a pool of 200 sending addresses; most pass, some fail one check, a few fail both.
  await sql`
    insert into aggregate_record (report_id, ordinal, org_id, source_ip, message_count, disposition, dkim_eval, spf_eval, header_from)
    select r.id, o, ${orgId},
           '198.18.0.0'::inet + ((hashtext(r.policy_domain) & 255) * 256 + (o * 7 + r.id) % 200),
           1 + ((r.id * 31 + o * 17) % 50),
           case when o % 10 >= 8 and o % 7 = 0 then 'quarantine' else 'none' end,
           case when o % 10 < 8 then 'pass' else 'fail' end,
           case when o % 7 = 0 then 'fail' else 'pass' end,
           r.policy_domain
    -- lateral: each report's records are written together, as the store writes them
    from aggregate_report r cross join lateral generate_series(1, ${perReport}::int) o
    where r.org_id = ${orgId}`.execute(db);
  // Auth results as reporters write them: one DKIM signature and one SPF check per record (the
  // domain's own when it passed, a sending service's otherwise), and an ARC or forwarding reason
  // on about one record in a hundred.
  await sql`
    insert into aggregate_record_dkim (report_id, record_ordinal, ordinal, org_id, domain, selector, result)
    select report_id, ordinal, 0, org_id,
           case when dkim_eval = 'pass' then header_from else 'mailer' || (ordinal % 7) || '.example.net' end,
           's' || (ordinal % 3), case when dkim_eval = 'pass' or ordinal % 3 = 0 then 'pass' else 'fail' end
    from aggregate_record where org_id = ${orgId}`.execute(db);
  await sql`
    insert into aggregate_record_spf (report_id, record_ordinal, ordinal, org_id, domain, scope, result)
    select report_id, ordinal, 0, org_id,
           case when spf_eval = 'pass' then header_from else 'bounce' || (ordinal % 5) || '.example.net' end,
           'mfrom', case when spf_eval = 'pass' then 'pass' else (array['softfail', 'fail', 'pass'])[1 + ordinal % 3] end
    from aggregate_record where org_id = ${orgId}`.execute(db);
  await sql`
    insert into aggregate_record_reason (report_id, record_ordinal, ordinal, org_id, type, comment)
    select report_id, ordinal, 0, org_id,
           case when ordinal % 2 = 0 then 'local_policy' else 'forwarded' end,
           case when ordinal % 2 = 0 then 'arc=pass as[1].google.com=pass' end
    from aggregate_record where org_id = ${orgId} and dkim_eval = 'fail' and (report_id + ordinal) % 100 = 0`.execute(db);
  await sql`
    insert into aggregate_daily_folded (org_id, policy_domain, day, header_from, source_ip, disposition, dkim_eval, spf_eval, messages)
    select r.org_id, r.policy_domain, r.begin_at::date, rec.header_from, rec.source_ip, rec.disposition, rec.dkim_eval, rec.spf_eval, sum(rec.message_count)
    from aggregate_record rec join aggregate_report r on r.id = rec.report_id
    where r.org_id = ${orgId}
    group by 1, 2, 3, 4, 5, 6, 7, 8`.execute(db);
  await sql`
    insert into aggregate_domain_daily_folded (org_id, policy_domain, day, messages, dmarc_pass, dkim_pass, spf_pass, both_pass, quarantine, reject)
    select org_id, policy_domain, day, sum(messages),
           coalesce(sum(messages) filter (where dkim_eval = 'pass' or spf_eval = 'pass'), 0),
           coalesce(sum(messages) filter (where dkim_eval = 'pass'), 0),
           coalesce(sum(messages) filter (where spf_eval = 'pass'), 0),
           coalesce(sum(messages) filter (where dkim_eval = 'pass' and spf_eval = 'pass'), 0),
           coalesce(sum(messages) filter (where disposition = 'quarantine'), 0),
           coalesce(sum(messages) filter (where disposition = 'reject'), 0)
    from aggregate_daily_folded where org_id = ${orgId} group by 1, 2, 3`.execute(db);
  // As autovacuum would have by then: index-only scans need the visibility map.
  await sql`vacuum analyze`.execute(db);
  return reports * perReport;
}

/**
 * Dashboard queries and pages over 10 million records on PostgreSQL: each rollup query and the
 * overview and domain pages (server time, through the whole app), with the same aggregates
 * computed from the raw record rows beside them.
 */
export async function benchDashboard(options: { records?: number; runs?: number } = {}): Promise<DashboardFigures> {
  const records = options.records ?? 10_000_000;
  const runs = options.runs ?? 40;
  await initCrypto();
  const scratch = await scratchDatabase();
  const database = await openDatabase({ kind: 'postgres', url: scratch.url, poolSize: 4 });
  try {
    const db = database.db;
    await migrateToLatest(db);
    const org = await db.insertInto('organization').values({ slug: 'bench', name: 'Bench' }).returning('id').executeTakeFirstOrThrow();
    let started = performance.now();
    const generated = await generate(db, org.id, records);
    const generateSeconds = (performance.now() - started) / 1000;
    const rollupRows = Number((await sql<{ n: number }>`select count(*)::int8 as n from aggregate_daily_folded`.execute(db)).rows[0]?.n ?? 0);
    started = performance.now();
    const evidence = await refreshSourceEvidence({ db, logger: silentLogger }, { maxDomainsPerRun: DOMAINS });
    const evidenceSeconds = (performance.now() - started) / 1000;
    await sql`vacuum analyze source_evidence`.execute(db);
    // Generation leaves gigabytes of dirty pages that the checkpointer would otherwise write out
    // while pages are measured; a server in use is not in the middle of writing 10M new rows.
    await sql`checkpoint`.execute(db).catch(() => undefined);

    const now = new Date();
    const month = lastDays(now, 30);
    const domain = (i: number) => `domain${i % DOMAINS}.example`;
    const queries = [
      await time('overview: every domain, 30 days + previous 30', runs, () => domainOverview(db, org.id, month)),
      await time('domain: daily results, 30 days', runs, (i) => domainDaily(db, org.id, domain(i), month)),
      await time('domain: top sources, 30 days', runs, (i) => sourcesByIp(db, org.id, { ...month, domain: domain(i) }, { limit: 51, after: null })),
      await time('published policy of every domain', runs, () => latestPublishedPolicies(db, org.id)),
      await time('domain: daily results, 365 days', runs, (i) => domainDaily(db, org.id, domain(i), lastDays(now, 365))),
    ];

    const user = await db.insertInto('user_account').values({ email: 'bench@example.com' }).returning('id').executeTakeFirstOrThrow();
    await db.insertInto('membership').values({ org_id: org.id, user_id: user.id, role: 'owner' }).execute();
    const session = await createSession(db, { userId: user.id, ip: null, userAgent: 'bench', now, secondFactorPending: false });
    const publicUrl = 'http://localhost:8080';
    const config = loadConfig({ DATABASE_URL: scratch.url, DMARCWATCH_PUBLIC_URL: publicUrl, DMARCWATCH_KEYS: `b:${randomBytes(32).toString('base64')}`, LOG_LEVEL: 'error' });
    const app = createApp({ database, config, keyring: createKeyring([{ id: 'b', key: randomBytes(32) }]), mailer: createMailer(config, silentLogger), logger: silentLogger });
    const cookie = sessionCookie(publicUrl).serialize(session.token, 60).split(';')[0] as string;
    const page = async (path: string) => {
      const response = await app.request(`${publicUrl}${path}`, { headers: { cookie, accept: 'text/html' } });
      if (response.status !== 200) throw new Error(`${path} answered ${response.status}`);
      await response.text();
    };
    const ips = (await sql<{ ip: string }>`select distinct host(source_ip) as ip from aggregate_daily_folded where org_id = ${org.id} and day >= ${month.fromDay}::date limit ${runs + 1}`.execute(db)).rows.map((r) => r.ip);
    const loadAverage = os.loadavg();
    const pages = [
      await time('overview page', runs, () => page('/o/bench')),
      await time('domain page', runs, (i) => page(`/o/bench/domains/${domain(i)}`)),
      await time('source page', runs, (i) => page(`/o/bench/sources/${ips[i % ips.length]}`)),
    ];

    const start = `${month.fromDay}T00:00:00Z`;
    const fromRawRecords = [
      await time('overview from raw records', 3, () =>
        sql`select r.policy_domain, r.begin_at::date as day, sum(rec.message_count), sum(rec.message_count) filter (where rec.dkim_eval = 'pass' or rec.spf_eval = 'pass')
            from aggregate_record rec join aggregate_report r on r.id = rec.report_id
            where r.org_id = ${org.id} and r.begin_at >= ${start}::timestamptz - interval '30 days'
            group by 1, 2`.execute(db),
      ),
      await time('domain daily from raw records', 3, (i) =>
        sql`select r.begin_at::date as day, sum(rec.message_count), sum(rec.message_count) filter (where rec.dkim_eval = 'pass' or rec.spf_eval = 'pass')
            from aggregate_record rec join aggregate_report r on r.id = rec.report_id
            where r.org_id = ${org.id} and r.policy_domain = ${domain(i)} and r.begin_at >= ${start}::timestamptz
            group by 1`.execute(db),
      ),
    ];
    started = performance.now();
    return { records: generated, rollupRows, generateSeconds, evidenceSeconds, evidenceRows: evidence.sources, loadAverage, queries, pages, fromRawRecords };
  } finally {
    await database.close();
    await scratch.drop();
  }
}
