/**
 * Reverse DNS with forward confirmation (FCrDNS): the PTR names of an address, each checked by
 * looking up its A (IPv4) or AAAA (IPv6) records; a name counts only when those lead back to the
 * address. Anyone who controls the reverse zone of an address can make it say
 * `mail-x.google.com`; only Google can make `mail-x.google.com` resolve to it.
 */
import { isIP } from 'node:net';
import { DnsError, ipv6Bytes, type DnsResolver } from '../lib/dns.js';
import { normalizeDomain, organizationalDomain } from './org-domain.js';

/** PTR names checked for forward confirmation, at most. */
const MAX_NAMES = 3;

export interface ReverseDnsResult {
  /** The first forward-confirmed PTR name, else the first PTR name; null when there is none. */
  ptrHost: string | null;
  confirmed: boolean;
  /** Organisational domain of `ptrHost` (Public Suffix List). */
  ptrOrgDomain: string | null;
  /** A lookup that could not finish (timeout, SERVFAIL): the result may change on a retry. */
  problem: string | null;
}

/** Whether an answer of an A/AAAA lookup is the address (IPv6 compared byte for byte). */
export function sameAddress(a: string, b: string): boolean {
  const family = isIP(a);
  if (family === 0 || family !== isIP(b)) return false;
  if (family === 4) return a === b;
  return ipv6Bytes(a).join(',') === ipv6Bytes(b).join(',');
}

/** "does not exist" answers are facts; everything else may be gone on a retry. */
function isAbsence(error: unknown): boolean {
  return error instanceof DnsError && (error.kind === 'nxdomain' || error.kind === 'nodata');
}

/**
 * Looks up the address's PTR names and confirms them. Throws only when the PTR lookup itself could
 * not finish (a DnsError that is not an absence); a forward lookup that could not finish leaves the
 * name unconfirmed and is reported in `problem`.
 */
export async function reverseDns(resolver: DnsResolver, ip: string): Promise<ReverseDnsResult> {
  let names: string[];
  try {
    names = await resolver.reverse(ip);
  } catch (error) {
    if (isAbsence(error)) return { ptrHost: null, confirmed: false, ptrOrgDomain: null, problem: null };
    throw error;
  }
  const candidates = [...new Set(names.map(normalizeDomain).filter((n) => n !== ''))].slice(0, MAX_NAMES);
  if (candidates.length === 0) return { ptrHost: null, confirmed: false, ptrOrgDomain: null, problem: null };

  const problems: string[] = [];
  for (const name of candidates) {
    try {
      const addresses = isIP(ip) === 6 ? await resolver.aaaa(name) : await resolver.a(name);
      if (addresses.some((address) => sameAddress(address, ip))) return result(name, true, null);
    } catch (error) {
      if (!isAbsence(error)) problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  return result(candidates[0]!, false, problems.length > 0 ? `could not confirm the PTR name: ${problems.join('; ')}` : null);
}

function result(name: string, confirmed: boolean, problem: string | null): ReverseDnsResult {
  return { ptrHost: name, confirmed, ptrOrgDomain: organizationalDomain(name) || null, problem };
}
