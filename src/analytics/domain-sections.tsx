import { percent } from './attention.js';
import type { ChecklistItem } from './bulk-sender.js';
import type { ReporterSummary } from './domain-reporters.js';
import { rate } from './domain-overview.js';
import type { HeaderFromDomain } from './header-from-domains.js';
import type { PolicySpan } from './policy-history.js';

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

export function Reporters(props: { reporters: ReporterSummary[] }) {
  return (
    <section aria-labelledby="reporters">
      <h2 id="reporters">Who reported</h2>
      {props.reporters.length === 0 ? (
        <p>No receiver reported on this domain in this period.</p>
      ) : (
        <div class="data-table">
          <table>
            <caption>Receivers that sent reports, by the volume they saw</caption>
            <thead>
              <tr>
                <th scope="col">Receiver</th>
                <th scope="col" class="num">
                  Reports
                </th>
                <th scope="col" class="num">
                  Messages
                </th>
                <th scope="col">Last report</th>
              </tr>
            </thead>
            <tbody>
              {props.reporters.map((r) => (
                <tr>
                  <th scope="row">{r.reporter}</th>
                  <td class="num">{r.reports.toLocaleString('en')}</td>
                  <td class="num">{r.messages.toLocaleString('en')}</td>
                  <td>{r.lastReportDay}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function policyWords(span: PolicySpan): string {
  const parts = [`p=${span.p ?? '?'}`];
  if (span.sp && span.sp !== span.p) parts.push(`sp=${span.sp}`);
  if (span.pct !== null && span.pct !== 100) parts.push(`pct=${span.pct}`);
  if (span.adkim === 's') parts.push('adkim=s');
  if (span.aspf === 's') parts.push('aspf=s');
  return parts.join(' ');
}

export function PolicyHistory(props: { spans: PolicySpan[] }) {
  return (
    <section aria-labelledby="policy-history">
      <h2 id="policy-history">Published policy over time</h2>
      {props.spans.length === 0 ? (
        <p>No report shows the policy yet.</p>
      ) : (
        <ol class="policy-history">
          {props.spans.map((span) => (
            <li>
              <strong>{policyWords(span)}</strong> — {span.firstDay === span.lastDay ? span.firstDay : `${span.firstDay} to ${span.lastDay}`} ({span.reports.toLocaleString('en')}{' '}
              report{span.reports === 1 ? '' : 's'})
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

export function HeaderFromTable(props: { domain: string; rows: HeaderFromDomain[] }) {
  const others = props.rows.filter((r) => r.headerFrom !== props.domain);
  return (
    <section aria-labelledby="subdomains">
      <h2 id="subdomains">Subdomains seen</h2>
      {others.length === 0 ? (
        <p>All reported mail used {props.domain} itself in the From: address.</p>
      ) : (
        <div class="data-table">
          <table>
            <caption>From: domains under {props.domain} (the policy's sp= applies to subdomains)</caption>
            <thead>
              <tr>
                <th scope="col">From: domain</th>
                <th scope="col" class="num">
                  Messages
                </th>
                <th scope="col" class="num">
                  DMARC pass
                </th>
              </tr>
            </thead>
            <tbody>
              {props.rows.map((r) => (
                <tr>
                  <th scope="row">{r.headerFrom}</th>
                  <td class="num">{r.messages.toLocaleString('en')}</td>
                  <td class="num">{percent(rate(r.pass, r.messages))}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
