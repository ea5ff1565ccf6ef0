import { domainToASCII, domainToUnicode } from 'node:url';

export class DomainNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DomainNameError';
  }
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const TOP_LEVEL = /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

/**
 * The stored form of a domain name: lower-case ASCII (an internationalised name in punycode), no
 * trailing dot, at least two labels of letters, digits and inner hyphens, ending in a top-level
 * domain that is not a number. Throws DomainNameError saying what is wrong.
 */
export function normaliseDomainName(input: string): string {
  const text = input.trim().replace(/\.$/, '');
  if (text === '') throw new DomainNameError('enter a domain name such as example.com');
  if (/[\s/:@?#\\]/.test(text)) throw new DomainNameError('enter the domain name only, without a scheme, path, port or address');
  const ascii = domainToASCII(text).replace(/\.$/, '');
  if (ascii === '') throw new DomainNameError(`"${text}" is not a valid domain name`);
  if (ascii.length > 253) throw new DomainNameError('a domain name has at most 253 characters');
  const labels = ascii.split('.');
  if (labels.length < 2) throw new DomainNameError('a domain name has at least two parts, such as example.com');
  const bad = labels.find((label) => !LABEL.test(label));
  if (bad !== undefined) {
    throw new DomainNameError(
      bad === '' ? 'a domain name has no empty parts (two dots in a row)' : `"${bad}" is not a valid part of a domain name (letters, digits and inner hyphens, at most 63 characters)`,
    );
  }
  if (!TOP_LEVEL.test(labels[labels.length - 1] as string)) throw new DomainNameError('a domain name ends in a top-level domain such as com or org');
  return ascii;
}

/** The name as people write it (punycode labels decoded). */
export function displayDomainName(ascii: string): string {
  return domainToUnicode(ascii) || ascii;
}
