import type { Context } from 'hono';
import { DataTable, orderWords, type Column, type SortDirection, type TableState } from '../web/components/data-table.js';
import { percent, percentValue } from './attention.js';
import type { ChecklistItem } from './bulk-sender.js';
import { rate } from './domain-overview.js';
import type { ReporterSummary } from './domain-reporters.js';
import type { HeaderFromDomain } from './header-from-domains.js';
import type { PolicySpan } from './policy-history.js';

/** A table's default order, and that order in a caption's words. */
export interface TableDefault {
  sort: string;
  dir: SortDirection;
  words: string;
}

const count = (n: number) => n.toLocaleString('en');

const STATE_TEXT = { met: 'Met', not_met: 'Not met', unknown: 'Unknown' } as const;

/** The bulk-sender requirements of Gmail, Yahoo and Microsoft, as far as the reports show them. */
export function BulkSenderChecklist(props: { items: ChecklistItem[] }) {
  return (
    <section aria-labelledby="bulk-sender">
      <h2 id="bulk-sender">Bulk-sender requirements (Gmail, Yahoo, Microsoft)</h2>
      <p class="muted">
        For senders of 5,000 or more messages a day. Spam-complaint rates and one-click unsubscribe are not in DMARC reports; check them in the receivers'
        postmaster tools.
      </p>
      <div class="data-table">
        <table>
          <caption>What the reports show</caption>
          <thead>
            <tr>
              <th scope="col">Requirement</th>
              <th scope="col">State</th>
              <th scope="col">Evidence</th>
            </tr>
          </thead>
          <tbody>
            {props.items.map((item) => (
              <tr>
                <th scope="row">{item.requirement}</th>
                <td class={`check-${item.state}`}>{STATE_TEXT[item.state]}</td>
                <td>{item.evidence}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export const REPORTERS_DEFAULT: TableDefault = { sort: 'messages', dir: 'desc', words: 'by the volume they saw' };

export function reporterColumns(): Column<ReporterSummary>[] {
  return [
    { key: 'reporter', label: 'Receiver', sortable: true, rowHeader: true, value: (r) => r.reporter },
    { key: 'reports', label: 'Reports', sortable: true, numeric: true, value: (r) => r.reports, render: (r) => count(r.reports) },
    { key: 'messages', label: 'Messages', sortable: true, numeric: true, value: (r) => r.messages, render: (r) => count(r.messages) },
    { key: 'lastReport', label: 'Last report', sortable: true, value: (r) => r.lastReportDay },
  ];
}

/** Who reported on the domain; `rows` in the order of `state`. */
export function Reporters(props: { c: Context; rows: ReporterSummary[]; state: TableState }) {
  const columns = reporterColumns();
  return (
    <section aria-labelledby="reporters">
      <h2 id="reporters">Who reported</h2>
      <DataTable
        c={props.c}
        caption={`Receivers that sent reports, ${orderWords(columns, props.state, REPORTERS_DEFAULT)}`}
        columns={columns}
        rows={props.rows}
        state={props.state}
        nextCursor={null}
        empty={<p>No receiver reported on this domain in this period. Choose a longer period above, or check that the domain's DMARC record has a rua= address you read.</p>}
      />
    </section>
  );
}

function policyWords(span: PolicySpan): string {
  const parts = [`p=${span.p ?? '?'}`];
  if (span.sp && span.sp !== span.p) parts.push(`sp=${span.sp}`);
  if (span.pct !== 100) parts.push(`pct=${span.pct}`);
  if (span.adkim === 's') parts.push('adkim=s');
  if (span.aspf === 's') parts.push('aspf=s');
  return parts.join(' ');
}

export const POLICY_DEFAULT: TableDefault = { sort: 'from', dir: 'asc', words: 'oldest first' };

export function policyColumns(): Column<PolicySpan>[] {
  return [
    { key: 'policy', label: 'Policy', sortable: true, rowHeader: true, value: policyWords, render: (span) => <code>{policyWords(span)}</code> },
    { key: 'from', label: 'First report', sortable: true, value: (span) => span.firstDay },
    { key: 'to', label: 'Last report', sortable: true, value: (span) => span.lastDay },
    { key: 'reports', label: 'Reports', sortable: true, numeric: true, value: (span) => span.reports, render: (span) => count(span.reports) },
  ];
}

/**
 * The policy the domain published, one row per run of reports that saw it; `rows` in the order of
 * `state`, the first of `total`.
 */
export function PolicyHistory(props: { c: Context; rows: PolicySpan[]; total: number; state: TableState }) {
  const columns = policyColumns();
  return (
    <section aria-labelledby="policy-history">
      <h2 id="policy-history">Published policy over time</h2>
      <DataTable
        c={props.c}
        caption={`The policy receivers found in DNS, last 365 days, ${orderWords(columns, props.state, POLICY_DEFAULT)}`}
        columns={columns}
        rows={props.rows}
        state={props.state}
        nextCursor={null}
        empty={<p>No report of the last 365 days shows the policy. Each report carries the policy the receiver found in DNS, so it appears here with the next report.</p>}
      />
      {props.total > props.rows.length ? (
        <p class="muted">
          {count(props.rows.length)} of {count(props.total)} runs are shown: receivers disagreed about the policy often. The download holds all of them.
        </p>
      ) : null}
    </section>
  );
}

export const SUBDOMAINS_DEFAULT: TableDefault = { sort: 'messages', dir: 'desc', words: 'by volume' };

export function subdomainColumns(): Column<HeaderFromDomain>[] {
  return [
    { key: 'domain', label: 'From: domain', sortable: true, rowHeader: true, value: (r) => r.headerFrom },
    { key: 'messages', label: 'Messages', sortable: true, numeric: true, value: (r) => r.messages, render: (r) => count(r.messages) },
    { key: 'pass', label: 'DMARC pass', sortable: true, numeric: true, value: (r) => percentValue(r.pass, r.messages), render: (r) => percent(rate(r.pass, r.messages)) },
  ];
}

/** The From: domains seen under the domain; `rows` (the domain itself among them) in the order of `state`. */
export function HeaderFromTable(props: { c: Context; domain: string; rows: HeaderFromDomain[]; state: TableState }) {
  const columns = subdomainColumns();
  return (
    <section aria-labelledby="subdomains">
      <h2 id="subdomains">Subdomains seen</h2>
      {props.rows.every((r) => r.headerFrom === props.domain) ? (
        <p>All reported mail used {props.domain} itself in the From: address.</p>
      ) : (
        <DataTable
          c={props.c}
          caption={`From: domains under ${props.domain} (the policy's sp= applies to subdomains), ${orderWords(columns, props.state, SUBDOMAINS_DEFAULT)}`}
          columns={columns}
          rows={props.rows}
          state={props.state}
          nextCursor={null}
          empty={null}
        />
      )}
    </section>
  );
}
