/**
 * Classifying a source — one sending IP's records for one domain over a period — with the facts
 * that led there, so a page can say why. Rules, first match wins (docs/services.md has the table):
 *
 * 1. authorised     a member of the organisation said so
 * 2. forwarder      the reporter says the mail was forwarded (reasons forwarded / trusted_forwarder
 *                   / mailing_list, or an `arc=pass` comment), or DKIM aligned and passed while SPF
 *                   did not, from a host of an operator that forwards mail or runs mailing lists
 * 3. known_service  a named service matched (a shared cloud network is not a service)
 * 4. suspicious     failed both DKIM and SPF alignment in at least `suspiciousVolume` messages
 * 5. unknown        anything else; never counted as a failure
 *
 * Forwarded mail is never suspicious, whatever its results.
 */
import type { AlignmentResult } from './alignment.js';
import { matchServices, type ServiceEntry, type ServiceMatch } from './services.js';

export type SourceClass = 'authorised' | 'forwarder' | 'known_service' | 'suspicious' | 'unknown';

export const SOURCE_CLASS_LABELS: Record<SourceClass, string> = {
  authorised: 'Authorised',
  forwarder: 'Forwarded or mailing list',
  known_service: 'Known service',
  suspicious: 'Suspicious',
  unknown: 'Unknown',
};

/** One aggregate record of the source, with its recomputed alignment. */
export interface SourceRecord {
  count: number;
  alignment: AlignmentResult;
  reasons: ReadonlyArray<{ type: string; comment: string | null }>;
  /** The reporting organisation (for "ARC pass reported by …"). */
  reporter?: string | null;
}

export interface SourceEnrichment {
  /** Forward-confirmed PTR name, or null. */
  ptrHost?: string | null;
  ptrOrgDomain?: string | null;
  asn?: number | null;
  asnName?: string | null;
}

export interface SourceInput {
  sourceIp: string;
  records: readonly SourceRecord[];
  enrichment?: SourceEnrichment;
  /** A member marked this source as allowed to send for the domain. */
  authorised?: boolean;
  authorisedNote?: string | null;
}

export interface ClassifyOptions {
  /** Messages failing both alignments at or above which an unexplained source is suspicious (default 10). */
  suspiciousVolume?: number;
  /** The organisation's own service entries (matched before the catalogue). */
  extraServices?: readonly ServiceEntry[];
}

export interface SourceTotals {
  messages: number;
  dmarcPass: number;
  dkimAligned: number;
  spfAligned: number;
  /** Failed both DKIM and SPF alignment. */
  failedBoth: number;
  /** Records where the reporter's verdict differs from the recomputation, in messages. */
  disagreeing: number;
}

export interface Classification {
  kind: SourceClass;
  label: string;
  /** The best named-service match (null for none; a `cloud` match is reported in `network`). */
  service: ServiceMatch | null;
  /** A shared cloud network the source is in, when one matched. */
  network: ServiceMatch | null;
  /** Human-readable facts, the decisive ones first. */
  evidence: string[];
  totals: SourceTotals;
}

export const DEFAULT_SUSPICIOUS_VOLUME = 10;

const FORWARDING_REASONS = new Set(['forwarded', 'trusted_forwarder', 'mailing_list']);

export function classifySource(source: SourceInput, options: ClassifyOptions = {}): Classification {
  const threshold = options.suspiciousVolume ?? DEFAULT_SUSPICIOUS_VOLUME;
  const totals = sumTotals(source.records);
  const passingDkimDomains = unique(source.records.flatMap((r) => r.alignment.dkim.filter((d) => d.pass).map((d) => d.domain)));
  const matches = matchServices(
    {
      ptrHost: source.enrichment?.ptrHost ?? null,
      ptrOrgDomain: source.enrichment?.ptrOrgDomain ?? null,
      asn: source.enrichment?.asn ?? null,
      dkimDomains: passingDkimDomains,
    },
    options.extraServices,
  );
  const service = matches.find((m) => m.service.category !== 'cloud') ?? null;
  const network = matches.find((m) => m.service.category === 'cloud') ?? null;

  const context = [...serviceFacts(service, network, source.enrichment), ...authFacts(source.records)];
  const done = (kind: SourceClass, decisive: string[]): Classification => ({
    kind,
    label: SOURCE_CLASS_LABELS[kind],
    service,
    network,
    evidence: unique([...decisive, ...context]),
    totals,
  });

  if (source.authorised) {
    const note = source.authorisedNote?.trim();
    return done('authorised', [`Authorised by a member of this organisation${note ? `: ${note}` : ''}`]);
  }

  const reported = forwardingFacts(source.records);
  if (reported.length > 0) return done('forwarder', reported);

  const forwardingHost = matches.find((m) => m.service.forwards && m.evidence.some((e) => e.kind === 'ptr'));
  const dkimOnly = source.records.filter((r) => r.alignment.dkimAligned && !r.alignment.spfAligned).reduce((n, r) => n + r.count, 0);
  if (forwardingHost && dkimOnly > 0) {
    return done('forwarder', [
      `DKIM aligned and passed while SPF did not in ${plural(dkimOnly, 'message')}, from a host of ${forwardingHost.service.name}, ` +
        'which forwards mail or runs mailing lists',
    ]);
  }

  if (service) return done('known_service', service.evidence.map((e) => e.fact));

  if (totals.failedBoth >= threshold) {
    return done('suspicious', [
      `${plural(totals.failedBoth, 'message')} failed both DKIM and SPF alignment (threshold ${threshold}), ` +
        'with no sign of a known service or of forwarding',
    ]);
  }
  return done('unknown', []);
}

/** Reporter statements that the mail was forwarded: override reasons and ARC results. */
function forwardingFacts(records: readonly SourceRecord[]): string[] {
  const facts: string[] = [];
  for (const record of records) {
    const by = record.reporter ? ` (reported by ${record.reporter})` : '';
    for (const reason of record.reasons) {
      const type = reason.type.trim().toLowerCase();
      const comment = reason.comment?.trim() ?? '';
      if (FORWARDING_REASONS.has(type)) facts.push(`reason: ${type}${comment ? ` “${comment}”` : ''}${by}`);
      const arc = arcPass(comment);
      if (arc !== null) facts.push(`ARC pass reported by ${arc || record.reporter || 'the reporter'}`);
    }
  }
  return facts;
}

/**
 * For a reason comment containing `arc=pass`, the domain that sealed the ARC set when the comment
 * names one (`as[1].google.com=pass`), '' when it does not; null when there is no `arc=pass`.
 */
export function arcPass(comment: string): string | null {
  if (!/(^|[\s;,(])arc=pass\b/i.test(comment)) return null;
  const sealer = /\bas\[\d+\]\.([a-z0-9.-]+)=pass\b/i.exec(comment);
  return sealer ? sealer[1]!.toLowerCase() : '';
}

function serviceFacts(service: ServiceMatch | null, network: ServiceMatch | null, enrichment: SourceEnrichment | undefined): string[] {
  const facts: string[] = [];
  if (service) facts.push(...service.evidence.map((e) => e.fact));
  if (network) facts.push(...network.evidence.map((e) => e.fact));
  if (enrichment?.ptrHost && !facts.some((f) => f.startsWith('PTR '))) facts.push(`PTR ${enrichment.ptrHost} (no known service)`);
  if (enrichment?.asn != null && !facts.some((f) => f.startsWith(`AS${enrichment.asn} `))) {
    facts.push(`AS${enrichment.asn}${enrichment.asnName ? ` ${enrichment.asnName}` : ''}`);
  }
  return facts;
}

/** One line per distinct DKIM and SPF result, and the reporter disagreements. */
function authFacts(records: readonly SourceRecord[]): string[] {
  const dkim = new Map<string, number>();
  const spf = new Map<string, number>();
  let disagreements: string[] = [];
  for (const r of records) {
    for (const d of r.alignment.dkim) {
      const key = `DKIM signed by ${d.domain || '(no domain)'} (${d.result}, aligned: ${d.domainAligned ? 'yes' : 'no'})`;
      dkim.set(key, (dkim.get(key) ?? 0) + r.count);
    }
    if (r.alignment.dkim.length === 0) dkim.set('No DKIM signature', (dkim.get('No DKIM signature') ?? 0) + r.count);
    for (const s of r.alignment.spf) {
      const scope = s.scope ?? 'mfrom';
      const key = `SPF ${scope} ${s.domain || '(no domain)'} (${s.result}, aligned: ${s.counts && s.domainAligned ? 'yes' : 'no'})`;
      spf.set(key, (spf.get(key) ?? 0) + r.count);
    }
    if (r.alignment.explanation) disagreements.push(`Reporter disagrees: ${r.alignment.explanation}`);
  }
  disagreements = unique(disagreements);
  const lines = (m: Map<string, number>) => [...m].map(([fact, n]) => `${fact}: ${plural(n, 'message')}`);
  return [...lines(dkim), ...lines(spf), ...disagreements];
}

function sumTotals(records: readonly SourceRecord[]): SourceTotals {
  const t: SourceTotals = { messages: 0, dmarcPass: 0, dkimAligned: 0, spfAligned: 0, failedBoth: 0, disagreeing: 0 };
  for (const { count, alignment: a } of records) {
    t.messages += count;
    if (a.dmarcPass) t.dmarcPass += count;
    if (a.dkimAligned) t.dkimAligned += count;
    if (a.spfAligned) t.spfAligned += count;
    if (!a.dkimAligned && !a.spfAligned) t.failedBoth += count;
    if (a.disagrees) t.disagreeing += count;
  }
  return t;
}

function plural(n: number, word: string): string {
  return `${n.toLocaleString('en')} ${word}${n === 1 ? '' : 's'}`;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
