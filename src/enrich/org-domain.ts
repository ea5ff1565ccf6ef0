/**
 * Organisational domains (the "registrable" part of a host name), as DMARC uses them for relaxed
 * alignment and as enrichment uses them to group reverse-DNS names.
 *
 * Two methods exist:
 * - **Public Suffix List** (RFC 7489 §3.2): the organisational domain is the public suffix plus one
 *   label. Synchronous, needs no DNS, and is what most reporters still use. We use the list's
 *   ICANN *and* private sections: `alice.github.io` and `bob.github.io` are different owners, so
 *   mail from one must not align with the other (several DMARC implementations, OpenDMARC among
 *   them, load the whole list for the same reason).
 * - **DNS Tree Walk** (RFC 9989 §4.10, with RFC 9990 reports saying `discovery_method=treewalk`):
 *   the organisational domain follows the `_dmarc` records actually published (and their `psd=`
 *   tag). It needs DNS queries, so it is offered here as a pure function over a lookup the caller
 *   provides: the background enrichment job runs it through the caching resolver and hands the
 *   results to the alignment code as an `OrganizationalDomainOf` function.
 *
 * Recomputing alignment for stored reports uses the list by default: it is deterministic, needs no
 * network, and matches what the reporter most probably did; the tree walk gives a result that
 * depends on today's DNS, not on the DNS the reporter saw.
 */
import { domainToASCII } from 'node:url';
import { getDomain } from 'tldts';

/** Maps a (normalised) domain name to its organisational domain. */
export type OrganizationalDomainOf = (domain: string) => string;

/**
 * Lower-cased ASCII (A-label) form of a domain name, without surrounding whitespace, trailing
 * dots or an address's local part (`User@Example.COM.` → `example.com`). Returns '' for nothing.
 */
export function normalizeDomain(name: string | null | undefined): string {
  if (name === null || name === undefined) return '';
  let value = name.trim();
  const at = value.lastIndexOf('@');
  if (at >= 0) value = value.slice(at + 1);
  value = value.replace(/^<|>$/g, '').replace(/\.+$/, '').toLowerCase();
  if (value === '') return '';
  if (/[^\p{ASCII}]/u.test(value)) {
    const ascii = domainToASCII(value);
    if (ascii !== '') value = ascii;
  }
  return value;
}

/**
 * Organisational domain by the Public Suffix List (ICANN and private sections). A name that is
 * itself a public suffix, an IP address literal, or a single label is its own organisational
 * domain.
 */
export function organizationalDomain(name: string): string {
  const domain = normalizeDomain(name);
  if (domain === '') return '';
  return getDomain(domain, { allowPrivateDomains: true }) ?? domain;
}

/** True when the names have the same organisational domain (PSL unless told otherwise). */
export function sameOrganizationalDomain(a: string, b: string, orgDomainOf: OrganizationalDomainOf = organizationalDomain): boolean {
  const x = normalizeDomain(a);
  const y = normalizeDomain(b);
  if (x === '' || y === '') return false;
  return x === y || orgDomainOf(x) === orgDomainOf(y);
}

// ---------------------------------------------------------------------------------------------
// RFC 9989 DNS Tree Walk

/** TXT strings at a name (each record's character-strings already joined); [] when none. */
export type TxtLookup = (name: string) => Promise<string[]>;

export interface TreeWalkResult {
  organizationalDomain: string;
  /** The `_dmarc` names queried, in order. */
  queried: string[];
  /** The domains where exactly one valid DMARC record was found, with its psd tag. */
  records: Array<{ domain: string; psd: 'y' | 'n' | 'u' }>;
}

/**
 * The names a tree walk starting at `domain` queries (without the `_dmarc.` prefix): the domain
 * itself, then — skipping to at most four labels for long names — one label less each time, down
 * to the top-level domain. At most five names for any input.
 */
export function treeWalkTargets(domain: string): string[] {
  const labels = normalizeDomain(domain).split('.').filter((l) => l !== '');
  if (labels.length === 0) return [];
  const targets = [labels.join('.')];
  let rest = labels.length >= 5 ? labels.slice(labels.length - 4) : labels.slice(1);
  while (rest.length > 0) {
    targets.push(rest.join('.'));
    rest = rest.slice(1);
  }
  return targets;
}

/**
 * Organisational domain by the RFC 9989 DNS Tree Walk. Lookup errors propagate: the caller
 * decides whether a temporary DNS failure means "try later" (it should not be cached as "no
 * record").
 */
export async function treeWalkOrganizationalDomain(domain: string, lookup: TxtLookup): Promise<TreeWalkResult> {
  const start = normalizeDomain(domain);
  const targets = treeWalkTargets(start);
  const queried: string[] = [];
  const records: TreeWalkResult['records'] = [];
  for (const [index, target] of targets.entries()) {
    queried.push(`_dmarc.${target}`);
    const psd = singleDmarcRecordPsd(await lookup(`_dmarc.${target}`));
    if (psd === null) continue;
    records.push({ domain: target, psd });
    if (psd === 'n' || (psd === 'y' && index > 0)) break;
  }
  return { organizationalDomain: selectOrganizationalDomain(start, records), queried, records };
}

/** RFC 9989 §4.10.2 selection, from the longest name with a record to the shortest. */
function selectOrganizationalDomain(start: string, records: TreeWalkResult['records']): string {
  if (records.length === 0) return start;
  const startLabels = start.split('.');
  for (const { domain, psd } of records) {
    if (psd === 'n') return domain;
    if (psd === 'y' && domain !== start) {
      const depth = domain.split('.').length + 1;
      return startLabels.slice(startLabels.length - depth).join('.');
    }
  }
  return records[records.length - 1]!.domain;
}

/**
 * The psd tag of the single valid DMARC record among TXT strings ('u' when absent or unknown),
 * or null when there is none or more than one (RFC 9989: several records are all discarded).
 */
export function singleDmarcRecordPsd(txt: string[]): 'y' | 'n' | 'u' | null {
  const valid = txt.filter((t) => /^\s*v\s*=\s*DMARC1\s*(;|$)/.test(t));
  if (valid.length !== 1) return null;
  for (const part of valid[0]!.split(';')) {
    const m = /^\s*psd\s*=\s*([a-z])\s*$/i.exec(part);
    if (m) {
      const value = m[1]!.toLowerCase();
      return value === 'y' || value === 'n' ? value : 'u';
    }
  }
  return 'u';
}
