import type { DomainOverview } from './domain-overview.js';
import type { PublishedPolicy } from './published-policy.js';

export type Severity = 'good' | 'warn' | 'bad' | 'unknown';

export interface Finding {
  severity: Severity;
  text: string;
}

/** Below this share of passing mail a domain needs attention. */
export const PASS_RATE_CONCERN = 0.9;
/** Messages in the period below which a rate says little. */
const MIN_VOLUME = 20;

/** `part` as a share of `whole`, one decimal ("12.5%"); "no data" when there is no whole. */
export function shareOf(part: number, whole: number): string {
  return whole === 0 ? 'no data' : `${((part / whole) * 100).toFixed(1)}%`;
}

/** `part` as a percentage of `whole` to two decimals, for sorting and downloads; null when there is no whole (unknown, not 0%). */
export function percentValue(part: number, whole: number): number | null {
  return whole === 0 ? null : Number(((part / whole) * 100).toFixed(2));
}

export function percent(rate: number | null, digits = 1): string {
  if (rate === null) return 'no data';
  const value = rate * 100;
  return `${value >= 99.95 && value < 100 ? '99.9' : value.toFixed(value === 100 || value === 0 ? 0 : digits)}%`;
}

/**
 * What a domain owner should know about one domain, in words, most serious first: failing mail,
 * a falling pass rate, a policy that does not protect, or silence.
 */
export function domainFindings(domain: DomainOverview, policy: PublishedPolicy | undefined): Finding[] {
  const findings: Finding[] = [];
  const fail = domain.messages - domain.pass;
  if (domain.messages === 0) {
    findings.push({ severity: 'unknown', text: 'No reports in this period: receivers have sent nothing yet, or the mailbox is not being read.' });
    return findings;
  }
  if (domain.passRate !== null && domain.passRate < PASS_RATE_CONCERN && domain.messages >= MIN_VOLUME) {
    findings.push({
      severity: 'bad',
      text: `${fail.toLocaleString('en')} of ${domain.messages.toLocaleString('en')} messages (${percent(1 - domain.passRate)}) failed DMARC. Look at the failing sources: a service you use may need SPF or DKIM set up, or someone may be sending as you.`,
    });
  } else if (fail > 0 && domain.messages >= MIN_VOLUME) {
    findings.push({ severity: 'warn', text: `${fail.toLocaleString('en')} messages failed DMARC (${percent(fail / domain.messages)}). Usually forwarding or a small service; check the sources.` });
  }
  const before = domain.previous.passRate;
  if (before !== null && domain.passRate !== null && domain.previous.messages >= MIN_VOLUME && before - domain.passRate >= 0.05) {
    findings.push({ severity: 'warn', text: `The pass rate fell from ${percent(before)} to ${percent(domain.passRate)} compared with the period before.` });
  }
  const lastDay = [...domain.daily].reverse().find((d) => d.messages > 0);
  const quietDays = lastDay ? domain.daily.length - 1 - domain.daily.indexOf(lastDay) : domain.daily.length;
  if (quietDays >= 3) findings.push({ severity: 'warn', text: `No reports for the last ${quietDays} days (since ${lastDay?.day ?? 'the start of the period'}).` });
  if (policy?.p === 'none') {
    findings.push({
      severity: domain.passRate !== null && domain.passRate >= 0.98 ? 'warn' : 'unknown',
      text:
        domain.passRate !== null && domain.passRate >= 0.98
          ? 'The policy is p=none, so mail that fails is still delivered. Your mail passes; consider p=quarantine.'
          : 'The policy is p=none (monitoring only): failing mail is still delivered. Fix the failing sources before enforcing.',
    });
  }
  if (findings.length === 0) findings.push({ severity: 'good', text: `All good: ${percent(domain.passRate)} of mail passed DMARC.` });
  return findings;
}

/** The most serious severity among findings. */
export function worst(findings: Finding[]): Severity {
  const order: Severity[] = ['bad', 'warn', 'unknown', 'good'];
  return order.find((s) => findings.some((f) => f.severity === s)) ?? 'good';
}
