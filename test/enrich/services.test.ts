import { describe, expect, it } from 'vitest';
import { SERVICE_CATALOGUE } from '../../src/enrich/services-catalogue.js';
import { hostMatches, identifyService, matchServices, parseServiceEntries, serviceEntrySchema, type ServiceEntry } from '../../src/enrich/services.js';

/** A host name a PTR rule matches: the domain itself under a label, or the pattern filled in. */
function sampleHost(rule: string): string {
  if (!rule.includes('*')) return `o1.${rule}`;
  return rule.replace(/\*\*/g, 'mx1.example.org').replace(/\*/g, 'x42');
}

describe('the catalogue', () => {
  it('has at least 25 valid entries with unique ids and some evidence each', () => {
    expect(SERVICE_CATALOGUE.length).toBeGreaterThanOrEqual(25);
    const ids = new Set<string>();
    for (const entry of SERVICE_CATALOGUE) {
      expect(serviceEntrySchema.parse(entry)).toEqual(entry);
      expect(ids.has(entry.id)).toBe(false);
      ids.add(entry.id);
      expect((entry.ptr?.length ?? 0) + (entry.dkim?.length ?? 0) + (entry.asns?.length ?? 0)).toBeGreaterThan(0);
    }
  });

  it('lists every shared cloud ASN under a cloud entry only', () => {
    for (const asn of [15169, 8075, 16509, 14618]) {
      const owners = SERVICE_CATALOGUE.filter((e) => e.asns?.includes(asn));
      expect(owners.map((e) => e.category)).toEqual(['cloud']);
    }
  });

  const ptrRules = SERVICE_CATALOGUE.flatMap((e) => (e.ptr ?? []).map((rule) => [e.id, rule] as const));
  const dkimDomains = SERVICE_CATALOGUE.flatMap((e) => (e.dkim ?? []).map((d) => [e.id, d] as const));
  const asns = SERVICE_CATALOGUE.flatMap((e) => (e.asns ?? []).map((asn) => [e.id, asn] as const));

  it.each(ptrRules)('%s is named by its PTR rule %s', (id, rule) => {
    expect(identifyService({ ptrHost: sampleHost(rule) })).toMatchObject({ confidence: 'ptr', service: { id } });
  });

  it.each(dkimDomains)('%s is named by DKIM d=%s and its subdomains', (id, d) => {
    expect(identifyService({ dkimDomains: [d] })).toMatchObject({ confidence: 'dkim', service: { id } });
    expect(identifyService({ dkimDomains: [`tenant.${d}`.toUpperCase()] })).toMatchObject({ confidence: 'dkim', service: { id } });
  });

  it.each(asns)('%s is named by AS%s alone', (id, asn) => {
    expect(identifyService({ asn })).toMatchObject({ confidence: 'asn', service: { id } });
  });
});

describe('identifyService', () => {
  it('never names SES or Workspace from a shared cloud ASN alone', () => {
    expect(identifyService({ asn: 16509 })?.service).toMatchObject({ id: 'aws', name: 'Amazon Web Services (cloud)', category: 'cloud' });
    expect(identifyService({ asn: 14618 })?.service.id).toBe('aws');
    expect(identifyService({ asn: 15169 })?.service.category).toBe('cloud');
    expect(identifyService({ asn: 8075 })?.service.category).toBe('cloud');
    expect(identifyService({ asn: 64512 })).toBeNull();
    expect(identifyService({})).toBeNull();
  });

  it('does not take a Google Cloud customer host for Gmail', () => {
    const m = identifyService({ ptrHost: '42.12.190.35.bc.googleusercontent.com', asn: 396982 });
    expect(m?.service.id).toBe('google-cloud');
    expect(identifyService({ ptrHost: 'www.google.com' })).toBeNull();
    expect(identifyService({ ptrHost: 'mail-wr1-f54.google.com' })?.service.id).toBe('google-workspace');
    // a label that merely contains "mail-" elsewhere does not match `mail-*.google.com`
    expect(identifyService({ ptrHost: 'x.mail-wr1.google.com' })).toBeNull();
  });

  it('ranks PTR and DKIM together over PTR over DKIM over ASN', () => {
    const both = identifyService({ ptrHost: 'o1.ptr1234.sendgrid.net', dkimDomains: ['sendgrid.net'], asn: 11377 });
    expect(both?.confidence).toBe('ptr+dkim');
    expect(both?.evidence.map((e) => e.fact)).toEqual([
      'PTR o1.ptr1234.sendgrid.net → SendGrid (Twilio)',
      'DKIM signed by sendgrid.net → SendGrid (Twilio)',
      'AS11377 → SendGrid (Twilio)',
    ]);
    // PTR of one service beats DKIM of another, which beats an ASN
    const mixed = matchServices({ ptrHost: 'a8-1.smtp-out.amazonses.com', dkimDomains: ['sendgrid.net'], asn: 11377 });
    expect(mixed.map((m) => [m.service.id, m.confidence])).toEqual([
      ['amazon-ses', 'ptr'],
      ['sendgrid', 'dkim'],
    ]);
    expect(matchServices({ dkimDomains: ['sendgrid.net'], asn: 36459 }).map((m) => m.service.id)).toEqual(['sendgrid', 'github']);
  });

  it('prefers a named service running in a cloud over the cloud', () => {
    const m = matchServices({ ptrHost: 'ec2-3-3-3-3.compute-1.amazonaws.com', asn: 16509, dkimDomains: ['klaviyomail.com'] });
    expect(m[0]).toMatchObject({ service: { id: 'klaviyo' }, confidence: 'dkim' });
    expect(m[1]).toMatchObject({ service: { id: 'aws' }, confidence: 'ptr' });
  });

  it('matches the organisational domain of a PTR when the host is not known, but only for whole-domain rules', () => {
    expect(identifyService({ ptrOrgDomain: 'sendgrid.net' })?.service.id).toBe('sendgrid');
    expect(identifyService({ ptrOrgDomain: 'google.com' })).toBeNull();
    expect(identifyService({ ptrOrgDomain: 'outlook.com' })).toBeNull();
  });

  it('does not match look-alike domains', () => {
    expect(identifyService({ ptrHost: 'mail.notsendgrid.net' })).toBeNull();
    expect(identifyService({ dkimDomains: ['sendgrid.net.evil.example'] })).toBeNull();
    expect(identifyService({ dkimDomains: ['xamazonses.com'] })).toBeNull();
  });

  it('matches an organisation’s own entries first', () => {
    const own: ServiceEntry[] = parseServiceEntries(
      JSON.parse(
        JSON.stringify([
          { id: 'crm-relay', name: 'Our CRM relay', category: 'crm', ptr: ['relay-*.crm.example.net'], dkim: ['crm-mail.example.net'] },
          { id: 'sendgrid', name: 'SendGrid (our subaccount)', category: 'delivery', dkim: ['sendgrid.net'] },
        ]),
      ),
    );
    expect(identifyService({ ptrHost: 'relay-7.crm.example.net' }, own)).toMatchObject({ custom: true, service: { id: 'crm-relay' } });
    expect(identifyService({ dkimDomains: ['sendgrid.net'] }, own)).toMatchObject({ custom: true, service: { name: 'SendGrid (our subaccount)' } });
    expect(identifyService({ ptrHost: 'o1.sendgrid.net', dkimDomains: ['sendgrid.net'] }, own)).toMatchObject({ custom: false, confidence: 'ptr+dkim' });
  });

  it('refuses malformed stored entries', () => {
    expect(() => parseServiceEntries([{ id: 'Bad Id', name: 'x', category: 'crm' }])).toThrow();
    expect(() => parseServiceEntries([{ id: 'x', name: 'x', category: 'crm', ptr: ['has space.example'] }])).toThrow();
    expect(() => parseServiceEntries([{ id: 'x', name: 'x', category: 'crm', dkim: ['*.example.com'] }])).toThrow();
    expect(() => parseServiceEntries([{ id: 'x', name: 'x', category: 'nonsense' }])).toThrow();
  });
});

describe('hostMatches', () => {
  it.each([
    ['sendgrid.net', 'sendgrid.net', true],
    ['o1.sendgrid.net', 'sendgrid.net', true],
    ['SENDGRID.NET.', 'sendgrid.net', true],
    ['xsendgrid.net', 'sendgrid.net', false],
    ['mail-sor-f41.google.com', 'mail-*.google.com', true],
    ['mail-.google.com', 'mail-*.google.com', true],
    ['smtp.google.com', 'mail-*.google.com', false],
    ['lists.debian.org', 'lists.**', true],
    ['lists.a.b.example', 'lists.**', true],
    ['lists', 'lists.**', false],
    ['mylists.example.org', 'lists.**', false],
  ])('%s against %s → %s', (host, rule, expected) => {
    expect(hostMatches(host, rule)).toBe(expected);
  });
});
