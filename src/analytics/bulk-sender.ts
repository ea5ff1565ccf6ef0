import { shareOf } from './attention.js';
import type { PublishedPolicy } from './published-policy.js';
import type { ReverseDnsCoverage } from './reverse-dns-coverage.js';

export type CheckState = 'met' | 'not_met' | 'unknown';

export interface ChecklistItem {
  requirement: string;
  state: CheckState;
  /** What the reports show, in words. */
  evidence: string;
}

export interface DomainTotals {
  messages: number;
  pass: number;
  dkimPass: number;
  spfPass: number;
}

/** Below this share a requirement is not met: the rest is usually forwarding and stray sources. */
const MOSTLY = 0.98;

/**
 * Gmail, Yahoo and Microsoft's requirements for bulk senders (5,000+ messages a day), as far as
 * DMARC reports can show them. Spam rates and one-click unsubscribe are not in reports, so they
 * are not listed as met or failed.
 */
export function bulkSenderChecklist(totals: DomainTotals, policy: PublishedPolicy | undefined, rdns: ReverseDnsCoverage): ChecklistItem[] {
  const none = totals.messages === 0;
  const rate = (part: number): CheckState => (none ? 'unknown' : part / totals.messages >= MOSTLY ? 'met' : 'not_met');
  const items: ChecklistItem[] = [
    {
      requirement: 'A DMARC record is published (p=none at least)',
      state: policy?.p ? 'met' : 'unknown',
      evidence: policy?.p ? `Reports show p=${policy.p}${policy.pct !== null && policy.pct !== 100 ? ` pct=${policy.pct}` : ''}.` : 'No report shows the policy yet.',
    },
    {
      requirement: 'Mail is signed with DKIM, aligned with the From: domain',
      state: rate(totals.dkimPass),
      evidence: none ? 'No mail reported in this period.' : `${shareOf(totals.dkimPass, totals.messages)} of messages passed DKIM aligned.`,
    },
    {
      requirement: 'Mail passes SPF',
      state: rate(totals.spfPass),
      evidence: none ? 'No mail reported in this period.' : `${shareOf(totals.spfPass, totals.messages)} of messages passed SPF aligned.`,
    },
    {
      requirement: 'Mail passes DMARC (SPF or DKIM aligned)',
      state: rate(totals.pass),
      evidence: none ? 'No mail reported in this period.' : `${shareOf(totals.pass, totals.messages)} of messages passed DMARC.`,
    },
  ];
  const checked = rdns.confirmed + rdns.unconfirmed;
  items.push({
    requirement: 'Sending addresses have forward-confirmed reverse DNS',
    state: checked === 0 ? 'unknown' : rdns.confirmed / checked >= MOSTLY ? 'met' : 'not_met',
    evidence:
      checked === 0
        ? 'The sending addresses have not been looked up yet.'
        : `${shareOf(rdns.confirmed, checked)} of the checked volume came from addresses whose PTR name resolves back to them${rdns.unchecked > 0 ? `; ${rdns.unchecked.toLocaleString('en')} messages from addresses not checked yet` : ''}.`,
  });
  return items;
}
