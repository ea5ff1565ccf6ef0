import { describe, expect, it } from 'vitest';
import { describeUnknown, sniff } from '../../../src/reports/extract/sniff.js';
import { PNG, gz } from './fixtures.js';

const utf16 = (text: string, bigEndian: boolean, bom: boolean) => {
  const le = Buffer.from(text, 'utf16le');
  const bytes = bigEndian ? Buffer.from(le).swap16() : le;
  return bom ? Buffer.concat([Buffer.from(bigEndian ? [0xfe, 0xff] : [0xff, 0xfe]), bytes]) : bytes;
};

describe('sniff', () => {
  it('recognises compression by magic bytes', () => {
    expect(sniff(gz('x'))).toBe('gzip');
    expect(sniff(Buffer.from('PK\x03\x04rest', 'latin1'))).toBe('zip');
    expect(sniff(Buffer.from('PK\x05\x06' + '\0'.repeat(18), 'latin1'))).toBe('zip');
    expect(sniff(Buffer.from('PK\x07\x08PK\x03\x04', 'latin1'))).toBe('zip');
    expect(sniff(Buffer.from('PK00PK\x03\x04', 'latin1'))).toBe('zip');
  });

  it('recognises XML after a BOM and whitespace, in UTF-8 and UTF-16', () => {
    expect(sniff(Buffer.from('<?xml version="1.0"?><feedback/>'))).toBe('xml');
    expect(sniff(Buffer.from('\r\n  <feedback/>'))).toBe('xml');
    expect(sniff(Buffer.from('\uFEFF<?xml version="1.0"?>'))).toBe('xml');
    expect(sniff(utf16(' <?xml version="1.0"?>', false, true))).toBe('xml');
    expect(sniff(utf16('<?xml version="1.0"?>', true, true))).toBe('xml');
    expect(sniff(utf16('<?xml version="1.0"?>', false, false))).toBe('xml');
    expect(sniff(utf16('<?xml version="1.0"?>', true, false))).toBe('xml');
  });

  it('recognises JSON objects', () => {
    expect(sniff(Buffer.from('{"organization-name": "x"}'))).toBe('json');
    expect(sniff(Buffer.from('\uFEFF\n {"a":1}'))).toBe('json');
    expect(sniff(Buffer.from('[1,2]'))).toBe('unknown');
  });

  it('recognises mail by its header block, with any line ending', () => {
    expect(sniff(Buffer.from('Return-Path: <a@b>\r\nReceived: from x\r\n\tby y\r\nSubject: hi\r\n\r\nbody'))).toBe('mail');
    expect(sniff(Buffer.from('From: a@b\nTo: c@d\n\nbody'))).toBe('mail');
    expect(sniff(Buffer.from('Received: from x\r\tby y\rSubject: hi\r\rbody'))).toBe('mail');
    expect(sniff(Buffer.from('From MAILER-DAEMON Mon Oct 14 09:40:04 2024\nFrom: a@b\n\nbody\n'))).toBe('mbox');
  });

  it('does not take prose or binary for mail', () => {
    expect(sniff(Buffer.from('Hello there, this is not a mail\nNote: really\n'))).toBe('unknown');
    expect(sniff(Buffer.from('Subject: x\nthis line is not a header\n\nbody'))).toBe('unknown');
    expect(sniff(Buffer.from('From somebody else\nnot a header\n'))).toBe('unknown');
    expect(sniff(PNG)).toBe('unknown');
  });

  it('calls zero bytes empty', () => {
    expect(sniff(new Uint8Array())).toBe('empty');
  });

  it('names common non-report formats', () => {
    expect(describeUnknown(PNG)).toEqual({ what: 'a PNG image', compression: false });
    expect(describeUnknown(Buffer.from('BZh91AY&SY'))).toEqual({ what: 'bzip2-compressed data', compression: true });
    expect(describeUnknown(Buffer.from('plain text')).compression).toBe(false);
  });
});
