import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  MAX_RECORD_COUNT,
  email,
  epochSeconds,
  ipAddress,
  percentage,
  recordCount,
  spfDomain,
} from '../../../src/reports/parse/aggregate-fields.js';
import { sniffEncoding } from '../../../src/reports/parse/xml-decode.js';
import { ReportError } from '../../../src/reports/types.js';

describe('ipAddress', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    [' 255.255.255.255\n', '255.255.255.255'],
    ['0.0.0.0', '0.0.0.0'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['a:b:c:d:e:f:0:0', 'a:b:c:d:e:f::'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::1:2:3:4:5:6:7', '0:1:2:3:4:5:6:7'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['2a01:111:f400:7e1a::2d', '2a01:111:f400:7e1a::2d'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['::FFFF:C000:0201', '::ffff:192.0.2.1'],
    ['1:2:3:4:5:6:192.0.2.1', '1:2:3:4:5:6:c000:201'],
  ])('%j → %s', (raw, expected) => {
    expect(ipAddress(raw)).toBe(expected);
    expect(isIP(expected)).not.toBe(0);
  });

  it.each([
    '',
    '   ',
    '256.1.1.1',
    '01.2.3.4',
    '1.2.3',
    '1.2.3.4.5',
    '1..2.3',
    '108r.166.27.220',
    'example.com',
    'fe80::1%eth0',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    ':1',
    '1:',
    ':::',
    '12345::',
    'g::1',
    '1:2:3:4:5:6:7:192.0.2.1',
    '::ffff:256.0.0.1',
    '[::1]',
  ])('refuses %j', (raw) => {
    expect(ipAddress(raw)).toBeNull();
  });

  it('agrees with node:net on what is an address', () => {
    const samples = ['1.2.3.4', '::', '1:2:3:4:5:6:7:8', '::ffff:1.2.3.4', '2001:db8::', 'ff02::1:ff00:0', '1.2.3.04'];
    for (const s of samples) expect(ipAddress(s) !== null).toBe(isIP(s) !== 0);
  });
});

describe('recordCount', () => {
  it.each([
    ['0', 0],
    ['1', 1],
    [' 42 ', 42],
    ['007', 7],
    ['12.0', 12],
    [String(MAX_RECORD_COUNT), MAX_RECORD_COUNT],
    ['', -1],
    ['-1', -1],
    ['1.5', -1],
    ['1e3', -1],
    ['many', -1],
    [String(MAX_RECORD_COUNT + 1), -1],
    ['99999999999999999999', -1],
  ])('%j → %d', (raw, expected) => {
    expect(recordCount(raw)).toBe(expected);
  });
});

describe('other values', () => {
  it('reads epochs as integers or floats', () => {
    expect(epochSeconds('1337270400.0')).toBe(1337270400);
    expect(epochSeconds(' 1435103999 ')).toBe(1435103999);
    expect(epochSeconds('1435103999.9')).toBe(1435103999);
    expect(epochSeconds('-1')).toBeNaN();
    expect(epochSeconds('2024-01-01')).toBeNaN();
    expect(epochSeconds(null)).toBeNaN();
  });

  it('strips angle brackets from email', () => {
    expect(email('<a@b.example>')).toBe('a@b.example');
    expect(email('Reports <a@b.example>')).toBe('a@b.example');
    expect(email(' a@b.example ')).toBe('a@b.example');
    expect(email('<>')).toBeNull();
    expect(email('')).toBeNull();
  });

  it('reads SPF domains, NULL meaning none', () => {
    expect(spfDomain('NULL')).toBe('');
    expect(spfDomain(' Example.COM ')).toBe('example.com');
    expect(spfDomain(undefined)).toBe('');
  });

  it('reads pct', () => {
    expect(percentage('100')).toBe(100);
    expect(percentage(' 0 ')).toBe(0);
    expect(percentage('')).toBeNull();
    expect(percentage('101')).toBeUndefined();
    expect(percentage('50%')).toBeUndefined();
  });
});

describe('sniffEncoding', () => {
  const ascii = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

  it.each([
    ['<feedback>', 'utf-8', 'default'],
    ['<?xml version="1.0"?><feedback>', 'utf-8', 'default'],
    ['<?xml version="1.0" encoding="UTF-8"?>', 'utf-8', 'declaration'],
    ["<?xml version='1.0' encoding='windows-1252' standalone='yes'?>", 'windows-1252', 'declaration'],
    ['  \r\n<?xml version="1.0" encoding="ISO-8859-1"?>', 'windows-1252', 'declaration'],
    ['<?xml version="1.0" encoding="us-ascii"?>', 'windows-1252', 'declaration'],
    ['<?xml version="1.0" encoding="UTF-16"?>', 'utf-8', 'default'],
  ])('%j → %s', (head, encoding, source) => {
    expect(sniffEncoding(ascii(head))).toMatchObject({ encoding, source });
  });

  it('reads byte order marks', () => {
    expect(sniffEncoding(new Uint8Array([0xef, 0xbb, 0xbf, 0x3c])).encoding).toBe('utf-8');
    expect(sniffEncoding(new Uint8Array([0xff, 0xfe, 0x3c, 0x00])).encoding).toBe('utf-16le');
    expect(sniffEncoding(new Uint8Array([0xfe, 0xff, 0x00, 0x3c])).encoding).toBe('utf-16be');
    expect(sniffEncoding(new Uint8Array([0x3c, 0x00, 0x3f, 0x00])).encoding).toBe('utf-16le');
    expect(sniffEncoding(new Uint8Array([0x00, 0x3c, 0x00, 0x3f])).encoding).toBe('utf-16be');
  });

  it('refuses other encodings', () => {
    for (const head of [
      ascii('<?xml version="1.0" encoding="Shift_JIS"?>'),
      ascii('<?xml version="1.0" encoding="ISO-8859-15"?>'),
      new Uint8Array([0xff, 0xfe, 0x00, 0x00]),
      new Uint8Array([0x00, 0x00, 0xfe, 0xff]),
      new Uint8Array([0x4c, 0x6f, 0xa7, 0x94]),
    ]) {
      expect(() => sniffEncoding(head)).toThrow(ReportError);
      try {
        sniffEncoding(head);
      } catch (error) {
        expect((error as ReportError).code).toBe('unsupported_encoding');
      }
    }
  });
});
