import type { Context } from 'hono';
import { recomputeAlignment, type AlignmentPolicy } from '../enrich/alignment.js';
import type { Child } from 'hono/jsx';
import { DataTable, orderWords, sortRows, tableState, type Column, type TableState } from '../web/components/data-table.js';
import { dmarcVerdict, type AggregateRecordDetail, type AggregateReportDetail } from './queries/aggregate-report.js';
import type { FailureReportDetail } from './queries/failure-report.js';
import type { ReportKind } from './queries/kinds.js';
import type { ReportSummary } from './queries/report-summaries.js';
import type { TlsFailureDetail, TlsReportDetail } from './queries/tls-report.js';
import type { RawPreview } from './raw-preview.js';

// ---- words -----------------------------------------------------------------------------------

export const KIND_LABELS: Record<ReportKind, string> = { aggregate: 'Aggregate (DMARC)', tls: 'SMTP TLS', failure: 'Failure (DMARC)' };

export function dateTime(date: Date | null): string {
  return date === null ? 'not given' : `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/**
 * A report's period: whole UTC days shown as days (reporters end a day at 23:59:59 or at the next
 * midnight), anything else to the minute.
 */
export function periodText(begin: Date, end: Date): string {
  if (begin.getTime() === end.getTime()) return dateTime(begin);
  const endExclusive = end.getUTCSeconds() === 59 ? new Date(end.getTime() + 1000) : end;
  const midnight = (d: Date) => d.getTime() % 86_400_000 === 0;
  if (midnight(begin) && midnight(endExclusive) && endExclusive > begin) {
    const from = begin.toISOString().slice(0, 10);
    const to = new Date(endExclusive.getTime() - 86_400_000).toISOString().slice(0, 10);
    return from === to ? from : `${from} – ${to}`;
  }
  return `${dateTime(begin)} – ${dateTime(end)}`;
}

const count = (n: number) => n.toLocaleString('en');
const plural = (n: number, one: string, many = `${one}s`) => `${count(n)} ${n === 1 ? one : many}`;

const POLICY_WORDS: Record<string, string> = {
  none: 'none — monitor only, mail is delivered as usual',
  quarantine: 'quarantine — failing mail goes to spam',
  reject: 'reject — failing mail is refused',
};
const ALIGNMENT_WORDS: Record<string, string> = { r: 'relaxed (same organisational domain)', s: 'strict (exactly the same domain)' };

function policyWords(value: string | null): string {
  if (value === null) return 'not given';
  return POLICY_WORDS[value] ?? value;
}

function alignmentWords(value: string | null): string {
  if (value === null) return 'not given (relaxed by default)';
  return ALIGNMENT_WORDS[value] ?? value;
}

/** RFC 8460 result types in words. */
const TLS_RESULT_WORDS: Record<string, string> = {
  'starttls-not-supported': 'The receiving server does not offer STARTTLS.',
  'certificate-host-mismatch': 'The certificate does not name the MX host.',
  'certificate-expired': 'The certificate has expired.',
  'certificate-not-trusted': 'The certificate is not signed by a trusted authority.',
  'validation-failure': 'The certificate or policy could not be validated.',
  'tlsa-invalid': 'The DANE TLSA record is invalid.',
  'dnssec-invalid': 'DNSSEC validation failed.',
  'dane-required': 'DANE is required but no usable TLSA record was found.',
  'sts-policy-fetch-error': 'The MTA-STS policy could not be fetched over HTTPS.',
  'sts-policy-invalid': 'The MTA-STS policy is not valid.',
  'sts-webpki-invalid': 'The certificate of the MTA-STS policy host is not valid.',
};

function Result(props: { value: string | null }) {
  if (props.value === null) return <span class="result result-unknown">not given</span>;
  const tone = props.value === 'pass' ? 'pass' : ['fail', 'permerror', 'temperror', 'softfail'].includes(props.value) ? 'fail' : 'other';
  return <span class={`result result-${tone}`}>{props.value}</span>;
}

function Fields(props: { fields: Array<[string, Child]> }) {
  return (
    <dl class="fields">
      {props.fields.map(([label, value]) => (
        <>
          <dt>{label}</dt>
          <dd>{value ?? <span class="muted">not given</span>}</dd>
        </>
      ))}
    </dl>
  );
}

// ---- list ------------------------------------------------------------------------------------

export interface ReportListForm {
  kind: string;
  domain: string;
  reporter: string;
  from: string;
  to: string;
  failures: boolean;
}

export function ReportFilters(props: { action: string; form: ReportListForm; problem?: string | null }) {
  const { form } = props;
  return (
    <form class="filters" method="get" action={props.action} aria-label="Filter reports">
      <div>
        <label for="f-kind">Kind</label>
        <select id="f-kind" name="kind">
          <option value="" selected={form.kind === ''}>
            All kinds
          </option>
          {(Object.keys(KIND_LABELS) as ReportKind[]).map((kind) => (
            <option value={kind} selected={form.kind === kind}>
              {KIND_LABELS[kind]}
            </option>
          ))}
        </select>
      </div>
      <div>
        <label for="f-domain">Domain</label>
        <input type="text" id="f-domain" name="domain" value={form.domain} maxlength={253} placeholder="example.com" />
      </div>
      <div>
        <label for="f-reporter">Reporter</label>
        <input type="text" id="f-reporter" name="reporter" value={form.reporter} maxlength={255} placeholder="google.com" />
      </div>
      <div>
        <label for="f-from">From</label>
        <input type="date" id="f-from" name="from" value={form.from} aria-invalid={props.problem ? 'true' : undefined} />
      </div>
      <div>
        <label for="f-to">To</label>
        <input type="date" id="f-to" name="to" value={form.to} aria-invalid={props.problem ? 'true' : undefined} />
      </div>
      <div class="filters-check">
        <input type="checkbox" id="f-failures" name="failures" value="true" checked={form.failures} />
        <label for="f-failures">Only reports with failures</label>
      </div>
      <div class="filters-actions">
        <button type="submit">Filter</button> <a href={props.action}>Clear filters</a>
      </div>
      {props.problem ? (
        <p class="error" role="alert">
          {props.problem}
        </p>
      ) : null}
    </form>
  );
}

function reporterOf(s: ReportSummary): string | null {
  return s.kind === 'failure' ? null : s.reporter;
}

function domainsOf(s: ReportSummary): string {
  if (s.kind === 'aggregate') return s.domain;
  if (s.kind === 'tls') return s.domains.join(', ');
  return s.domain ?? '';
}

function volumeOf(s: ReportSummary): string {
  if (s.kind === 'aggregate') return `${plural(s.messages, 'message')} in ${plural(s.records, 'record')}`;
  if (s.kind === 'tls') return `${plural(s.successfulSessions + s.failedSessions, 'session')}, ${count(s.failedSessions)} failed`;
  return '1 message';
}

function notesOf(s: ReportSummary): string {
  if (s.kind === 'aggregate') {
    const policy = s.policy ? `p=${s.policy}` : 'policy not given';
    return s.warnings > 0 ? `${policy}; ${plural(s.warnings, 'warning')} while reading` : policy;
  }
  if (s.kind === 'tls') return s.failedSessions > 0 ? 'TLS failures reported' : 'All sessions used TLS';
  const parts = [s.authFailure ? `${s.authFailure} failure` : s.feedbackType];
  if (s.sourceIp) parts.push(`from ${s.sourceIp}`);
  if (s.deliveryResult) parts.push(`delivery: ${s.deliveryResult}`);
  return parts.join(' ');
}

export function reportHref(base: string, kind: ReportKind, id: number): string {
  return `${base}/reports/${kind}/${id}`;
}

export function reportListColumns(base: string): Column<ReportSummary>[] {
  return [
    { key: 'kind', label: 'Kind', value: (s) => s.kind, render: (s) => KIND_LABELS[s.kind] },
    {
      key: 'period',
      label: 'Period',
      sortable: true,
      value: (s) => `${s.beginAt.toISOString()}/${s.endAt.toISOString()}`,
      render: (s) => <a href={reportHref(base, s.kind, s.id)}>{periodText(s.beginAt, s.endAt)}</a>,
    },
    { key: 'reporter', label: 'Reporter', value: (s) => reporterOf(s), render: (s) => reporterOf(s) ?? <span class="muted">not named</span> },
    { key: 'domain', label: 'Domain', value: (s) => domainsOf(s) },
    { key: 'volume', label: 'Volume', value: (s) => volumeOf(s) },
    { key: 'notes', label: 'Result', value: (s) => notesOf(s) },
    { key: 'reportId', label: 'Report id', value: (s) => (s.kind === 'failure' ? null : s.reportId), render: (s) => (s.kind === 'failure' ? '—' : <code>{s.reportId}</code>) },
    { key: 'received', label: 'Received', value: (s) => s.receivedAt.toISOString(), render: (s) => dateTime(s.receivedAt) },
    { key: 'id', label: 'Id', value: (s) => s.id, render: (s) => <a href={reportHref(base, s.kind, s.id)}>{`#${s.id}`}</a>, numeric: true },
  ];
}

/** What to do when there are no reports at all, or none match the filters. */
export function NoReports(props: { base: string; filtered: boolean }) {
  if (props.filtered) {
    return (
      <>
        <h2>No reports match these filters</h2>
        <p>
          Widen the period or <a href={`${props.base}/reports`}>clear the filters</a>.
        </p>
      </>
    );
  }
  return (
    <>
      <h2>No reports yet</h2>
      <p>Receivers such as Google, Microsoft and Yahoo send reports to the address in your DMARC record's <code>rua=</code> (and TLS reports to the <code>rua=</code> of your TLS-RPT record), about once a day. They arrive here in two ways:</p>
      <ul>
        <li>
          <a href={`${props.base}/mailboxes`}>Connect the mailbox</a> that receives them, and DMARC Watch reads it every few minutes.
        </li>
        <li>
          <a href={`${props.base}/upload`}>Upload report files</a> you already have (.xml, .gz, .zip, .json or whole mails).
        </li>
      </ul>
    </>
  );
}

// ---- raw document ----------------------------------------------------------------------------

export function RawDocument(props: { title: string; preview: RawPreview | null; downloadHref: string | null; note?: string }) {
  return (
    <section class="report-raw" aria-labelledby="raw-heading">
      <h2 id="raw-heading">{props.title}</h2>
      {props.downloadHref ? (
        <p>
          <a href={props.downloadHref} download>
            Download original
          </a>
          {props.note ? <span class="muted"> · {props.note}</span> : null}
        </p>
      ) : null}
      {props.preview === null ? (
        <p class="muted">The original document is not kept.</p>
      ) : (
        <>
          <pre class="raw-document" tabindex={0} aria-label={props.title}>
            {props.preview.text}
          </pre>
          {props.preview.truncated ? (
            <p class="notice">
              Only the first megabyte is shown. {props.downloadHref ? <a href={props.downloadHref}>Download the whole document</a> : null}
            </p>
          ) : null}
        </>
      )}
    </section>
  );
}

// ---- aggregate -------------------------------------------------------------------------------

interface ShownAuthResult {
  domain: string;
  result: string;
  humanResult: string | null;
}

/** A record's DKIM or SPF results, each with its detail (selector, scope) when the reporter gave one. */
function AuthResults<R extends ShownAuthResult>(props: { results: R[]; detail: (r: R) => string | null }) {
  if (props.results.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="auth-results">
      {props.results.map((r) => {
        const detail = props.detail(r);
        return (
          <li>
            <Result value={r.result} /> {r.domain}
            {detail ? <span class="muted"> {detail}</span> : null}
            {r.humanResult ? <span class="muted"> — {r.humanResult}</span> : null}
          </li>
        );
      })}
    </ul>
  );
}

const human = (text: string | null) => (text ? ` (${text})` : '');
const dkimText = (results: AggregateRecordDetail['dkimResults']) => results.map((r) => `${r.domain}${r.selector ? ` s=${r.selector}` : ''}=${r.result}${human(r.humanResult)}`).join('; ');
const spfText = (results: AggregateRecordDetail['spfResults']) => results.map((r) => `${r.domain}${r.scope ? ` ${r.scope}` : ''}=${r.result}${human(r.humanResult)}`).join('; ');

/** The reporter's verdicts checked against a recomputation from the record's own auth results. */
function alignmentCheck(record: AggregateRecordDetail, policy: AlignmentPolicy): { agrees: boolean; text: string } {
  const result = recomputeAlignment(record, policy);
  if (!result.disagrees) return { agrees: true, text: `agrees (DMARC ${result.dmarcPass ? 'pass' : 'fail'})` };
  return { agrees: false, text: result.explanation ?? 'The reporter and the recomputation disagree.' };
}

/** Records come in the report's own order unless a column is chosen. */
export const RECORDS_DEFAULT = { sort: 'report', dir: 'asc', words: "in the report's order" } as const;

/** The columns of a report's records; `policy` (the report's adkim/aspf) enables the alignment check. */
export function recordColumns(policy: AlignmentPolicy): Column<AggregateRecordDetail>[] {
  return [
    { key: 'sourceIp', sortable: true, label: 'Source IP', value: (r) => r.sourceIp, render: (r) => <code class="ip">{r.sourceIp}</code> },
    { key: 'count', sortable: true, label: 'Messages', value: (r) => r.count, render: (r) => count(r.count), numeric: true },
    { key: 'dmarc', sortable: true, label: 'DMARC', value: (r) => dmarcVerdict(r), render: (r) => <Result value={dmarcVerdict(r) === 'unknown' ? null : dmarcVerdict(r)} /> },
    { key: 'disposition', sortable: true, label: 'Disposition', value: (r) => r.disposition },
    {
      key: 'identifiers',
      label: 'From / envelope',
      sortable: true,
      value: (r) => [`header_from=${r.headerFrom}`, r.envelopeFrom ? `envelope_from=${r.envelopeFrom}` : '', r.envelopeTo ? `envelope_to=${r.envelopeTo}` : ''].filter(Boolean).join('; '),
      render: (r) => (
        <>
          {r.headerFrom}
          {r.envelopeFrom ? <div class="muted">MAIL FROM {r.envelopeFrom}</div> : null}
          {r.envelopeTo ? <div class="muted">to {r.envelopeTo}</div> : null}
        </>
      ),
    },
    {
      key: 'policyEvaluated',
      label: 'Aligned DKIM / SPF',
      value: (r) => `dkim=${r.dkim ?? ''}; spf=${r.spf ?? ''}`,
      render: (r) => (
        <>
          DKIM <Result value={r.dkim} />
          <br />
          SPF <Result value={r.spf} />
        </>
      ),
    },
    {
      key: 'recomputed',
      label: 'Recomputed alignment',
      value: (r) => alignmentCheck(r, policy).text,
      render: (r) => {
        const check = alignmentCheck(r, policy);
        return check.agrees ? <span class="muted">{check.text}</span> : <strong class="disagrees">Disagrees: {check.text}</strong>;
      },
    },
    { key: 'dkimResults', label: 'DKIM results', value: (r) => dkimText(r.dkimResults), render: (r) => <AuthResults results={r.dkimResults} detail={(d) => (d.selector ? `s=${d.selector}` : null)} /> },
    { key: 'spfResults', label: 'SPF results', value: (r) => spfText(r.spfResults), render: (r) => <AuthResults results={r.spfResults} detail={(d) => (d.scope ? `(${d.scope})` : null)} /> },
    {
      key: 'reasons',
      label: 'Reasons',
      value: (r) => r.reasons.map((x) => (x.comment ? `${x.type}: ${x.comment}` : x.type)).join('; '),
      render: (r) =>
        r.reasons.length === 0 ? (
          <span class="muted">none</span>
        ) : (
          <ul class="auth-results">
            {r.reasons.map((x) => (
              <li>
                <strong>{x.type}</strong>
                {x.comment ? <span> — {x.comment}</span> : null}
              </li>
            ))}
          </ul>
        ),
    },
  ];
}

function PublishedPolicy(props: { policy: AggregateReportDetail['policy'] }) {
  const p = props.policy;
  const fields: Array<[string, Child]> = [
    ['Domain', p.domain],
    ['Policy (p=)', policyWords(p.p)],
    ['Subdomains (sp=)', p.sp === null ? 'not given (same as p=)' : policyWords(p.sp)],
    ['DKIM alignment (adkim=)', alignmentWords(p.adkim)],
    ['SPF alignment (aspf=)', alignmentWords(p.aspf)],
    ['Percentage (pct=)', p.pct === null ? 'not given (100%)' : `${p.pct}%`],
  ];
  if (p.np !== null) fields.push(['Non-existent subdomains (np=)', policyWords(p.np)]);
  if (p.fo !== null) fields.push(['Failure reporting (fo=)', p.fo]);
  if (p.testing !== null) fields.push(['Testing (t=)', p.testing === 'y' ? 'y — the policy is being tested and not fully applied' : p.testing]);
  if (p.discoveryMethod !== null) fields.push(['Discovery', p.discoveryMethod === 'treewalk' ? 'DNS tree walk (DMARCbis)' : p.discoveryMethod === 'psl' ? 'public suffix list' : p.discoveryMethod]);
  return <Fields fields={fields} />;
}

export function AggregateReportView(props: {
  c: Context;
  base: string;
  report: AggregateReportDetail;
  records: AggregateRecordDetail[];
  recordsState: TableState;
  nextCursor: string | null;
  /** Whether every record of the report is on this page (then the page can total them). */
  complete: boolean;
  raw: Child;
}) {
  const { report } = props;
  const messagesWhere = (verdict: 'pass' | 'fail' | 'unknown') => props.records.filter((r) => dmarcVerdict(r) === verdict).reduce((sum, r) => sum + r.count, 0);
  const failing = props.complete ? messagesWhere('fail') : null;
  const unknown = props.complete ? messagesWhere('unknown') : 0;
  const unknownText = unknown > 0 ? ` The reporter gave no DKIM or SPF result for ${plural(unknown, 'message')}.` : '';
  const verdict =
    failing === null
      ? { tone: 'neutral', text: `${plural(report.messageCount, 'message')} in ${plural(report.recordCount, 'record')}; the records are below, page by page.` }
      : failing === 0
        ? { tone: unknown > 0 ? 'warn' : 'good', text: `No message failed DMARC: ${plural(report.messageCount - unknown, 'message')} passed with aligned DKIM or SPF.${unknownText}` }
        : { tone: 'bad', text: `${count(failing)} of ${plural(report.messageCount, 'message')} failed DMARC: neither DKIM nor SPF passed aligned with ${report.policy.domain}.${unknownText}` };
  return (
    <>
      <p>
        <a href={`${props.base}/reports`}>Reports</a> ›
      </p>
      <h1>
        Aggregate report from {report.reporter} for {report.policy.domain}
      </h1>
      <p class={`verdict ${verdict.tone}`} role="status">
        {verdict.text}
      </p>
      <div class="report-split">
        <div class="report-main">
          <h2>About this report</h2>
          <Fields
            fields={[
              ['Reporter', report.reporter],
              ['Contact', report.reporterEmail],
              ['More contact information', report.extraContactInfo],
              ['Report id', <code>{report.reportId}</code>],
              ['Period', periodText(report.beginAt, report.endAt)],
              ['Received', dateTime(report.receivedAt)],
              ['Generator', report.generator],
              ['Format version', report.version],
              ['XML namespace', report.xmlNamespace ? <code>{report.xmlNamespace}</code> : null],
            ]}
          />
          <h2>Policy the reporter found published</h2>
          <PublishedPolicy policy={report.policy} />
          {report.errors.length > 0 ? (
            <>
              <h2>Errors the reporter listed</h2>
              <ul>
                {report.errors.map((e) => (
                  <li>{e}</li>
                ))}
              </ul>
            </>
          ) : null}
          {report.warnings.length > 0 ? (
            <>
              <h2>Problems noticed while reading it</h2>
              <p class="muted">The report was stored regardless; these are about how it was written, not about your mail.</p>
              <ul>
                {report.warnings.map((w) => (
                  <li>{w}</li>
                ))}
              </ul>
            </>
          ) : null}
          <h2 id="records">Records</h2>
          <DataTable
            c={props.c}
            caption={`Records, ${orderWords(recordColumns(report.policy), props.recordsState, RECORDS_DEFAULT)} (${plural(report.recordCount, 'record')})`}
            columns={recordColumns(report.policy)}
            rows={props.records}
            state={props.recordsState}
            nextCursor={props.nextCursor}
            empty={<p>This report has no records: the reporter saw no mail from {report.policy.domain} in this period.</p>}
          />
        </div>
        {props.raw}
      </div>
    </>
  );
}

// ---- TLS -------------------------------------------------------------------------------------

function tlsFailureColumns(): Column<TlsFailureDetail>[] {
  return [
    {
      key: 'resultType',
      label: 'Result',
      sortable: true,
      value: (f) => f.resultType,
      render: (f) => (
        <>
          <code>{f.resultType}</code>
          {TLS_RESULT_WORDS[f.resultType] ? <div class="muted">{TLS_RESULT_WORDS[f.resultType]}</div> : null}
        </>
      ),
    },
    { key: 'sessions', sortable: true, label: 'Failed sessions', value: (f) => f.failedSessions, render: (f) => count(f.failedSessions), numeric: true },
    { key: 'sendingMtaIp', sortable: true, label: 'Sending MTA IP', value: (f) => f.sendingMtaIp },
    {
      key: 'receivingMx',
      label: 'Receiving MX',
      sortable: true,
      value: (f) => [f.receivingMxHostname, f.receivingMxHelo ? `HELO ${f.receivingMxHelo}` : null, f.receivingIp].filter(Boolean).join('; ') || null,
      render: (f) => (
        <>
          {f.receivingMxHostname ?? <span class="muted">not given</span>}
          {f.receivingMxHelo ? <div class="muted">HELO {f.receivingMxHelo}</div> : null}
          {f.receivingIp ? <div class="muted">{f.receivingIp}</div> : null}
        </>
      ),
    },
    { key: 'failureReasonCode', sortable: true, label: 'Reason code', value: (f) => f.failureReasonCode },
    { key: 'additionalInformation', label: 'Additional information', value: (f) => f.additionalInformation },
  ];
}

export function TlsReportView(props: { c: Context; base: string; report: TlsReportDetail; raw: Child }) {
  const { report } = props;
  const total = report.successfulSessions + report.failedSessions;
  const verdict =
    total === 0
      ? { tone: 'neutral', text: 'The reporter counted no sessions in this period.' }
      : report.failedSessions === 0
        ? { tone: 'good', text: `All ${plural(total, 'session')} to your servers used TLS as your policy asks.` }
        : { tone: 'bad', text: `${count(report.failedSessions)} of ${plural(total, 'session')} failed to set up TLS as your policy asks; the failures are below.` };
  // A report's failure details are few: sorted here, one order for every policy's table.
  const columns = tlsFailureColumns();
  const state = tableState(props.c, columns, { sort: '', dir: 'desc' });
  return (
    <>
      <p>
        <a href={`${props.base}/reports`}>Reports</a> ›
      </p>
      <h1>SMTP TLS report from {report.reporter}</h1>
      <p class={`verdict ${verdict.tone}`} role="status">
        {verdict.text}
      </p>
      <div class="report-split">
        <div class="report-main">
          <h2>About this report</h2>
          <Fields
            fields={[
              ['Reporter', report.reporter],
              ['Contact', report.contactInfo],
              ['Report id', <code>{report.reportId}</code>],
              ['Period', periodText(report.beginAt, report.endAt)],
              ['Received', dateTime(report.receivedAt)],
              ['Sessions', `${count(report.successfulSessions)} successful, ${count(report.failedSessions)} failed`],
            ]}
          />
          {report.warnings.length > 0 ? (
            <>
              <h2>Problems noticed while reading it</h2>
              <ul>
                {report.warnings.map((w) => (
                  <li>{w}</li>
                ))}
              </ul>
            </>
          ) : null}
          {report.policies.map((policy, i) => (
            <section class="tls-policy" aria-labelledby={`policy-${i}`}>
              <h2 id={`policy-${i}`}>
                Policy {i + 1}: {policy.policyType} for {policy.policyDomain}
              </h2>
              <Fields
                fields={[
                  ['Type', policy.policyType === 'no-policy-found' ? 'no-policy-found — the sender found no MTA-STS or DANE policy' : policy.policyType],
                  ['Domain', policy.policyDomain],
                  ['MX hosts', policy.mxHost.length > 0 ? policy.mxHost.join(', ') : null],
                  ['Successful sessions', count(policy.successfulSessions)],
                  ['Failed sessions', count(policy.failedSessions)],
                ]}
              />
              {policy.policyString.length > 0 ? (
                <details>
                  <summary>Policy as the sender saw it</summary>
                  <pre class="raw-document">{policy.policyString.join('\n')}</pre>
                </details>
              ) : null}
              <DataTable
                c={props.c}
                caption={`Failures under policy ${i + 1}`}
                columns={columns}
                rows={sortRows(policy.failures, columns, state)}
                state={state}
                nextCursor={null}
                exportable={false}
                empty={<p>No failure details for this policy{policy.failedSessions > 0 ? ', although it counts failed sessions' : ''}.</p>}
              />
            </section>
          ))}
        </div>
        {props.raw}
      </div>
    </>
  );
}

// ---- failure ---------------------------------------------------------------------------------

export function FailureReportView(props: { base: string; report: FailureReportDetail }) {
  const r = props.report;
  const what = r.authFailure ? `${r.authFailure} failure` : r.feedbackType;
  return (
    <>
      <p>
        <a href={`${props.base}/reports`}>Reports</a> ›
      </p>
      <h1>
        Failure report: {what}
        {r.reportedDomain ? ` for ${r.reportedDomain}` : ''}
      </h1>
      <p class="verdict warn" role="status">
        A receiver saw one message {r.reportedDomain ? `from ${r.reportedDomain} ` : ''}that failed {r.authFailure ?? 'authentication'}
        {r.sourceIp ? `, sent from ${r.sourceIp}` : ''}
        {r.arrivalAt ? ` at ${dateTime(r.arrivalAt)}` : ''}.
      </p>
      <p class="notice">
        Message bodies are never stored: a failure report carries someone's mail, so DMARC Watch keeps only the report's fields{r.originalHeaders === null ? '' : ' and the headers of the failed message'}.
      </p>
      <div class="report-split">
        <div class="report-main">
          <h2>Report fields</h2>
          <Fields
            fields={[
              ['Feedback-Type', r.feedbackType],
              ['Auth-Failure', r.authFailure],
              ['Identity-Alignment', r.identityAlignment],
              ['Delivery-Result', r.deliveryResult],
              ['Reported-Domain', r.reportedDomain],
              ['Reported-URI', r.reportedUri.length > 0 ? r.reportedUri.join(', ') : null],
              ['Source-IP', r.sourceIp],
              ['Arrival-Date', r.arrivalAt ? dateTime(r.arrivalAt) : null],
              ['DKIM-Domain', r.dkimDomain],
              ['DKIM-Identity', r.dkimIdentity],
              ['DKIM-Selector', r.dkimSelector],
              ['SPF-DNS', r.spfDns],
              ['Original-Mail-From', r.originalMailFrom],
              ['Original-Rcpt-To', r.originalRcptTo],
              ['Original-Envelope-Id', r.originalEnvelopeId],
              ['User-Agent', r.userAgent],
              ['Version', r.version],
              ['Format', r.plainText ? 'plain text (not ARF)' : 'ARF (RFC 6591)'],
            ]}
          />
          <h2>The failed message</h2>
          <Fields
            fields={[
              ['From', r.originalFrom],
              ['Subject', r.originalSubject],
              ['Message-ID', r.originalMessageId],
            ]}
          />
          <h2>The report mail</h2>
          <Fields
            fields={[
              ['Subject', r.reportSubject],
              ['Date', r.reportDate ? dateTime(r.reportDate) : null],
              ['Received', dateTime(r.receivedAt)],
            ]}
          />
        </div>
        <section class="report-raw" aria-labelledby="headers-heading">
          <h2 id="headers-heading">Headers of the failed message</h2>
          {r.originalHeaders === null ? (
            <p class="muted">Not kept: this instance stores no headers of failed messages (DMARCWATCH_KEEP_FAILURE_HEADERS), or the report carried none.</p>
          ) : (
            <pre class="raw-document" tabindex={0} aria-label="Headers of the failed message">
              {r.originalHeaders}
            </pre>
          )}
        </section>
      </div>
    </>
  );
}
