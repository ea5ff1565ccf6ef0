import { Hono, type Context } from 'hono';
import { percentValue, shareOf } from '../analytics/attention.js';
import type { Kysely } from 'kysely';
import { roleAllows } from '../auth/roles.js';
import type { DB } from '../db/schema.js';
import { SOURCE_CLASS_LABELS, type SourceClass } from '../enrich/classify.js';
import type { IpEnrichmentView } from '../enrich/ip-cache.js';
import type { WebEnv } from '../http/env.js';
import { StackedBars } from '../web/components/charts.js';
import { DataTable, downloadFormat, sortRows, tableDownload, tableState, type Column, type TableState } from '../web/components/data-table.js';
import { servicePath } from '../services/paths.js';
import { CsrfField } from '../web/layout.js';
import { orgSlugOf, renderOrgPage, requireOrgMember } from '../web/org-context.js';
import type { ServiceGroup, SourceView } from './classify-sources.js';
import { EVIDENCE_WINDOW_DAYS } from './evidence.js';
import { decideSource, decisionsOf, NOTE_MAX, normaliseIp, subjectKey, undoSourceDecision, type SourceDecision } from './decisions.js';
import { sourceDetail, type SourceRecordView, type SourceReport } from './source-detail.js';
import { FigureCard } from '../web/components/figure-card.js';
import { PeriodPicker, periodOf } from '../web/components/period-picker.js';

function count(n: number): string {
  return n.toLocaleString('en');
}

/** A source's class as a badge; "ignored" added when a member said so; "being analysed" while its records wait for the evidence job. */
export function ClassBadge(props: { kind: SourceClass; ignored?: boolean; pending?: boolean }) {
  return (
    <>
      {props.pending && props.kind !== 'authorised' ? <span class="badge class-pending">Being analysed</span> : <span class={`badge class-${props.kind}`}>{SOURCE_CLASS_LABELS[props.kind]}</span>}
      {props.ignored ? <span class="badge class-ignored">Ignored</span> : null}
    </>
  );
}

/** The classification as the badge words it. */
export function classText(s: SourceView): string {
  const kind = s.evidence.status === 'pending' && s.classification.kind !== 'authorised' ? 'Being analysed' : SOURCE_CLASS_LABELS[s.classification.kind];
  return `${kind}${s.decision?.decision === 'ignored' ? ' (ignored)' : ''}`;
}

export function sourcePath(base: string, ip: string): string {
  return `${base}/sources/${encodeURIComponent(ip)}`;
}

function serviceName(view: SourceView): string {
  const match = view.classification.service ?? view.classification.network;
  return match ? match.service.name : 'not identified';
}

/** The service's name, linked to its page when one was identified. */
export function ServiceLink(props: { base: string; view: SourceView }) {
  const match = props.view.classification.service ?? props.view.classification.network;
  return match ? <a href={servicePath(props.base, match.service.id)}>{match.service.name}</a> : <>not identified</>;
}

/** Columns of a domain's sources table (the domain page), with service and classification. */
export function sourceViewColumns(base: string): Column<SourceView>[] {
  return [
    { key: 'ip', label: 'Source IP', sortable: true, value: (s) => s.ip, render: (s) => <a href={sourcePath(base, s.ip)}><code class="ip">{s.ip}</code></a> },
    {
      key: 'host',
      label: 'Host',
      sortable: true,
      value: (s) => hostText(s.enrichment),
      render: (s) => <span class={s.enrichment?.ptrHost && !s.enrichment.ptrConfirmed ? 'muted' : undefined}>{hostText(s.enrichment)}</span>,
    },
    { key: 'service', label: 'Service', sortable: true, value: serviceName, render: (s) => <ServiceLink base={base} view={s} /> },
    {
      key: 'classification',
      label: 'Classification',
      sortable: true,
      value: classText,
      render: (s) => <ClassBadge kind={s.classification.kind} ignored={s.decision?.decision === 'ignored'} pending={s.evidence.status === 'pending'} />,
    },
    { key: 'messages', label: 'Messages', sortable: true, value: (s) => s.messages, render: (s) => count(s.messages), numeric: true },
    { key: 'pass', label: 'DMARC pass', sortable: true, value: (s) => s.dmarcPass, render: (s) => `${count(s.dmarcPass)} (${shareOf(s.dmarcPass, s.messages)})`, numeric: true },
    { key: 'fail', label: 'Fail', sortable: true, value: (s) => s.dmarcFail, render: (s) => count(s.dmarcFail), numeric: true },
    { key: 'quarantine', label: 'Quarantined', sortable: true, value: (s) => s.quarantine, render: (s) => count(s.quarantine), numeric: true },
    { key: 'reject', label: 'Rejected', sortable: true, value: (s) => s.reject, render: (s) => count(s.reject), numeric: true },
    { key: 'seen', label: 'Seen', sortable: true, value: (s) => `${s.firstDay} – ${s.lastDay}` },
  ];
}

function hostText(e: IpEnrichmentView | null): string {
  if (!e || e.checkedAt === null) return 'not checked yet';
  if (!e.ptrHost) return 'no reverse DNS';
  return e.ptrConfirmed ? e.ptrHost : `${e.ptrHost} (not confirmed)`;
}

/** Columns of the "sources grouped by service" table of the domain page. */
export function serviceGroupColumns(base: string): Column<ServiceGroup>[] {
  return [
    { key: 'service', label: 'Service', sortable: true, rowHeader: true, value: (g) => g.label, render: (g) => (g.serviceId === null ? g.label : <a href={servicePath(base, g.serviceId)}>{g.label}</a>) },
    { key: 'category', label: 'Kind', sortable: true, value: (g) => (g.key === 'forwarded' ? 'forwarding' : g.category ?? 'unknown') },
    {
      key: 'sources',
      label: 'Sources',
      value: (g) => g.sources.map((s) => s.ip).join(' '),
      render: (g) => (
        <ul class="source-list">
          {g.sources.slice(0, 5).map((s) => (
            <li>
              <a href={sourcePath(base, s.ip)}>
                <code class="ip">{s.ip}</code>
              </a>{' '}
              <ClassBadge kind={s.classification.kind} ignored={s.decision?.decision === 'ignored'} pending={s.evidence.status === 'pending'} />
            </li>
          ))}
          {g.sources.length > 5 ? <li class="muted">and {g.sources.length - 5} more</li> : null}
        </ul>
      ),
    },
    { key: 'messages', label: 'Messages', sortable: true, value: (g) => g.messages, render: (g) => count(g.messages), numeric: true },
    { key: 'pass', label: 'DMARC pass', sortable: true, value: (g) => percentValue(g.dmarcPass, g.messages), render: (g) => shareOf(g.dmarcPass, g.messages), numeric: true },
  ];
}

/** The "sources grouped by service" table of the domain page, its groups in the order of `state`. */
export function ServiceGroups(props: { c: Context; groups: ServiceGroup[]; base: string; caption: string; state: TableState }) {
  return (
    <>
      <p class="muted">
        Services and classifications come from each source's records of the last {EVIDENCE_WINDOW_DAYS} days, analysed in the background a few minutes after reports arrive;
        volumes are those of the period shown.
      </p>
      <DataTable
        c={props.c}
        caption={props.caption}
        columns={serviceGroupColumns(props.base)}
        rows={props.groups}
        state={props.state}
        nextCursor={null}
        empty={<p>No mail from this domain was reported in this period.</p>}
      />
    </>
  );
}

function verdictOf(view: SourceView | null, decision: SourceDecision | null): { tone: string; text: string } {
  if (!view) return { tone: 'neutral', text: 'This address sent no mail as your domains in this period.' };
  const c = view.classification;
  if (c.kind !== 'authorised' && view.evidence.status === 'pending') {
    return { tone: 'neutral', text: 'Being analysed: its records arrived after the last analysis, which runs in the background every few minutes. Its classification appears here then.' };
  }
  if (c.kind !== 'authorised' && c.kind !== 'known_service' && view.evidence.status === 'outside_window') {
    return { tone: 'neutral', text: `No records in the last ${view.evidence.windowDays} days to judge it by; its older mail is counted above.` };
  }
  const first = c.evidence[0] ?? '';
  const ignored = decision?.decision === 'ignored' ? ' A member marked it as ignored.' : '';
  switch (c.kind) {
    case 'authorised':
      return { tone: 'good', text: `${first}.` };
    case 'forwarder':
      return { tone: 'good', text: `Forwarded mail or a mailing list, not spoofing: ${first}.${ignored}` };
    case 'known_service':
      return {
        tone: view.dmarcFail > 0 ? 'warn' : 'good',
        text: `${c.service?.service.name ?? 'A known service'}. ${view.dmarcFail > 0 ? `${count(view.dmarcFail)} of ${count(view.messages)} messages failed DMARC: if you use this service, set up DKIM signing with your domain there; if not, someone else's account may be sending as you.` : 'All its messages passed DMARC.'}${ignored}`,
      };
    case 'suspicious':
      return { tone: decision?.decision === 'ignored' ? 'neutral' : 'bad', text: `Suspicious: ${first}. If you do not know this sender, it may be spoofing your domain; a DMARC policy of quarantine or reject stops it.${ignored}` };
    default:
      return { tone: 'neutral', text: `Not identified. Nothing names this sender yet, and it has not failed often enough to be suspicious.${ignored}` };
  }
}

function EvidenceNote(props: { view: SourceView }) {
  const e = props.view.evidence;
  if (e.status === 'pending') return <p class="muted">Its records are being analysed; until then only what is known about the address and your decisions count.</p>;
  if (e.status === 'outside_window') return <p class="muted">It has no records in the last {e.windowDays} days, the period classifications are judged on.</p>;
  return (
    <p class="muted">
      From its {count(props.view.records)} records of the last {e.windowDays} days, as analysed at {e.computedAt ? e.computedAt.toISOString().slice(0, 16).replace('T', ' ') + ' UTC' : 'an unknown time'}.
    </p>
  );
}

function EnrichmentFacts(props: { e: IpEnrichmentView | null }) {
  const e = props.e;
  if (!e) return <p class="muted">Not checked yet: reverse DNS and network are looked up in the background within a few minutes of the first report.</p>;
  return (
    <dl class="fields">
      <dt>Reverse DNS</dt>
      <dd>
        {e.checkedAt === null
          ? 'not checked yet'
          : e.ptrHost === null
            ? 'none (the address has no PTR record)'
            : e.ptrConfirmed
              ? `${e.ptrHost} (forward-confirmed: the name resolves back to this address)`
              : `${e.ptrHost} (not confirmed: the name does not resolve back to this address, so it proves nothing)`}
      </dd>
      <dt>Organisational domain</dt>
      <dd>{e.ptrOrgDomain ?? 'unknown'}</dd>
      <dt>Network</dt>
      <dd>{e.asn !== null ? `AS${e.asn}${e.asOrg ? ` ${e.asOrg}` : ''}` : 'unknown'}</dd>
      <dt>Country</dt>
      <dd>{e.country ?? 'unknown'}</dd>
      <dt>Last checked</dt>
      <dd>
        {e.checkedAt ? e.checkedAt.toISOString().slice(0, 16).replace('T', ' ') + ' UTC' : 'never'}
        {e.lastError ? ` — the last check could not finish (${e.lastError}); it is tried again later.` : ''}
      </dd>
    </dl>
  );
}

function recordColumns(base: string): Column<SourceRecordView>[] {
  const results = (list: Array<{ domain: string; result: string }>) => list.map((x) => `${x.domain || '(none)'}: ${x.result}`).join(', ') || 'none';
  return [
    { key: 'report', label: 'Report', value: (r) => `${r.reporter} ${r.reportExternalId}`, render: (r) => <a href={`${base}/reports/aggregate/${r.reportId}`}>{r.reporter}</a> },
    { key: 'end', label: 'Period end', sortable: true, value: (r) => r.endAt.toISOString().slice(0, 10) },
    { key: 'domain', label: 'Header From', value: (r) => r.headerFrom },
    { key: 'messages', label: 'Messages', sortable: true, value: (r) => r.count, render: (r) => count(r.count), numeric: true },
    { key: 'disposition', label: 'Disposition', value: (r) => r.disposition },
    { key: 'dkim', label: 'DKIM', value: (r) => results(r.dkim) },
    { key: 'spf', label: 'SPF', value: (r) => results(r.spf.map((s) => ({ domain: `${s.scope ? `${s.scope} ` : ''}${s.domain}`, result: s.result }))) },
    { key: 'dmarc', label: 'DMARC (recomputed)', value: (r) => (r.dmarcPass ? 'pass' : 'fail') },
    { key: 'reasons', label: 'Reasons', value: (r) => r.reasons.map((x) => `${x.type}${x.comment ? `: ${x.comment}` : ''}`).join('; ') },
    { key: 'disagreement', label: 'Reporter disagrees', value: (r) => r.disagreement ?? '' },
  ];
}

function reportColumns(base: string): Column<SourceReport>[] {
  return [
    { key: 'reporter', label: 'Reporter', value: (r) => r.reporter, render: (r) => <a href={`${base}/reports/aggregate/${r.id}`}>{r.reporter}</a> },
    { key: 'id', label: 'Report id', value: (r) => r.reportId },
    { key: 'domain', label: 'Domain', value: (r) => r.domain },
    { key: 'period', label: 'Period', value: (r) => `${r.beginAt.toISOString().slice(0, 10)} – ${r.endAt.toISOString().slice(0, 10)}` },
    { key: 'messages', label: 'Messages from this source', value: (r) => r.messages, render: (r) => count(r.messages), numeric: true },
  ];
}

/** The service an address was identified as, for the decision section: its page and its own decision. */
export interface DecisionService {
  name: string;
  href: string;
  decision: SourceDecision | null;
}

function decisionWords(d: SourceDecision): string {
  return d.decision === 'authorised' ? 'Authorised' : 'Ignored';
}

/**
 * The decision that applies and, for members, the form that authorises, ignores or undoes one. On
 * an address's page `service` is the service it was identified as: its decision applies unless the
 * address has its own, which wins.
 */
export function DecisionForm(props: {
  c: Context<WebEnv>;
  action: string;
  own: SourceDecision | null;
  applied: SourceDecision | null;
  canWrite: boolean;
  error?: string | undefined;
  service?: DecisionService | null;
}) {
  const { own, applied, service } = props;
  const serviceLink = service ? <a href={service.href}>{service.name}</a> : null;
  return (
    <section aria-labelledby="decision-heading">
      <h2 id="decision-heading">Your decision</h2>
      {applied ? (
        <p>
          {decisionWords(applied)}
          {applied.subject.type === 'service' && own === null ? <> through its service {serviceLink ?? `(${applied.subject.value})`}</> : null} by {applied.decidedBy ?? 'a former member'} on{' '}
          {applied.decidedAt.toISOString().slice(0, 10)}
          {applied.note ? `: “${applied.note}”` : '.'}
        </p>
      ) : (
        <p>No decision yet. Authorise a sender that is yours (its mail then counts as authorised whatever the checks say), or ignore one you know about and do not want to be told about again.</p>
      )}
      {own !== null && own.subject.type === 'ip' && service?.decision ? (
        <p class="muted">
          Its service {serviceLink} is {service.decision.decision === 'authorised' ? 'authorised' : 'ignored'}, but this address's own decision wins over the service's.
        </p>
      ) : own === null && applied?.subject.type === 'service' ? (
        <p class="muted">A decision about this address itself would win over its service's.</p>
      ) : null}
      {props.error ? (
        <p class="error" role="alert">
          {props.error}
        </p>
      ) : null}
      {props.canWrite ? (
        <>
          <form method="post" action={props.action} class="decision-form">
            <CsrfField token={props.c.get('csrfToken')} />
            <label for="decision-note">Note</label>
            <textarea id="decision-note" name="note" rows={2} maxlength={NOTE_MAX} placeholder="For example: our CRM's relay">
              {own?.note ?? ''}
            </textarea>
            <div class="buttons">
              <button type="submit" name="decision" value="authorised">
                Authorise
              </button>
              <button type="submit" name="decision" value="ignored" class="secondary">
                Ignore
              </button>
            </div>
          </form>
          {own ? (
            <form method="post" action={props.action}>
              <CsrfField token={props.c.get('csrfToken')} />
              <button type="submit" name="decision" value="undo" class="secondary">
                Undo the decision
              </button>
            </form>
          ) : null}
        </>
      ) : (
        <p class="muted">Viewers cannot change decisions; ask a member or an admin of the organisation.</p>
      )}
    </section>
  );
}

/** Where the page sits: the overview, then the (up to three) busiest domains it sent for. */
export function DomainTrail(props: { base: string; domains: ReadonlyArray<{ domain: string }> }) {
  return (
    <p>
      <a href={props.base}>Overview</a> ›{' '}
      {props.domains.slice(0, 3).map((d) => (
        <>
          <a href={`${props.base}/domains/${encodeURIComponent(d.domain)}`}>{d.domain}</a>{' '}
        </>
      ))}
    </p>
  );
}

/** The page of one sending address, and the form that authorises or ignores it. */
export function sourcePages(deps: { db: Kysely<DB>; clock: () => Date }): Hono<WebEnv> {
  const { db } = deps;
  const app = new Hono<WebEnv>();
  app.use('/o/:org/sources/*', requireOrgMember(db));

  async function render(c: Context<WebEnv>, ipText: string, error?: string) {
    const org = c.get('org');
    const base = `/o/${encodeURIComponent(orgSlugOf(c))}`;
    const ip = normaliseIp(ipText);
    if (ip === null) return renderOrgPage(c, db, 'Not found', 'sources', <p>That is not an IP address.</p>, 404);
    const now = deps.clock();
    const { days, period } = periodOf(c, now);
    const [detail, decisions] = await Promise.all([sourceDetail(db, org.orgId, ip, period, now), decisionsOf(db, org.orgId)]);
    const own = decisions.get(subjectKey({ type: 'ip', value: ip })) ?? null;
    const view = detail.source;
    const applied = view?.decision ?? own;

    const columns = recordColumns(base);
    const state = tableState(c, columns, { sort: 'end', dir: 'desc' });
    const records = sortRows(detail.records, columns, state);
    const format = downloadFormat(c);
    if (format) return tableDownload(c, `source-${ip}-${period.fromDay}-${period.toDay}`, format, columns, records);

    const verdict = verdictOf(view, applied);
    const h = detail.history;
    const match = view ? (view.classification.service ?? view.classification.network) : null;
    const service = match
      ? { name: match.service.name, href: servicePath(base, match.service.id), decision: decisions.get(subjectKey({ type: 'service', value: match.service.id })) ?? null }
      : null;
    return renderOrgPage(
      c,
      db,
      `Source ${ip}`,
      'sources',
      <>
        <DomainTrail base={base} domains={h.domains} />
        <h1>
          Source <code class="ip">{ip}</code>
        </h1>
        <PeriodPicker c={c} days={days} resetSort />
        <p class={`verdict ${verdict.tone}`} role="status">
          {view ? <ClassBadge kind={view.classification.kind} ignored={applied?.decision === 'ignored'} pending={view.evidence.status === 'pending'} /> : null} {verdict.text}
        </p>
        <div class="cards">
          <FigureCard figure={count(h.messages)}>messages reported</FigureCard>
          <FigureCard figure={shareOf(h.pass, h.messages)}>passed DMARC</FigureCard>
          <FigureCard figure={count(h.quarantine + h.reject)}>quarantined or rejected</FigureCard>
          <FigureCard figure={view ? <ServiceLink base={base} view={view} /> : 'unknown'}>service</FigureCard>
        </div>
        <DecisionForm c={c} action={`${sourcePath(base, ip)}/decision`} own={own} applied={applied} canWrite={roleAllows(org.role, 'write')} error={error} service={service} />
        <h2>Why this classification</h2>
        {view ? <EvidenceNote view={view} /> : null}
        {view ? (
          <ul class="evidence">
            {view.classification.evidence.map((fact) => (
              <li>{fact}</li>
            ))}
          </ul>
        ) : (
          <p>No records in this period to judge it by.</p>
        )}
        <h2>What we know about the address</h2>
        <EnrichmentFacts e={view?.enrichment ?? null} />
        <StackedBars
          id="source-daily"
          title={`Messages from ${ip} per day, last ${days} days`}
          unit="messages"
          labels={h.days.map((d) => d.day.slice(5))}
          series={[
            { key: 'pass', label: 'Passed DMARC', values: h.days.map((d) => d.pass) },
            { key: 'fail', label: 'Failed DMARC', values: h.days.map((d) => d.messages - d.pass) },
          ]}
        />
        <h2>Reports that list it</h2>
        <DataTable
          c={c}
          caption={`Aggregate reports listing ${ip}, newest first`}
          columns={reportColumns(base)}
          rows={detail.reports}
          state={{ sort: '', dir: 'desc', cursor: null }}
          nextCursor={null}
          exportable={false}
          empty={<p>No report in this period lists this address.</p>}
        />
        <h2>Its records</h2>
        <DataTable
          c={c}
          caption={`Records of ${ip} (the ${detail.records.length} newest)`}
          columns={columns}
          rows={records}
          state={state}
          nextCursor={null}
          empty={<p>No records in this period.</p>}
        />
      </>,
      error ? 400 : view === null && own === null && h.messages === 0 ? 404 : 200,
    );
  }

  app.get('/o/:org/sources/:ip', (c) => render(c, c.req.param('ip')));

  app.post('/o/:org/sources/:ip/decision', async (c) => {
    const org = c.get('org');
    const ipText = c.req.param('ip');
    const ip = normaliseIp(ipText);
    if (!roleAllows(org.role, 'write')) return renderOrgPage(c, db, 'Not allowed', 'sources', <p>Viewers cannot change decisions about sources.</p>, 403);
    if (ip === null) return renderOrgPage(c, db, 'Not found', 'sources', <p>That is not an IP address.</p>, 404);
    const form = await c.req.parseBody();
    const decision = typeof form.decision === 'string' ? form.decision : '';
    const note = typeof form.note === 'string' ? form.note : '';
    const caller = c.get('caller');
    const change = { orgId: org.orgId, actor: caller.kind === 'user' ? { type: 'user' as const, id: caller.userId } : { type: 'system' as const }, ip: c.get('client').ip, now: deps.clock() };
    if (note.length > NOTE_MAX) {
      return render(c, ipText, `The note is too long: at most ${NOTE_MAX} characters.`);
    }
    if (decision === 'authorised' || decision === 'ignored') await decideSource(db, change, { type: 'ip', value: ip }, decision, note);
    else if (decision === 'undo') await undoSourceDecision(db, change, { type: 'ip', value: ip });
    else {
      return render(c, ipText, 'Choose Authorise, Ignore or Undo.');
    }
    return c.redirect(sourcePath(`/o/${encodeURIComponent(orgSlugOf(c))}`, ip), 303);
  });

  return app;
}
