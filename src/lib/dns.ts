import { isIP } from 'node:net';
import { Resolver } from 'node:dns/promises';

/**
 * Why a lookup gave no answer:
 * - `nxdomain`: the name does not exist;
 * - `nodata`: the name exists but has no record of the type asked for;
 * - `timeout`: no server answered in time (after the retries);
 * - `servfail`: the server could not answer (broken delegation, DNSSEC failure…) or refused to;
 * - `error`: anything else (malformed answer, no usable server, bad name).
 */
export type DnsErrorKind = 'nxdomain' | 'nodata' | 'timeout' | 'servfail' | 'error';

export class DnsError extends Error {
  constructor(
    readonly kind: DnsErrorKind,
    /** The name looked up. */
    readonly hostname: string,
    /** The record type asked for, e.g. TXT. */
    readonly rrtype: string,
    /** The resolver's own code (ENOTFOUND, ETIMEOUT…), for logs. */
    readonly code: string,
  ) {
    super(describeDnsError(kind, hostname, rrtype));
    this.name = 'DnsError';
  }
}

/** The failure in words, e.g. "no TXT record at _dmarc.example.com". */
export function describeDnsError(kind: DnsErrorKind, hostname: string, rrtype: string): string {
  switch (kind) {
    case 'nxdomain':
      return `${hostname} does not exist in DNS`;
    case 'nodata':
      return `no ${rrtype} record at ${hostname}`;
    case 'timeout':
      return `DNS timed out looking up ${rrtype} at ${hostname}`;
    case 'servfail':
      return `the DNS servers failed to answer for ${rrtype} at ${hostname} (SERVFAIL)`;
    default:
      return `DNS lookup of ${rrtype} at ${hostname} failed`;
  }
}

export interface MxRecord {
  exchange: string;
  priority: number;
}

/** DNS lookups; each throws DnsError when there is no answer. */
export interface DnsResolver {
  /** TXT records, each with its character-strings joined (as SPF, DKIM and DMARC read them). */
  txt(name: string): Promise<string[]>;
  a(name: string): Promise<string[]>;
  aaaa(name: string): Promise<string[]>;
  mx(name: string): Promise<MxRecord[]>;
  cname(name: string): Promise<string[]>;
  /** PTR records at a name (e.g. 4.3.2.1.in-addr.arpa). */
  ptr(name: string): Promise<string[]>;
  /** Host names of an IPv4 or IPv6 address (PTR at its reverse name). */
  reverse(ip: string): Promise<string[]>;
}

export interface DnsOptions {
  /** `ip` or `ip:port` (`[ipv6]:port`) entries; empty: the system's resolvers. */
  servers?: readonly string[];
  /** Time to wait for one answer, in milliseconds. */
  timeoutMs?: number;
  /** Attempts per server before a lookup times out (the retry). */
  tries?: number;
}

export const DNS_DEFAULT_TIMEOUT_MS = 3000;
export const DNS_DEFAULT_TRIES = 2;

const KIND_OF_CODE: Record<string, DnsErrorKind> = {
  ENOTFOUND: 'nxdomain',
  ENODATA: 'nodata',
  ETIMEOUT: 'timeout',
  ESERVFAIL: 'servfail',
  EREFUSED: 'servfail',
};

function toDnsError(error: unknown, hostname: string, rrtype: string): DnsError {
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : 'EUNKNOWN';
  return new DnsError(KIND_OF_CODE[code] ?? 'error', hostname, rrtype, code);
}

/** A lookup name without its trailing dot, lower-case. */
function lookupName(name: string): string {
  return name.trim().replace(/\.$/, '').toLowerCase();
}

/** The PTR name of an address: 4.3.2.1.in-addr.arpa or the nibbles of an IPv6 address under ip6.arpa. */
export function reverseName(ip: string): string {
  const family = isIP(ip);
  if (family === 4) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  if (family === 6) {
    const nibbles = ipv6Bytes(ip)
      .flatMap((byte) => [byte >> 4, byte & 0xf])
      .map((n) => n.toString(16));
    return `${nibbles.reverse().join('.')}.ip6.arpa`;
  }
  throw new TypeError(`not an IP address: ${ip}`);
}

/** The 16 bytes of an IPv6 address (with :: and an embedded IPv4 tail expanded). */
export function ipv6Bytes(ip: string): number[] {
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = (v4[1] as string).split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const left = groups(head);
  const right = groups(tail);
  const missing = 8 - left.length - right.length;
  const all = tail === undefined ? left : [...left, ...Array<string>(missing).fill('0'), ...right];
  return all.flatMap((group) => {
    const value = parseInt(group, 16);
    return [value >> 8, value & 0xff];
  });
}

/**
 * A resolver on the servers given (or the system's): every lookup has a timeout and is tried again
 * once by default before it fails. Answers may be cached for their TTL by the underlying library.
 */
export function createDnsResolver(options: DnsOptions = {}): DnsResolver {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? DNS_DEFAULT_TIMEOUT_MS, tries: options.tries ?? DNS_DEFAULT_TRIES });
  if (options.servers && options.servers.length > 0) resolver.setServers([...options.servers]);

  async function lookup<T>(rrtype: string, name: string, run: (host: string) => Promise<T[]>): Promise<T[]> {
    const host = lookupName(name);
    let answers: T[];
    try {
      answers = await run(host);
    } catch (error) {
      throw toDnsError(error, host, rrtype);
    }
    if (answers.length === 0) throw new DnsError('nodata', host, rrtype, 'ENODATA');
    return answers;
  }

  return {
    txt: (name) => lookup('TXT', name, async (host) => (await resolver.resolveTxt(host)).map((chunks) => chunks.join(''))),
    a: (name) => lookup('A', name, (host) => resolver.resolve4(host)),
    aaaa: (name) => lookup('AAAA', name, (host) => resolver.resolve6(host)),
    mx: (name) => lookup('MX', name, async (host) => (await resolver.resolveMx(host)).map(({ exchange, priority }) => ({ exchange, priority }))),
    cname: (name) => lookup('CNAME', name, (host) => resolver.resolveCname(host)),
    ptr: (name) => lookup('PTR', name, (host) => resolver.resolvePtr(host)),
    reverse: (ip) => lookup('PTR', reverseName(ip), (host) => resolver.resolvePtr(host)),
  };
}

/** Checks one DMARCWATCH_DNS_SERVERS entry: `ip`, `ip:port` or `[ipv6]:port`; returns a problem or null. */
export function dnsServerProblem(entry: string): string | null {
  if (isIP(entry) !== 0) return null;
  const bracketed = /^\[([^\]]+)\]:(\d{1,5})$/.exec(entry);
  const plain = /^([^:]+):(\d{1,5})$/.exec(entry);
  const match = bracketed ?? plain;
  if (!match) return 'expected an IP address, ip:port or [ipv6]:port';
  if (isIP(match[1] as string) === 0) return 'expected an IP address, not a host name';
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return 'expected a port between 1 and 65535';
  return null;
}

const shared = new WeakMap<DnsOptions, DnsResolver>();

/** One resolver per settings object (e.g. the configuration's), built on first use. */
export function sharedDnsResolver(options: DnsOptions): DnsResolver {
  let resolver = shared.get(options);
  if (!resolver) {
    resolver = createDnsResolver(options);
    shared.set(options, resolver);
  }
  return resolver;
}
