import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { clientInfo, normalizeIp, trustedProxies, type ClientInfo } from '../../src/http/client-ip.js';

async function seen(peer: string | undefined, headers: Record<string, string>, trusted: string[]): Promise<ClientInfo> {
  const app = new Hono();
  let info: ClientInfo | undefined;
  const proxies = trustedProxies(trusted);
  app.get('/', (c) => {
    info = clientInfo(c, proxies);
    return c.text('ok');
  });
  await app.request('http://app/', { headers }, peer === undefined ? undefined : { incoming: { socket: { remoteAddress: peer } } });
  return info!;
}

describe('client address', () => {
  it('is the socket peer when no proxy is trusted, whatever the headers say', async () => {
    expect(await seen('198.51.100.1', { 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https' }, [])).toEqual({ ip: '198.51.100.1', proto: 'http', proxied: false });
  });

  it('ignores forwarding headers from a peer that is not a trusted proxy', async () => {
    expect((await seen('198.51.100.1', { 'x-forwarded-for': '1.2.3.4' }, ['10.0.0.0/8'])).ip).toBe('198.51.100.1');
  });

  it('takes the address the trusted proxy saw, not what the client claimed before it', async () => {
    const info = await seen('10.0.0.2', { 'x-forwarded-for': '6.6.6.6, 203.0.113.7', 'x-forwarded-proto': 'https' }, ['10.0.0.0/8']);
    expect(info).toEqual({ ip: '203.0.113.7', proto: 'https', proxied: true });
  });

  it('skips a chain of trusted proxies', async () => {
    const info = await seen('10.0.0.2', { 'x-forwarded-for': '203.0.113.7, 172.16.0.5, 10.9.9.9' }, ['10.0.0.0/8', '172.16.0.0/12']);
    expect(info.ip).toBe('203.0.113.7');
  });

  it('stops at garbage in the header', async () => {
    expect((await seen('10.0.0.2', { 'x-forwarded-for': '203.0.113.7, not-an-ip' }, ['10.0.0.0/8'])).ip).toBe('10.0.0.2');
  });

  it('handles IPv6 proxies and IPv4-mapped peers', async () => {
    expect((await seen('fd00::1', { 'x-forwarded-for': '2001:db8::9' }, ['fd00::/8'])).ip).toBe('2001:db8::9');
    expect((await seen('::ffff:10.0.0.3', { 'x-forwarded-for': '203.0.113.8' }, ['10.0.0.3'])).ip).toBe('203.0.113.8');
    expect(normalizeIp('::FFFF:192.0.2.1')).toBe('192.0.2.1');
  });

  it('is unknown without a socket (app.request without env)', async () => {
    expect((await seen(undefined, {}, [])).ip).toBeNull();
  });
});
