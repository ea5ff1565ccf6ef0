import { BlockList, isIP } from 'node:net';
import type { Context } from 'hono';

/** Node's IncomingMessage as @hono/node-server passes it in `c.env`; absent under `app.request()` without env. */
interface NodeBindings {
  incoming?: { socket?: { remoteAddress?: string } };
  server?: { incoming?: { socket?: { remoteAddress?: string } } };
}

export interface TrustedProxies {
  has(address: string): boolean;
}

export function trustedProxies(entries: readonly string[]): TrustedProxies {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split('/') as [string, string | undefined];
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  if (entries.length === 0) return { has: () => false };
  // Peers repeat (a proxy, a few clients): BlockList.check builds a SocketAddress on every call.
  const known = new Map<string, boolean>();
  return {
    has(address) {
      let trusted = known.get(address);
      if (trusted === undefined) {
        const family = isIP(address);
        trusted = family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
        if (known.size >= 1024) known.clear();
        known.set(address, trusted);
      }
      return trusted;
    },
  };
}

/** `::ffff:192.0.2.1` (an IPv4 peer on a dual-stack socket) → `192.0.2.1`. */
export function normalizeIp(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? (mapped[1] as string) : address.toLowerCase();
}

export function peerAddress(c: Context): string | null {
  const env = c.env as NodeBindings | undefined;
  const address = env?.incoming?.socket?.remoteAddress ?? env?.server?.incoming?.socket?.remoteAddress;
  return address ? normalizeIp(address) : null;
}

export interface ClientInfo {
  /** The client's address: the socket peer, or from X-Forwarded-For when the peer is a trusted proxy. */
  ip: string | null;
  /** `https` or `http` as the client used it (X-Forwarded-Proto, believed only from a trusted proxy). */
  proto: 'http' | 'https';
  /** The request came through a trusted proxy. */
  proxied: boolean;
}

/**
 * Walks X-Forwarded-For from the right (the entry the trusted peer itself added) past every trusted
 * proxy; the first address not trusted is the client. Entries to its left were written by the
 * client and are ignored, so a client cannot choose its own address.
 */
export function clientInfo(c: Context, trusted: TrustedProxies): ClientInfo {
  const peer = peerAddress(c);
  if (peer === null || !trusted.has(peer)) return { ip: peer, proto: 'http', proxied: false };
  const forwarded = (c.req.header('x-forwarded-for') ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  let ip = peer;
  for (let i = forwarded.length - 1; i >= 0; i--) {
    const candidate = forwarded[i] as string;
    if (isIP(candidate) === 0) break;
    ip = normalizeIp(candidate);
    if (!trusted.has(ip)) break;
  }
  const proto = (c.req.header('x-forwarded-proto') ?? '').split(',')[0]?.trim().toLowerCase() === 'https' ? 'https' : 'http';
  return { ip, proto, proxied: true };
}

/** Rate-limit key for an address: IPv6 clients usually hold a whole /64, so they are counted per /64. */
export function ipRateKey(ip: string | null): string {
  if (ip === null) return 'unknown';
  if (isIP(ip) !== 6) return ip;
  const groups = expandIpv6(ip);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : ip;
}

function expandIpv6(ip: string): string[] | null {
  const [head, tail, ...rest] = ip.split('::');
  if (rest.length > 0 || head === undefined) return null;
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  if (right.some((g) => g.includes('.')) || left.some((g) => g.includes('.'))) return null;
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return null;
  return [...left, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...right].map((g) => g.padStart(4, '0'));
}
