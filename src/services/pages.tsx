import { Hono, type Context } from 'hono';
import type { Kysely } from 'kysely';
import { shareOf } from '../analytics/attention.js';
import { roleAllows } from '../auth/roles.js';
import type { DB } from '../db/schema.js';
import type { ServiceEntry } from '../enrich/services.js';
import type { WebEnv } from '../http/env.js';
import { decideSource, ipSortKey, NOTE_MAX, undoSourceDecision } from '../sources/decisions.js';
import { orgServiceEntries } from '../sources/org-services.js';
import { ClassBadge, classText, DecisionForm, DomainTrail, sourcePath } from '../sources/pages.js';
import { PeriodPicker, periodOf } from '../web/components/period-picker.js';
import { StackedBars } from '../web/components/charts.js';
import { DataTable, downloadFormat, sortRows, tableDownload, tableState, type Column } from '../web/components/data-table.js';
import { orgSlugOf, renderOrgPage } from '../web/org-context.js';
import { CATEGORY_WORDS, SERVICE_ID, serviceDefinition } from './definition.js';
import { servicePath, serviceSettingsPath } from './paths.js';
import { ownDecisionOf, SERVICE_SCAN_LIMIT, serviceSummary, type ServiceAddress } from './service-summary.js';
import { classCounts, serviceVerdict } from './verdict.js';
import { FigureCard } from '../web/components/figure-card.js';

type C = Context<WebEnv>;

function count(n: number): string {
  return n.toLocaleString('en');
}

function hostOf(a: ServiceAddress): string {
  const e = a.enrichment;
  if (!e || e.checkedAt === null) return 'not checked yet';
  if (!e.ptrHost) return 'no reverse DNS';
  return e.ptrConfirmed ? e.ptrHost : `${e.ptrHost} (not confirmed)`;
}

function decisionText(a: ServiceAddress): string {
  const own = ownDecisionOf(a);
  if (own) return `${own.decision === 'authorised' ? 'Authorised' : 'Ignored'} (its own decision, which wins)`;
  if (a.decision) return `${a.decision.decision === 'authorised' ? 'Authorised' : 'Ignored'} (the service's decision)`;
  return 'none';
}

function addressColumns(base: string): Column<ServiceAddress>[] {
  return [
    { key: 'ip', label: 'Address', sortable: true, value: (a) => a.ip, sortKey: (a) => ipSortKey(a.ip), render: (a) => <a href={sourcePath(base, a.ip)}><code class="ip">{a.ip}</code></a> },
    { key: 'host', label: 'Host', sortable: true, value: hostOf },
    { key: 'identified', label: 'Identified by', value: (a) => (a.classification.service ?? a.classification.network)?.evidence.map((e) => e.fact).join('; ') ?? '' },
    {
      key: 'classification',
      label: 'Classification',
      sortable: true,
      value: classText,
      render: (a) => <ClassBadge kind={a.classification.kind} ignored={a.decision?.decision === 'ignored'} pending={a.evidence.status === 'pending'} />,
    },
    { key: 'decision', label: 'Decision', sortable: true, value: decisionText },
    { key: 'messages', label: 'Messages', sortable: true, value: (a) => a.messages, render: (a) => count(a.messages), numeric: true },
    { key: 'pass', label: 'DMARC pass', sortable: true, value: (a) => a.dmarcPass, render: (a) => `${count(a.dmarcPass)} (${shareOf(a.dmarcPass, a.messages)})`, numeric: true },
    {
      key: 'domains',
      label: 'Domains',
      value: (a) => a.domains.join(' '),
      render: (a) => (
        <>
          {a.domains.map((d, i) => (
            <>
              {i > 0 ? ', ' : ''}
              <a href={`${base}/domains/${encodeURIComponent(d)}`}>{d}</a>
            </>
          ))}
        </>
      ),
    },
    { key: 'seen', label: 'Seen', sortable: true, value: (a) => `${a.firstDay} – ${a.lastDay}`, sortKey: (a) => a.lastDay },
  ];
}

function CodeList(props: { items: readonly string[] | undefined }) {
  if (!props.items?.length) return <>none</>;
  return (
    <>
      {props.items.map((item, i) => (
        <>
          {i > 0 ? ', ' : ''}
          <code>{item}</code>
        </>
      ))}
    </>
  );
}

function Rules(props: { title: string; entry: ServiceEntry }) {
  const e = props.entry;
  return (
    <>
      <h3>{props.title}</h3>
      <dl class="fields">
        <dt>Reverse DNS (PTR)</dt>
        <dd>
          <CodeList items={e.ptr} />
        </dd>
        <dt>Networks (ASN)</dt>
        <dd>{e.asns?.length ? e.asns.map((n) => `AS${n}`).join(', ') : 'none'}</dd>
        <dt>DKIM signing domains</dt>
        <dd>
          <CodeList items={e.dkim} />
        </dd>
        <dt>Forwards mail</dt>
        <dd>{e.forwards ? 'yes: it forwards mail or runs mailing lists' : 'no'}</dd>
        {e.notes ? (
          <>
            <dt>Notes</dt>
            <dd>{e.notes}</dd>
          </>
        ) : null}
      </dl>
    </>
  );
}

/** The page of one sending service (`/o/:org/services/:id`) and its authorise / ignore form. */
export function servicePages(deps: { db: Kysely<DB>; clock: () => Date }): Hono<WebEnv> {
  const { db } = deps;
  const app = new Hono<WebEnv>();
  const notFound = (c: C) => renderOrgPage(c, db, 'Not found', 'sources', <p>There is no service with this id in the catalogue or in this organisation's own entries.</p>, 404);

  async function render(c: C, id: string, error?: string) {
    const org = c.get('org');
    const base = `/o/${encodeURIComponent(orgSlugOf(c))}`;
    if (!SERVICE_ID.test(id)) return notFound(c);
    const now = deps.clock();
    const { days, period } = periodOf(c, now);
    const summary = await serviceSummary(db, org.orgId, id, period, now);
    if (summary === null) return notFound(c);

    const columns = addressColumns(base);
    const state = tableState(c, columns, { sort: 'messages', dir: 'desc' });
    const rows = sortRows(summary.addresses, columns, state);
    const format = downloadFormat(c);
    if (format) return tableDownload(c, `service-${id}-${period.fromDay}-${period.toDay}`, format, columns, rows);

    const { definition: d, history: h } = summary;
    const verdict = serviceVerdict(summary);
    const overriding = summary.addresses.filter((a) => ownDecisionOf(a) !== null);
    const isAdmin = roleAllows(org.role, 'admin');
    return renderOrgPage(
      c,
      db,
      `Service ${d.name}`,
      'sources',
      <>
        <DomainTrail base={base} domains={h.domains} />
        <h1>Service: {d.name}</h1>
        <p class="muted">
          {d.category ? CATEGORY_WORDS[d.category] : 'No longer defined'} · id <code>{d.id}</code> ·{' '}
          {d.own && d.catalogue ? "your organisation's entry and the built-in catalogue's" : d.own ? "your organisation's own entry" : d.catalogue ? 'from the built-in catalogue' : 'no entry'}
        </p>
        <PeriodPicker c={c} days={days} resetSort />
        <p class={`verdict ${verdict.tone}`} role="status">
          {verdict.text}
        </p>
        <div class="cards">
          <FigureCard figure={count(h.messages)}>messages reported</FigureCard>
          <FigureCard figure={shareOf(h.pass, h.messages)}>passed DMARC</FigureCard>
          <FigureCard figure={count(summary.addresses.length)}>sending addresses</FigureCard>
          <FigureCard figure={count(h.quarantine + h.reject)}>quarantined or rejected</FigureCard>
        </div>
        <DecisionForm c={c} action={`${servicePath(base, id)}/decision`} own={summary.decision} applied={summary.decision} canWrite={roleAllows(org.role, 'write')} error={error} />
        {overriding.length > 0 ? (
          <p>
            {overriding.length === 1 ? 'One address has' : `${count(overriding.length)} addresses have`} a decision of {overriding.length === 1 ? 'its' : 'their'} own, which wins over the
            service's:{' '}
            {overriding.map((a, i) => (
              <>
                {i > 0 ? ', ' : ''}
                <a href={sourcePath(base, a.ip)}>
                  <code class="ip">{a.ip}</code>
                </a>{' '}
                ({ownDecisionOf(a)?.decision === 'authorised' ? 'authorised' : 'ignored'})
              </>
            ))}
            .
          </p>
        ) : null}
        <h2>How it is identified</h2>
        <p class="muted">
          An address is this service when its forward-confirmed reverse-DNS name, its network or the DKIM signatures of its mail match these rules better than any other
          service's (docs/services.md explains the order).
        </p>
        {d.own ? <Rules title="Your organisation's entry" entry={d.own} /> : null}
        {d.catalogue ? <Rules title={d.own ? 'The built-in catalogue’s entry (yours wins ties)' : 'The built-in catalogue’s entry'} entry={d.catalogue} /> : null}
        {isAdmin ? (
          <p>
            {d.own ? <a href={serviceSettingsPath(base, d.id)}>Edit your entry</a> : <a href={serviceSettingsPath(base)}>Add your own service entries</a>}
          </p>
        ) : null}
        <h2>History</h2>
        <StackedBars
          id="service-daily"
          title={`Messages from ${d.name} per day, last ${days} days`}
          unit="messages"
          labels={h.days.map((x) => x.day.slice(5))}
          series={[
            { key: 'pass', label: 'Passed DMARC', values: h.days.map((x) => x.pass) },
            { key: 'fail', label: 'Failed DMARC', values: h.days.map((x) => x.messages - x.pass) },
          ]}
        />
        <h2>Its sending addresses</h2>
        {summary.addresses.length > 0 ? <p class="muted">{classCounts(summary)}.</p> : null}
        {summary.truncated ? (
          <p class="muted">This period had more than {count(SERVICE_SCAN_LIMIT)} sending addresses; only the largest {count(SERVICE_SCAN_LIMIT)} were looked at.</p>
        ) : null}
        <DataTable
          c={c}
          caption={`Addresses identified as ${d.name}, last ${days} days`}
          columns={columns}
          rows={rows}
          state={state}
          nextCursor={null}
          empty={<p>No address sending as your domains was identified as this service in this period.</p>}
        />
      </>,
      error ? 400 : 200,
    );
  }

  app.get('/o/:org/services/:id', (c) => render(c, c.req.param('id')));

  app.post('/o/:org/services/:id/decision', async (c) => {
    const org = c.get('org');
    const id = c.req.param('id');
    if (!roleAllows(org.role, 'write')) return renderOrgPage(c, db, 'Not allowed', 'sources', <p>Viewers cannot change decisions about services.</p>, 403);
    if (!SERVICE_ID.test(id)) return notFound(c);
    const form = await c.req.parseBody();
    const decision = typeof form.decision === 'string' ? form.decision : '';
    const note = typeof form.note === 'string' ? form.note : '';
    const caller = c.get('caller');
    const change = { orgId: org.orgId, actor: caller.kind === 'user' ? { type: 'user' as const, id: caller.userId } : { type: 'system' as const }, ip: c.get('client').ip, now: deps.clock() };
    const subject = { type: 'service' as const, value: id };
    if (decision === 'undo') {
      await undoSourceDecision(db, change, subject);
    } else {
      if (serviceDefinition(id, await orgServiceEntries(db, org.orgId)) === null) return notFound(c);
      if (note.length > NOTE_MAX) return render(c, id, `The note is too long: at most ${NOTE_MAX} characters.`);
      if (decision !== 'authorised' && decision !== 'ignored') return render(c, id, 'Choose Authorise, Ignore or Undo.');
      await decideSource(db, change, subject, decision, note);
    }
    return c.redirect(servicePath(`/o/${encodeURIComponent(orgSlugOf(c))}`, id), 303);
  });

  return app;
}
