/**
 * The evidence of a source: what the records of one sending address for one domain say, summed up
 * so that a page can classify the address without reading the records. Records are grouped by every
 * fact the classifier reads (reporter, recomputed alignment with its DKIM and SPF checks, override
 * reasons); a group keeps its message count and the position of its newest record, so classifying
 * the groups gives what classifying the records, newest first, gives.
 */
import { dayOf } from '../analytics/period.js';
import type { AlignmentResult, DkimCheck, SpfCheck } from '../enrich/alignment.js';
import type { SourceRecord } from '../enrich/classify.js';

/** Days of records the evidence covers, ending today (UTC). */
export const EVIDENCE_WINDOW_DAYS = 90;

export interface EvidenceGroup {
  reporter: string;
  dmarcPass: boolean;
  dkimAligned: boolean;
  spfAligned: boolean;
  /** The reporter's verdicts differ from the recomputation, in words; null when they agree. */
  explanation: string | null;
  dkim: Array<{ domain: string; result: string; pass: boolean; domainAligned: boolean }>;
  spf: Array<{ domain: string; scope: string | null; result: string; counts: boolean; domainAligned: boolean }>;
  reasons: Array<{ type: string; comment: string | null }>;
  messages: number;
  records: number;
  /** The newest record of the group, in the order records are read: report end (ISO), report id, record ordinal. */
  newest: [string, number, number];
}

export interface SourceEvidence {
  domain: string;
  ip: string;
  messages: number;
  records: number;
  firstDay: string;
  lastDay: string;
  /** DKIM d= domains with their results, in messages. */
  dkim: Array<{ domain: string; result: string; messages: number }>;
  spf: Array<{ domain: string; scope: string | null; result: string; messages: number }>;
  /** Override reasons with their comments (e.g. Google's `arc=pass …`), in messages. */
  reasons: Array<{ type: string; comment: string | null; messages: number }>;
  /** Newest first. */
  groups: EvidenceGroup[];
  computedAt: Date;
}

/** What the evidence needs from one stored record and its report. */
export interface EvidenceRecord {
  reportId: number;
  ordinal: number;
  sourceIp: string;
  count: number;
  reporter: string;
  beginAt: Date;
  endAt: Date;
  reasons: ReadonlyArray<{ type: string; comment: string | null }>;
}

/** Newest first: report end descending, then report id descending, then record ordinal. */
export function compareNewest(a: EvidenceGroup['newest'], b: EvidenceGroup['newest']): number {
  return a[0] !== b[0] ? (a[0] < b[0] ? 1 : -1) : a[1] !== b[1] ? b[1] - a[1] : a[2] - b[2];
}

function isNewer(a: EvidenceGroup['newest'], b: EvidenceGroup['newest']): boolean {
  return compareNewest(a, b) < 0;
}

/** Collects the records of one domain's reports into evidence per sending address. */
export class EvidenceBuilder {
  private readonly sources = new Map<string, { groups: Map<string, EvidenceGroup>; first: number; last: number }>();

  constructor(private readonly domain: string) {}

  add(record: EvidenceRecord, alignment: AlignmentResult): void {
    const facts = {
      reporter: record.reporter,
      dmarcPass: alignment.dmarcPass,
      dkimAligned: alignment.dkimAligned,
      spfAligned: alignment.spfAligned,
      explanation: alignment.explanation,
      dkim: alignment.dkim.map((d) => ({ domain: d.domain, result: d.result, pass: d.pass, domainAligned: d.domainAligned })),
      spf: alignment.spf.map((s) => ({ domain: s.domain, scope: s.scope, result: s.result, counts: s.counts, domainAligned: s.domainAligned })),
      reasons: record.reasons.map((r) => ({ type: r.type, comment: r.comment })),
    };
    const key = JSON.stringify(facts);
    const position: EvidenceGroup['newest'] = [record.endAt.toISOString(), record.reportId, record.ordinal];
    let source = this.sources.get(record.sourceIp);
    if (!source) {
      source = { groups: new Map(), first: record.beginAt.getTime(), last: record.endAt.getTime() };
      this.sources.set(record.sourceIp, source);
    }
    source.first = Math.min(source.first, record.beginAt.getTime());
    source.last = Math.max(source.last, record.endAt.getTime());
    const group = source.groups.get(key);
    if (group) {
      group.messages += record.count;
      group.records += 1;
      if (isNewer(position, group.newest)) group.newest = position;
    } else {
      source.groups.set(key, { ...facts, messages: record.count, records: 1, newest: position });
    }
  }

  get size(): number {
    return this.sources.size;
  }

  build(computedAt: Date): SourceEvidence[] {
    return [...this.sources].map(([ip, source]) => {
      const groups = [...source.groups.values()].sort((a, b) => compareNewest(a.newest, b.newest));
      return {
        domain: this.domain,
        ip,
        messages: groups.reduce((n, g) => n + g.messages, 0),
        records: groups.reduce((n, g) => n + g.records, 0),
        firstDay: dayOf(new Date(source.first)),
        // A report of one day ends at 23:59:59 or at the next midnight.
        lastDay: dayOf(new Date(Math.max(source.first, source.last - 1000))),
        ...summarise(groups),
        groups,
        computedAt,
      };
    });
  }
}

/** DKIM, SPF and reason summaries of groups, each in the order first met (newest first). */
export function summarise(groups: readonly EvidenceGroup[]): Pick<SourceEvidence, 'dkim' | 'spf' | 'reasons'> {
  const dkim = new Map<string, SourceEvidence['dkim'][number]>();
  const spf = new Map<string, SourceEvidence['spf'][number]>();
  const reasons = new Map<string, SourceEvidence['reasons'][number]>();
  // Items are written out whole: adding a property to a spread object is slow in V8.
  const add = <T extends { messages: number }>(map: Map<string, T>, key: string, item: T) => {
    const found = map.get(key);
    if (found) found.messages += item.messages;
    else map.set(key, item);
  };
  for (const g of groups) {
    for (const d of g.dkim) add(dkim, `${d.domain}\u0000${d.result}`, { domain: d.domain, result: d.result, messages: g.messages });
    for (const s of g.spf) add(spf, `${s.scope ?? ''}\u0000${s.domain}\u0000${s.result}`, { domain: s.domain, scope: s.scope, result: s.result, messages: g.messages });
    for (const r of g.reasons) add(reasons, `${r.type}\u0000${r.comment ?? ''}`, { type: r.type, comment: r.comment, messages: g.messages });
  }
  return { dkim: [...dkim.values()], spf: [...spf.values()], reasons: [...reasons.values()] };
}

/**
 * The classifier's input for groups of records: one record per group, carrying the group's messages
 * and the alignment facts the classifier reads (the header From domain and modes are not kept).
 */
export function classifierRecords(groups: readonly EvidenceGroup[]): SourceRecord[] {
  return groups.map((g) => {
    // Written out rather than `{ ...d, aligned }`: adding to a spread object is slow in V8 (most of the time a page of sources took to classify).
    const dkim: DkimCheck[] = g.dkim.map((d) => ({ domain: d.domain, selector: null, result: d.result, pass: d.pass, domainAligned: d.domainAligned, aligned: d.pass && d.domainAligned }));
    const spf: SpfCheck[] = g.spf.map((s) => {
      const pass = s.result === 'pass';
      return { domain: s.domain, scope: s.scope, result: s.result, pass, counts: s.counts, domainAligned: s.domainAligned, aligned: s.counts && pass && s.domainAligned };
    });
    const alignment: AlignmentResult = {
      headerFrom: '',
      dkimMode: 'relaxed',
      spfMode: 'relaxed',
      dkimAligned: g.dkimAligned,
      spfAligned: g.spfAligned,
      dmarcPass: g.dmarcPass,
      alignedDkim: dkim.find((d) => d.aligned) ?? null,
      alignedSpf: spf.find((s) => s.aligned) ?? null,
      dkim,
      spf,
      disagrees: g.explanation !== null,
      disagreements: [],
      explanation: g.explanation,
    };
    return { count: g.messages, alignment, reasons: g.reasons, reporter: g.reporter };
  });
}

/** The evidence of one address across domains: every group, newest first. */
export function mergedGroups(evidence: readonly SourceEvidence[]): EvidenceGroup[] {
  return evidence.flatMap((e) => e.groups).sort((a, b) => compareNewest(a.newest, b.newest));
}
