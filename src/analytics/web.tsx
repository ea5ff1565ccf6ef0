import { Hono, type Context } from 'hono';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { WebEnv } from '../http/env.js';
import { domainSources, groupByService } from '../sources/classify-sources.js';
import { serviceGroupColumns, ServiceGroups, sourceViewColumns } from '../sources/pages.js';
import { Sparkline, StackedBars } from '../web/components/charts.js';
import { DataTable, downloadFormat, downloadTable, orderWords, sortRows, tableDownload, tableState, type Column } from '../web/components/data-table.js';
import { orgSlugOf, renderOrgPage } from '../web/org-context.js';
import { domainFindings, percent, worst, type Finding } from './attention.js';
import { bulkSenderChecklist } from './bulk-sender.js';
import { domainDaily } from './domain-daily.js';
import { domainReporters } from './domain-reporters.js';
import {
  BulkSenderChecklist,
  HeaderFromTable,
  POLICY_DEFAULT,
  policyColumns,
  PolicyHistory,
  REPORTERS_DEFAULT,
  reporterColumns,
  Reporters,
  SUBDOMAINS_DEFAULT,
  subdomainColumns,
  type TableDefault,
} from './domain-sections.js';
import { headerFromDomains } from './header-from-domains.js';
import { policyHistory } from './policy-history.js';
import { reverseDnsCoverage } from './reverse-dns-coverage.js';
import { domainOverview, rate, type DomainOverview } from './domain-overview.js';
import { lastDays } from './period.js';
import { latestPublishedPolicies, type PublishedPolicy } from './published-policy.js';
import { FigureCard } from '../web/components/figure-card.js';
import { PeriodPicker, periodOf } from '../web/components/period-picker.js';

/** Sources a domain page shows (its downloads hold them all). */
const PAGE_SOURCES = 50;
/** Policy spans a domain page shows, in the table's order (its download holds them all). */
const PAGE_POLICY_SPANS = 50;
/** Most rows a CSV/JSON download of a table holds. */
const DOWNLOAD_LIMIT = 10_000;

function Findings(props: { findings: Finding[] }) {
  return (
    <ul class="attention">
      {props.findings.map((f) => (
        <li class={`finding-${f.severity}`}>{f.text}</li>
      ))}
    </ul>
  );
}

function change(domain: DomainOverview): string {
  if (domain.passRate === null || domain.previous.passRate === null) return 'no earlier data';
  const points = (domain.passRate - domain.previous.passRate) * 100;
  if (Math.abs(points) < 0.05) return 'no change';
  return `${points > 0 ? '+' : '−'}${Math.abs(points).toFixed(1)} pts`;
}

function policyText(policy: PublishedPolicy | undefined): string {
  if (!policy?.p) return 'unknown';
  return `p=${policy.p}${policy.pct !== null && policy.pct !== 100 ? ` pct=${policy.pct}` : ''}`;
}

function overviewColumns(base: string, policies: Map<string, PublishedPolicy>): Column<DomainOverview>[] {
  return [
    { key: 'domain', label: 'Domain', sortable: true, value: (d) => d.domain, render: (d) => <a href={`${base}/domains/${encodeURIComponent(d.domain)}`}>{d.domain}</a> },
    { key: 'messages', label: 'Messages', sortable: true, value: (d) => d.messages, render: (d) => d.messages.toLocaleString('en'), numeric: true },
    { key: 'passRate', label: 'DMARC pass', sortable: true, value: (d) => (d.passRate === null ? null : Number((d.passRate * 100).toFixed(2))), render: (d) => percent(d.passRate), numeric: true },
    {
      key: 'trend',
      label: 'Trend',
      value: (d) => change(d),
      render: (d) => (
        <>
          <Sparkline values={d.daily.map((day) => rate(day.pass, day.messages))} max={1} label={`Daily pass rate of ${d.domain}`} /> <span class="muted">{change(d)}</span>
        </>
      ),
    },
    { key: 'policy', label: 'Policy', value: (d) => policyText(policies.get(d.domain)) },
    { key: 'attention', label: 'What needs attention', value: (d) => domainFindings(d, policies.get(d.domain)).map((f) => f.text).join(' '), render: (d) => <Findings findings={domainFindings(d, policies.get(d.domain))} /> },
  ];
}

const SOURCES_DEFAULT: TableDefault = { sort: 'messages', dir: 'desc', words: 'by volume' };
const SERVICES_DEFAULT: TableDefault = { sort: 'messages', dir: 'desc', words: 'largest first' };

/**
 * The tables of a domain page, their columns and the orders asked for. Each is named but the
 * sources table, which keeps the plain `sort` and `format` keys its links have always had.
 */
function domainTables(c: Context<WebEnv>, base: string) {
  const table = <Row,>(columns: Column<Row>[], defaults: TableDefault, name?: string) => ({ columns, state: tableState(c, columns, defaults, name === undefined ? {} : { name }) });
  return {
    sources: table(sourceViewColumns(base), SOURCES_DEFAULT),
    services: table(serviceGroupColumns(base), SERVICES_DEFAULT, 'services'),
    subdomains: table(subdomainColumns(), SUBDOMAINS_DEFAULT, 'subdomains'),
    reporters: table(reporterColumns(), REPORTERS_DEFAULT, 'reporters'),
    policy: table(policyColumns(), POLICY_DEFAULT, 'policy'),
  };
}

/** Overview and domain pages: the questions "who sends as my domain, and does it pass?". */
export function analyticsPages(deps: { db: Kysely<DB>; clock: () => Date }): Hono<WebEnv> {
  const { db } = deps;
  const app = new Hono<WebEnv>();

  app.get('/o/:org', async (c) => {
    const org = c.get('org');
    const { days, period } = periodOf(c, deps.clock());
    const domains = await domainOverview(db, org.orgId, period);
    const policies = await latestPublishedPolicies(db, org.orgId, domains.map((d) => d.domain));
    const base = `/o/${encodeURIComponent(orgSlugOf(c))}`;
    const columns = overviewColumns(base, policies);
    const state = tableState(c, columns, { sort: 'messages', dir: 'desc' });
    const rows = sortRows(domains, columns, state);
    const format = downloadFormat(c);
    if (format) return tableDownload(c, `overview-${period.fromDay}-${period.toDay}`, format, columns, rows);

    const messages = domains.reduce((sum, d) => sum + d.messages, 0);
    const pass = domains.reduce((sum, d) => sum + d.pass, 0);
    const perDomain = domains.map((d) => ({ domain: d, severity: worst(domainFindings(d, policies.get(d.domain))) }));
    const bad = perDomain.filter((d) => d.severity === 'bad');
    const warn = perDomain.filter((d) => d.severity === 'warn');
    const verdict =
      messages === 0
        ? { tone: 'warn', text: `No DMARC reports in the last ${days} days. Connect the mailbox that receives your rua= reports, or upload reports.` }
        : bad.length > 0
          ? { tone: 'bad', text: `${bad.length} domain${bad.length === 1 ? ' needs' : 's need'} attention: ${bad.map((d) => d.domain.domain).join(', ')}. ${percent(rate(pass, messages))} of ${messages.toLocaleString('en')} messages passed DMARC overall.` }
          : warn.length > 0
            ? { tone: 'warn', text: `Mostly fine: ${percent(rate(pass, messages))} of ${messages.toLocaleString('en')} messages passed DMARC. ${warn.length} domain${warn.length === 1 ? ' has' : 's have'} something to look at below.` }
            : { tone: 'good', text: `All good: ${percent(rate(pass, messages))} of ${messages.toLocaleString('en')} messages passed DMARC in the last ${days} days.` };

    return renderOrgPage(
      c,
      db,
      'Overview',
      'overview',
      <>
        <h1>Overview</h1>
        <PeriodPicker c={c} days={days} />
        <p class={`verdict ${verdict.tone}`} role="status">
          {verdict.text}
        </p>
        <DataTable
          c={c}
          caption={`Domains, last ${days} days`}
          columns={columns}
          rows={rows}
          state={state}
          nextCursor={null}
          empty={
            <>
              <h2>No data yet</h2>
              <p>DMARC Watch shows what receivers report about mail sent as your domains. To get the first reports:</p>
              <ol>
                <li>
                  <a href={`${base}/domains`}>Add your domains</a> (and, if you like, prove you own them with a DNS record).
                </li>
                <li>
                  Publish a DMARC record with <code>rua=mailto:</code> an address you control (for example <code>v=DMARC1; p=none; rua=mailto:dmarc@yourdomain</code>).
                </li>
                <li>
                  <a href={`${base}/mailboxes`}>Connect that mailbox</a>, or <a href={`${base}/upload`}>upload reports</a> you already have.
                </li>
              </ol>
              <p class="muted">Receivers send reports once a day, so the first ones arrive within about 24 hours.</p>
            </>
          }
        />
      </>,
    );
  });

  app.get('/o/:org/domains/:domain', async (c) => {
    const org = c.get('org');
    const domain = (c.req.param('domain') ?? '').toLowerCase();
    const { days, period } = periodOf(c, deps.clock());
    const base = `/o/${encodeURIComponent(orgSlugOf(c))}`;
    const tables = domainTables(c, base);
    const policySince = lastDays(deps.clock(), 365).fromDay;
    const format = downloadFormat(c);
    if (format) {
      // Each download reads only its own table, the sources (and their groups) all of them rather than the page's 50.
      const table = downloadTable(c);
      const file = (name: string, fromDay = period.fromDay) => `${name}-${domain}-${fromDay}-${period.toDay}`;
      if (table === null || table === 'services') {
        const { views } = await domainSources(db, org.orgId, { ...period, domain }, DOWNLOAD_LIMIT, deps.clock());
        if (table === null) return tableDownload(c, file('sources'), format, tables.sources.columns, sortRows(views, tables.sources.columns, tables.sources.state));
        return tableDownload(c, file('services'), format, tables.services.columns, sortRows(groupByService(views), tables.services.columns, tables.services.state));
      }
      if (table === 'subdomains') {
        const { columns, state } = tables.subdomains;
        return tableDownload(c, file('subdomains'), format, columns, sortRows(await headerFromDomains(db, org.orgId, domain, period), columns, state));
      }
      if (table === 'reporters') {
        const { columns, state } = tables.reporters;
        return tableDownload(c, file('reporters'), format, columns, sortRows(await domainReporters(db, org.orgId, domain, period), columns, state));
      }
      if (table === 'policy') {
        const { columns, state } = tables.policy;
        return tableDownload(c, file('policy', policySince), format, columns, sortRows(await policyHistory(db, org.orgId, domain, new Date(`${policySince}T00:00:00Z`)), columns, state));
      }
      return c.notFound();
    }
    const [{ views, more: moreSources }, dailyRows, policies, reporters, spans, fromDomains, rdns] = await Promise.all([
      // First, so that the statements waiting for its sources start as early as they can.
      domainSources(db, org.orgId, { ...period, domain }, PAGE_SOURCES, deps.clock()),
      domainDaily(db, org.orgId, domain, period),
      latestPublishedPolicies(db, org.orgId, [domain]),
      domainReporters(db, org.orgId, domain, period),
      policyHistory(db, org.orgId, domain, new Date(`${policySince}T00:00:00Z`)),
      headerFromDomains(db, org.orgId, domain, period),
      reverseDnsCoverage(db, org.orgId, domain, period),
    ]);
    const totals = dailyRows.reduce(
      (t, d) => ({ messages: t.messages + d.messages, pass: t.pass + d.pass, dkim: t.dkim + d.dkimPass, spf: t.spf + d.spfPass, quarantine: t.quarantine + d.quarantine, reject: t.reject + d.reject }),
      { messages: 0, pass: 0, dkim: 0, spf: 0, quarantine: 0, reject: 0 },
    );
    const policy = policies.get(domain);
    if (totals.messages === 0 && !policy) {
      return renderOrgPage(c, db, domain, 'overview', <NoDataForDomain domain={domain} base={base} />, 404);
    }
    return renderOrgPage(
      c,
      db,
      domain,
      'overview',
      <>
        <p>
          <a href={base}>Overview</a> ›
        </p>
        <h1>{domain}</h1>
        <PeriodPicker c={c} days={days} />
        <div class="cards">
          <FigureCard figure={totals.messages.toLocaleString('en')}>messages reported</FigureCard>
          <FigureCard figure={percent(rate(totals.pass, totals.messages))}>passed DMARC</FigureCard>
          <FigureCard figure={percent(rate(totals.dkim, totals.messages))}>DKIM aligned and passing</FigureCard>
          <FigureCard figure={percent(rate(totals.spf, totals.messages))}>SPF aligned and passing</FigureCard>
          <FigureCard figure={(totals.quarantine + totals.reject).toLocaleString('en')}>quarantined or rejected</FigureCard>
          <FigureCard figure={policyText(policy)}>published policy{policy ? `, adkim=${policy.adkim ?? 'r'} aspf=${policy.aspf ?? 'r'}` : ''}</FigureCard>
        </div>
        <StackedBars
          id="dmarc-daily"
          title={`DMARC results per day, last ${days} days`}
          unit="messages"
          labels={dailyRows.map((d) => d.day.slice(5))}
          series={[
            { key: 'pass', label: 'Passed DMARC', values: dailyRows.map((d) => d.pass) },
            { key: 'fail', label: 'Failed DMARC', values: dailyRows.map((d) => d.messages - d.pass) },
          ]}
        />
        <h2>Who sends as {domain}</h2>
        <ServiceGroups
          c={c}
          groups={sortRows(groupByService(views), tables.services.columns, tables.services.state)}
          base={base}
          caption={`Sources grouped by service, ${orderWords(tables.services.columns, tables.services.state, SERVICES_DEFAULT)}, last ${days} days`}
          state={tables.services.state}
        />
        <DataTable
          c={c}
          caption={`Sending sources, ${orderWords(tables.sources.columns, tables.sources.state, SOURCES_DEFAULT)}, last ${days} days`}
          columns={tables.sources.columns}
          rows={sortRows(views, tables.sources.columns, tables.sources.state)}
          state={tables.sources.state}
          nextCursor={null}
          empty={<p>No mail from this domain was reported in this period. Choose a longer period above.</p>}
        />
        {moreSources ? <p class="muted">The {PAGE_SOURCES} largest sources are shown, here and in the groups above; the downloads hold all of them.</p> : null}
        <BulkSenderChecklist items={bulkSenderChecklist({ messages: totals.messages, pass: totals.pass, dkimPass: totals.dkim, spfPass: totals.spf }, policy, rdns)} />
        <HeaderFromTable c={c} domain={domain} rows={sortRows(fromDomains, tables.subdomains.columns, tables.subdomains.state)} state={tables.subdomains.state} />
        <Reporters c={c} rows={sortRows(reporters, tables.reporters.columns, tables.reporters.state)} state={tables.reporters.state} />
        <PolicyHistory c={c} rows={sortRows(spans, tables.policy.columns, tables.policy.state).slice(0, PAGE_POLICY_SPANS)} total={spans.length} state={tables.policy.state} />
      </>,
    );
  });

  return app;
}

function NoDataForDomain(props: { domain: string; base: string }) {
  return (
    <>
      <h1>{props.domain}</h1>
      <div class="empty-state">
        <p>No reports for {props.domain} yet. Reports name the domain in their DMARC policy; check that its DMARC record has a <code>rua=</code> address you read.</p>
        <p>
          <a href={props.base}>Back to the overview</a>
        </p>
      </div>
    </>
  );
}
