import { DnsError, type DnsResolver } from '../lib/dns.js';

/** Where the ownership record of a domain lives. */
export function proofRecordName(domain: string): string {
  return `_dmarcwatch.${domain}`;
}

export const PROOF_VALUE_PREFIX = 'dmarcwatch-verification=';

export function proofRecordValue(token: string): string {
  return `${PROOF_VALUE_PREFIX}${token}`;
}

/**
 * What one check found:
 * - `found`: a TXT record at `_dmarcwatch.<domain>` holds this domain's token;
 * - `missing`: no such record (the name does not exist, has no TXT, or only unrelated TXT records);
 * - `wrong_token`: a dmarcwatch-verification record is there, with another token;
 * - `dns_error`: DNS did not answer (timeout, SERVFAIL…): nothing is known about the record.
 */
export type ProofOutcome = 'found' | 'missing' | 'wrong_token' | 'dns_error';

export interface ProofCheck {
  outcome: ProofOutcome;
  /** What is wrong, in words; null when found. */
  problem: string | null;
}

/** Text as published, with the quotes some DNS panels keep around the value removed. */
function unquoted(text: string): string {
  const trimmed = text.trim();
  return trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"') ? trimmed.slice(1, -1).trim() : trimmed;
}

/** Looks up the ownership record of `domain` and compares it with the token. */
export async function checkProofRecord(resolver: DnsResolver, domain: string, token: string): Promise<ProofCheck> {
  const name = proofRecordName(domain);
  let records: string[];
  try {
    records = await resolver.txt(name);
  } catch (error) {
    if (!(error instanceof DnsError)) throw error;
    if (error.kind === 'nxdomain' || error.kind === 'nodata') return { outcome: 'missing', problem: `no TXT record at ${name}` };
    if (error.kind === 'timeout') return { outcome: 'dns_error', problem: `DNS timed out looking up TXT at ${name}; will try again` };
    return { outcome: 'dns_error', problem: `${error.message}; will try again` };
  }
  const values = records.map(unquoted);
  if (values.includes(proofRecordValue(token))) return { outcome: 'found', problem: null };
  if (values.some((value) => value.startsWith(PROOF_VALUE_PREFIX))) {
    return { outcome: 'wrong_token', problem: `the TXT record holds a different token: publish "${proofRecordValue(token)}" at ${name}` };
  }
  return { outcome: 'missing', problem: `no dmarcwatch-verification TXT record at ${name} (${records.length} other TXT record${records.length === 1 ? '' : 's'} there)` };
}
