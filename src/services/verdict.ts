import { SOURCE_CLASS_LABELS, type SourceClass } from '../enrich/classify.js';
import type { SourceDecision } from '../sources/decisions.js';
import { ownDecisionOf, type ServiceSummary } from './service-summary.js';

export type Tone = 'good' | 'warn' | 'bad' | 'neutral';

function count(n: number): string {
  return n.toLocaleString('en');
}

function plural(n: number, word: string): string {
  return `${count(n)} ${word}${n === 1 ? '' : 'es'}`;
}

function decidedWords(d: SourceDecision): string {
  return `${d.decision === 'authorised' ? 'Authorised' : 'Ignored'} by ${d.decidedBy ?? 'a former member'} on ${d.decidedAt.toISOString().slice(0, 10)}${d.note ? ` (“${d.note}”)` : ''}`;
}

/** How many of the service's addresses fall in each class, in words: "2 known service, 1 forwarded mail". */
export function classCounts(summary: ServiceSummary): string {
  const counts = new Map<SourceClass, number>();
  for (const a of summary.addresses) counts.set(a.classification.kind, (counts.get(a.classification.kind) ?? 0) + 1);
  return [...counts].map(([kind, n]) => `${count(n)} ${SOURCE_CLASS_LABELS[kind].toLowerCase()}`).join(', ');
}

/** What the page and the API say about the service first, in words. */
export function serviceVerdict(summary: ServiceSummary): { tone: Tone; text: string } {
  const { definition, addresses, history, decision } = summary;
  const name = definition.name;
  if (definition.category === null) {
    return { tone: 'neutral', text: `No entry defines “${definition.id}” any more; a decision about it remains. Undo it, or add an entry with this id again.` };
  }
  const own = addresses.filter((a) => ownDecisionOf(a) !== null).length;
  const except = own > 0 ? `, except ${plural(own, 'address')} with a decision of ${own === 1 ? 'its' : 'their'} own` : '';
  if (decision?.decision === 'authorised') {
    return { tone: 'good', text: `${decidedWords(decision)}: every address identified as ${name} counts as yours${except}.` };
  }
  if (decision?.decision === 'ignored') {
    return { tone: 'neutral', text: `${decidedWords(decision)}: its addresses are not brought to your attention${except}.` };
  }
  if (addresses.length === 0) return { tone: 'neutral', text: `No address sending as your domains was identified as ${name} in this period.` };
  if (definition.category === 'cloud') {
    return {
      tone: 'neutral',
      text: `${name} is a shared cloud network: anyone can rent a server there, so it names no sender. Judge each of its ${plural(addresses.length, 'address')} on its own.`,
    };
  }
  // Forwarding breaks SPF by design: forwarded mail that fails is no set-up problem of the service.
  const failedOf = (forwarded: boolean) => addresses.filter((a) => (a.classification.kind === 'forwarder') === forwarded).reduce((n, a) => n + a.dmarcFail, 0);
  const failed = failedOf(false);
  const forwardedFailed = failedOf(true);
  const forwarded = forwardedFailed > 0 ? ` ${count(forwardedFailed)} forwarded messages failed, as forwarded mail often does.` : '';
  if (failed === 0) {
    const passed = forwardedFailed === 0 ? `All ${count(history.messages)}` : `${count(history.messages - forwardedFailed)} of ${count(history.messages)}`;
    return { tone: 'good', text: `${passed} messages from its ${plural(addresses.length, 'address')} passed DMARC.${forwarded}` };
  }
  return {
    tone: 'warn',
    text:
      `${count(failed)} of ${count(history.messages)} messages from its ${plural(addresses.length, 'address')} failed DMARC. ` +
      `If you use ${name}, set up DKIM signing with your domain there; if you do not, someone else's account may be sending as you. ` +
      `Once you know, authorise or ignore the service below.${forwarded}`,
  };
}
