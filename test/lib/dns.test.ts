import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDnsResolver, DnsError, dnsServerProblem, reverseName, type DnsResolver } from '../../src/lib/dns.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';

async function failure(promise: Promise<unknown>): Promise<DnsError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof DnsError)) throw new Error(`expected a DnsError, got ${String(error)}`);
  return error;
}

describe('DNS resolver against a real DNS server', () => {
  let server: TestDnsServer;
  let dns: DnsResolver;
  beforeAll(async () => {
    server = await startDnsServer();
    dns = createDnsResolver({ servers: [server.address], timeoutMs: 200, tries: 2 });
  });
  afterAll(() => server.close());

  it('reads every record type, joining long TXT strings split into 255-byte chunks', async () => {
    const key = `v=DKIM1; k=rsa; p=${'A'.repeat(600)}`;
    server.set('sel._domainkey.example.com', { txt: [key, 'second'] });
    server.set('example.com', { a: ['192.0.2.1'], aaaa: ['2001:db8::1'], mx: [{ priority: 10, exchange: 'mx.example.com' }] });
    server.set('www.example.com', { cname: 'example.com' });
    server.setPtr('192.0.2.1', ['mail.example.com']);
    server.setPtr('2001:db8::1', ['v6.example.com']);

    expect((await dns.txt('SEL._domainkey.example.com.')).sort()).toEqual([key, 'second'].sort());
    expect(await dns.a('example.com')).toEqual(['192.0.2.1']);
    expect(await dns.aaaa('example.com')).toEqual(['2001:db8::1']);
    expect(await dns.mx('example.com')).toEqual([{ priority: 10, exchange: 'mx.example.com' }]);
    expect(await dns.cname('www.example.com')).toEqual(['example.com']);
    expect(await dns.a('www.example.com')).toEqual(['192.0.2.1']);
    expect(await dns.reverse('192.0.2.1')).toEqual(['mail.example.com']);
    expect(await dns.reverse('2001:db8::1')).toEqual(['v6.example.com']);
    expect(await dns.ptr('1.2.0.192.in-addr.arpa')).toEqual(['mail.example.com']);
  });

  it('tells a missing name, a missing type, a failing server and a timeout apart', async () => {
    server.set('nodata.example.com', { a: ['192.0.2.2'] });
    server.set('broken.example.com', { servfail: true });
    server.set('slow.example.com', { silent: true });

    const nx = await failure(dns.txt('nothing.example.com'));
    expect(nx.kind).toBe('nxdomain');
    const nodata = await failure(dns.txt('nodata.example.com'));
    expect(nodata.kind).toBe('nodata');
    expect(nodata.message).toBe('no TXT record at nodata.example.com');
    expect((await failure(dns.txt('broken.example.com'))).kind).toBe('servfail');

    const before = server.queries.filter((q) => q === 'TXT slow.example.com').length;
    const timeout = await failure(dns.txt('slow.example.com'));
    expect(timeout.kind).toBe('timeout');
    expect(timeout.message).toBe('DNS timed out looking up TXT at slow.example.com');
    // The lookup was tried again before giving up.
    expect(server.queries.filter((q) => q === 'TXT slow.example.com').length - before).toBeGreaterThanOrEqual(2);
  });

  it('sees zone changes at once', async () => {
    server.set('changing.example.com', { txt: ['one'] });
    expect(await dns.txt('changing.example.com')).toEqual(['one']);
    server.set('changing.example.com', { txt: ['two'] });
    expect(await dns.txt('changing.example.com')).toEqual(['two']);
    server.delete('changing.example.com');
    expect((await failure(dns.txt('changing.example.com'))).kind).toBe('nxdomain');
  });
});

describe('DNS helpers', () => {
  it('builds reverse names', () => {
    expect(reverseName('192.0.2.1')).toBe('1.2.0.192.in-addr.arpa');
    expect(reverseName('2001:db8::1')).toBe(`1.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.ip6.arpa`);
  });

  it('checks server entries', () => {
    for (const good of ['9.9.9.9', '127.0.0.1:5353', '2620:fe::fe', '[2620:fe::fe]:53']) expect(dnsServerProblem(good)).toBeNull();
    for (const bad of ['dns.example.com', '1.2.3.4:0', '1.2.3.4:99999', '[dns]:53', '']) expect(dnsServerProblem(bad)).not.toBeNull();
  });
});
