import { describe, expect, it } from 'vitest';
import {
  normalizeDomain,
  organizationalDomain,
  sameOrganizationalDomain,
  singleDmarcRecordPsd,
  treeWalkOrganizationalDomain,
  treeWalkTargets,
  type TxtLookup,
} from '../../src/enrich/org-domain.js';

describe('normalizeDomain', () => {
  it('lower-cases, trims, drops trailing dots and local parts', () => {
    expect(normalizeDomain('  Mail.Example.COM.. ')).toBe('mail.example.com');
    expect(normalizeDomain('User@Example.com')).toBe('example.com');
    expect(normalizeDomain('<example.org>')).toBe('example.org');
    expect(normalizeDomain('')).toBe('');
    expect(normalizeDomain(null)).toBe('');
  });

  it('turns internationalised names into A-labels', () => {
    expect(normalizeDomain('Bücher.example')).toBe('xn--bcher-kva.example');
  });
});

describe('organizationalDomain (Public Suffix List)', () => {
  it.each([
    ['example.com', 'example.com'],
    ['a.b.mail.example.com', 'example.com'],
    ['news.bbc.co.uk', 'bbc.co.uk'],
    ['MAIL.Example.COM.', 'example.com'],
    // private section: each customer of a shared suffix is its own organisation
    ['alice.github.io', 'alice.github.io'],
    ['www.alice.github.io', 'alice.github.io'],
    ['app.herokuapp.com', 'app.herokuapp.com'],
    // a public suffix, an address literal and an unlisted TLD
    ['co.uk', 'co.uk'],
    ['192.0.2.1', '192.0.2.1'],
    ['host.sub.example-unlisted-tld', 'sub.example-unlisted-tld'],
  ])('%s → %s', (name, expected) => {
    expect(organizationalDomain(name)).toBe(expected);
  });

  it('compares names by organisational domain', () => {
    expect(sameOrganizationalDomain('mail.example.com', 'EXAMPLE.com.')).toBe(true);
    expect(sameOrganizationalDomain('alice.github.io', 'bob.github.io')).toBe(false);
    expect(sameOrganizationalDomain('example.co.uk', 'other.co.uk')).toBe(false);
    expect(sameOrganizationalDomain('', 'example.com')).toBe(false);
  });
});

describe('RFC 9989 DNS tree walk', () => {
  /** An in-memory zone: `_dmarc` names to their TXT strings. */
  function zone(records: Record<string, string[]>): TxtLookup & { asked: string[] } {
    const asked: string[] = [];
    const lookup = (async (name: string) => {
      asked.push(name);
      return records[name] ?? [];
    }) as TxtLookup & { asked: string[] };
    lookup.asked = asked;
    return lookup;
  }

  it('queries at most five names, skipping to four labels', () => {
    expect(treeWalkTargets('a.b.c.d.e.mail.example.com')).toEqual([
      'a.b.c.d.e.mail.example.com',
      'e.mail.example.com',
      'mail.example.com',
      'example.com',
      'com',
    ]);
    expect(treeWalkTargets('a.mail.example.com')).toEqual(['a.mail.example.com', 'mail.example.com', 'example.com', 'com']);
    expect(treeWalkTargets('example.com')).toEqual(['example.com', 'com']);
  });

  it('picks the record with the fewest labels (RFC 9989 example 1)', async () => {
    const lookup = zone({
      '_dmarc.mail.example.com': ['v=DMARC1; p=reject'],
      '_dmarc.example.com': ['v=DMARC1; p=none; rua=mailto:d@example.com'],
    });
    const result = await treeWalkOrganizationalDomain('a.mail.example.com', lookup);
    expect(result.organizationalDomain).toBe('example.com');
    expect(result.queried).toEqual(['_dmarc.a.mail.example.com', '_dmarc.mail.example.com', '_dmarc.example.com', '_dmarc.com']);
  });

  it('stops one label below a psd=y record (RFC 9989 example 2)', async () => {
    const lookup = zone({ '_dmarc.com': ['v=DMARC1; p=reject; psd=y'] });
    expect((await treeWalkOrganizationalDomain('a.mail.example.com', lookup)).organizationalDomain).toBe('example.com');
  });

  it('stops at psd=n, even on the starting name', async () => {
    const lookup = zone({ '_dmarc.a.mail.example.com': ['v=DMARC1; p=none; psd=n'], '_dmarc.example.com': ['v=DMARC1; p=reject'] });
    const result = await treeWalkOrganizationalDomain('a.mail.example.com', lookup);
    expect(result.organizationalDomain).toBe('a.mail.example.com');
    expect(lookup.asked).toEqual(['_dmarc.a.mail.example.com']);
  });

  it('treats a domain under a PSL suffix that publishes its own record as the walk says, not as the list says', async () => {
    // blogspot.com is a public suffix in the list; with a record there and none below, the walk
    // makes it the organisational domain of its subdomains.
    const lookup = zone({ '_dmarc.blogspot.com': ['v=DMARC1; p=reject'] });
    expect((await treeWalkOrganizationalDomain('alice.blogspot.com', lookup)).organizationalDomain).toBe('blogspot.com');
    expect(organizationalDomain('alice.blogspot.com')).toBe('alice.blogspot.com');
  });

  it('falls back to the starting name when nothing is published, and ignores duplicate or non-DMARC records', async () => {
    const lookup = zone({
      '_dmarc.mail.example.com': ['v=DMARC1; p=none', 'v=DMARC1; p=reject'],
      '_dmarc.example.com': ['v=spf1 -all', 'v=dmarc1; p=reject'],
    });
    expect((await treeWalkOrganizationalDomain('Mail.Example.com.', lookup)).organizationalDomain).toBe('mail.example.com');
  });

  it('reads the psd tag', () => {
    expect(singleDmarcRecordPsd(['v=DMARC1; p=none; psd=Y'])).toBe('y');
    expect(singleDmarcRecordPsd(['v=DMARC1;p=none;psd=n'])).toBe('n');
    expect(singleDmarcRecordPsd(['v=DMARC1; p=none'])).toBe('u');
    expect(singleDmarcRecordPsd(['v=DMARC1; psd=x'])).toBe('u');
    expect(singleDmarcRecordPsd([])).toBeNull();
    expect(singleDmarcRecordPsd(['v=DMARC1', 'v=DMARC1'])).toBeNull();
  });

  it('lets lookup errors through', async () => {
    const failing: TxtLookup = async () => {
      throw new Error('SERVFAIL');
    };
    await expect(treeWalkOrganizationalDomain('example.com', failing)).rejects.toThrow('SERVFAIL');
  });
});
