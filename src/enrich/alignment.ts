/**
 * DMARC identifier alignment recomputed for one aggregate-report record from its auth_results
 * (RFC 7489 §3.1, RFC 9989 §4.4), under the adkim/aspf the report says were published, and
 * compared with the verdicts the reporter wrote in policy_evaluated.
 *
 * A DKIM result aligns when it passed and its d= domain matches the header_from domain (strict:
 * the same name; relaxed: the same organisational domain). An SPF result aligns the same way,
 * but only for the MAIL FROM identity: results with scope `mfrom` or with no scope (older
 * reports) count; `helo` results never do. DMARC passes when either aligns.
 */
import type { AggregateRecordDkim, AggregateRecordSpf, AggregateRecord as StoredRecord } from '../db/schema.js';
import { normalizeDomain, organizationalDomain, type OrganizationalDomainOf } from './org-domain.js';

export type AlignmentMode = 'relaxed' | 'strict';

/** What alignment needs from a record: the parser's AggregateRecord (src/reports/types.ts) has this shape. */
export interface AlignmentRecord {
  headerFrom: string;
  /** The reporter's policy_evaluated verdicts (`pass` | `fail` | other | null). */
  dkim: string | null;
  spf: string | null;
  dkimResults: ReadonlyArray<{ domain: string; selector?: string | null; result: string }>;
  spfResults: ReadonlyArray<{ domain: string; scope?: string | null; result: string }>;
}

/** The published alignment modes: the parser's PolicyPublished or a stored aggregate_report row. */
export interface AlignmentPolicy {
  adkim: string | null;
  aspf: string | null;
}

export interface DkimCheck {
  domain: string;
  selector: string | null;
  result: string;
  pass: boolean;
  /** The d= domain matches header_from under the published mode (whatever the result). */
  domainAligned: boolean;
  /** Passed and domain-aligned: this signature makes DKIM aligned. */
  aligned: boolean;
}

export interface SpfCheck {
  domain: string;
  scope: string | null;
  result: string;
  pass: boolean;
  /** Scope is MAIL FROM (or unstated): only these count for DMARC. */
  counts: boolean;
  domainAligned: boolean;
  /** Counts, passed and domain-aligned. */
  aligned: boolean;
}

export interface Disagreement {
  mechanism: 'dkim' | 'spf';
  reported: 'pass' | 'fail';
  recomputed: 'pass' | 'fail';
  explanation: string;
}

export interface AlignmentResult {
  /** Normalised header_from domain (several, comma-separated, when the From field had several). */
  headerFrom: string;
  dkimMode: AlignmentMode;
  spfMode: AlignmentMode;
  dkimAligned: boolean;
  spfAligned: boolean;
  dmarcPass: boolean;
  /** The first DKIM signature that aligned, or null. */
  alignedDkim: DkimCheck | null;
  /** The first SPF result that aligned, or null. */
  alignedSpf: SpfCheck | null;
  dkim: DkimCheck[];
  spf: SpfCheck[];
  /** True when a pass/fail verdict of the reporter differs from the recomputation. */
  disagrees: boolean;
  disagreements: Disagreement[];
  /** The disagreements in words, or null. */
  explanation: string | null;
}

export interface AlignmentOptions {
  /** Organisational domains for relaxed mode (default: Public Suffix List). */
  orgDomainOf?: OrganizationalDomainOf;
}

/** adkim/aspf value → mode; anything but `s` is relaxed (the default of RFC 7489 and RFC 9989). */
export function alignmentMode(value: string | null | undefined): AlignmentMode {
  return value?.trim().toLowerCase() === 's' ? 'strict' : 'relaxed';
}

/** True when `domain` aligns with `headerFrom` under `mode`. Empty or `NULL` domains never align. */
export function domainsAlign(
  domain: string,
  headerFrom: string,
  mode: AlignmentMode,
  orgDomainOf: OrganizationalDomainOf = organizationalDomain,
): boolean {
  const a = normalizeDomain(domain);
  const b = normalizeDomain(headerFrom);
  if (a === '' || b === '' || a === 'null') return false;
  if (a === b) return true;
  return mode === 'relaxed' && orgDomainOf(a) === orgDomainOf(b);
}

/**
 * The header_from domains. Reporters write one domain, but a From field with several addresses
 * comes out as a comma-separated list (`pages.example.com, example.com`): an identifier then has
 * to align with every one of them.
 */
export function headerFromDomains(headerFrom: string): string[] {
  return [...new Set(headerFrom.split(/[,;\s]+/).map(normalizeDomain).filter((d) => d !== ''))];
}

/** Recomputes DMARC alignment for one record. */
export function recomputeAlignment(
  record: AlignmentRecord,
  policy: AlignmentPolicy,
  options: AlignmentOptions = {},
): AlignmentResult {
  const orgDomainOf = options.orgDomainOf ?? organizationalDomain;
  const fromDomains = headerFromDomains(record.headerFrom);
  const headerFrom = fromDomains.join(', ');
  const aligns = (domain: string, mode: AlignmentMode) =>
    fromDomains.length > 0 && fromDomains.every((from) => domainsAlign(domain, from, mode, orgDomainOf));
  const dkimMode = alignmentMode(policy.adkim);
  const spfMode = alignmentMode(policy.aspf);

  const dkim: DkimCheck[] = record.dkimResults.map((r) => {
    const result = r.result.trim().toLowerCase();
    const pass = result === 'pass';
    const domainAligned = aligns(r.domain, dkimMode);
    return { domain: normalizeDomain(r.domain), selector: r.selector ?? null, result, pass, domainAligned, aligned: pass && domainAligned };
  });
  const spf: SpfCheck[] = record.spfResults.map((r) => {
    const result = r.result.trim().toLowerCase();
    const scope = r.scope ? r.scope.trim().toLowerCase() : null;
    const counts = scope === null || scope === '' || scope === 'mfrom';
    const pass = result === 'pass';
    const domainAligned = aligns(r.domain, spfMode);
    return { domain: normalizeDomain(r.domain), scope, result, pass, counts, domainAligned, aligned: counts && pass && domainAligned };
  });

  const alignedDkim = dkim.find((c) => c.aligned) ?? null;
  const alignedSpf = spf.find((c) => c.aligned) ?? null;
  const base = {
    headerFrom,
    dkimMode,
    spfMode,
    dkimAligned: alignedDkim !== null,
    spfAligned: alignedSpf !== null,
    dmarcPass: alignedDkim !== null || alignedSpf !== null,
    alignedDkim,
    alignedSpf,
    dkim,
    spf,
  };

  const disagreements: Disagreement[] = [];
  const dkimVerdict = verdict(record.dkim);
  if (dkimVerdict !== null && (dkimVerdict === 'pass') !== base.dkimAligned) {
    disagreements.push({
      mechanism: 'dkim',
      reported: dkimVerdict,
      recomputed: base.dkimAligned ? 'pass' : 'fail',
      explanation: explainDkim(dkimVerdict, base),
    });
  }
  const spfVerdict = verdict(record.spf);
  if (spfVerdict !== null && (spfVerdict === 'pass') !== base.spfAligned) {
    disagreements.push({
      mechanism: 'spf',
      reported: spfVerdict,
      recomputed: base.spfAligned ? 'pass' : 'fail',
      explanation: explainSpf(spfVerdict, base),
    });
  }
  return {
    ...base,
    disagrees: disagreements.length > 0,
    disagreements,
    explanation: disagreements.length > 0 ? disagreements.map((d) => d.explanation).join(' ') : null,
  };
}

/** The reporter's verdict when it is a plain pass or fail; other values are not compared. */
function verdict(value: string | null): 'pass' | 'fail' | null {
  const v = value?.trim().toLowerCase();
  return v === 'pass' || v === 'fail' ? v : null;
}

type Computed = Omit<AlignmentResult, 'disagrees' | 'disagreements' | 'explanation'>;

const LATER =
  'This is typical of forwarded mail (the reporter judged a copy whose signature or envelope differed) ' +
  'or of a reporter that evaluated the policy at a different time than it recorded the results.';

function explainDkim(reported: 'pass' | 'fail', c: Computed): string {
  const mode = `${c.dkimMode} alignment with ${c.headerFrom || 'the header From domain'}`;
  if (reported === 'fail') {
    const s = c.alignedDkim!;
    return `The reporter says DKIM failed, but the signature of ${s.domain} passed and is in ${mode}. ${LATER}`;
  }
  if (c.dkim.length === 0) return `The reporter says DKIM passed, but the record lists no DKIM result.`;
  const passing = c.dkim.filter((s) => s.pass);
  const alignedNotPassing = c.dkim.filter((s) => s.domainAligned && !s.pass);
  const parts: string[] = [`The reporter says DKIM passed, but no passing signature is in ${mode}.`];
  if (passing.length > 0) parts.push(`Passed but not aligned: ${unique(passing.map((s) => s.domain)).join(', ')}.`);
  if (alignedNotPassing.length > 0) {
    parts.push(`Aligned but not passing: ${alignedNotPassing.map((s) => `${s.domain} (${s.result})`).join(', ')}.`);
  }
  return parts.join(' ');
}

function explainSpf(reported: 'pass' | 'fail', c: Computed): string {
  const mode = `${c.spfMode} alignment with ${c.headerFrom || 'the header From domain'}`;
  if (reported === 'fail') {
    const s = c.alignedSpf!;
    return `The reporter says SPF failed, but the SPF check of ${s.domain} passed and is in ${mode}. ${LATER}`;
  }
  if (c.spf.length === 0) return `The reporter says SPF passed, but the record lists no SPF result.`;
  const parts: string[] = [`The reporter says SPF passed, but no passing MAIL FROM result is in ${mode}.`];
  const helo = c.spf.filter((s) => !s.counts && s.pass);
  const passing = c.spf.filter((s) => s.counts && s.pass);
  const alignedNotPassing = c.spf.filter((s) => s.counts && s.domainAligned && !s.pass);
  if (helo.length > 0) parts.push(`Passed only for the HELO identity, which DMARC does not use: ${unique(helo.map((s) => s.domain)).join(', ')}.`);
  if (passing.length > 0) parts.push(`Passed but not aligned: ${unique(passing.map((s) => s.domain)).join(', ')}.`);
  if (alignedNotPassing.length > 0) {
    parts.push(`Aligned but not passing: ${alignedNotPassing.map((s) => `${s.domain} (${s.result})`).join(', ')}.`);
  }
  return parts.join(' ');
}

function unique(values: string[]): string[] {
  return [...new Set(values.map((v) => v || '(empty)'))];
}

// ---------------------------------------------------------------------------------------------
// Adapters

/** The alignment view of a stored record and its DKIM/SPF rows (rows in their stored order). */
export function fromStoredRecord(
  record: Pick<StoredRecord, 'header_from' | 'dkim_eval' | 'spf_eval'>,
  dkimRows: ReadonlyArray<Pick<AggregateRecordDkim, 'domain' | 'selector' | 'result'>>,
  spfRows: ReadonlyArray<Pick<AggregateRecordSpf, 'domain' | 'scope' | 'result'>>,
): AlignmentRecord {
  return {
    headerFrom: record.header_from,
    dkim: record.dkim_eval,
    spf: record.spf_eval,
    dkimResults: dkimRows.map((r) => ({ domain: r.domain, selector: r.selector, result: r.result })),
    spfResults: spfRows.map((r) => ({ domain: r.domain, scope: r.scope, result: r.result })),
  };
}
