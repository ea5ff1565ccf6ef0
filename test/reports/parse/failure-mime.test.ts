import { describe, expect, it } from 'vitest';
import {
  decodeWords,
  parseContentType,
  parseHeaders,
  parseMailDate,
  splitHeaderBody,
  splitMultipart,
} from '../../../src/reports/parse/mime-headers.js';

/** Header text as the parser sees it: UTF-8 bytes in a latin1 string. */
const raw = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

describe('MIME helpers used by the failure-report parser', () => {
  it('decodes RFC 2047 words: split characters, mixed charsets, blanks between words, raw UTF-8', () => {
    expect(decodeWords('=?UTF-8?Q?=E2=80?= =?utf-8?Q?=93?=')).toBe('–');
    expect(decodeWords('=?ISO-8859-1?Q?f=FCr?=  =?UTF-8?B?IG3DvGxsZXI=?=')).toBe('für müller');
    expect(decodeWords('Re: =?UTF-8?B?w6Q=?= und =?UTF-8?B?w7Y=?=')).toBe('Re: ä und ö');
    expect(decodeWords(raw('Grüße =?UTF-8?Q?aus_K=C3=B6ln?='))).toBe('Grüße aus Köln');
    expect(decodeWords('=?x-unknown?Q?abc?=')).toBe('abc');
    expect(decodeWords('=?UTF-8*de?Q?Stra=C3=9Fe?=')).toBe('Straße');
  });

  it('reads Content-Type parameters with quotes, semicolons, parentheses and odd case', () => {
    expect(parseContentType('Multipart/Report; Report-Type="feedback-report"; boundary="a;b(c)=d"')).toEqual({
      type: 'multipart/report',
      params: { 'report-type': 'feedback-report', boundary: 'a;b(c)=d' },
    });
    expect(parseContentType('text/plain (comment); charset = utf-8').params.charset).toBe('utf-8');
    expect(parseContentType('garbage').type).toBe('text/plain');
    expect(parseContentType(null)).toEqual({ type: 'text/plain', params: {} });
  });

  it('unfolds headers and keeps repeated fields in order', () => {
    const headers = parseHeaders('Reported-URI: a\nreported-uri: b\nSubject: one\n  two\n\tthree\nnot a header\n continuation of nothing');
    expect(headers.get('reported-uri')).toEqual(['a', 'b']);
    expect(headers.get('subject')).toEqual(['one two three']);
    expect(headers.size).toBe(2);
  });

  it('splits a multipart body on delimiter lines only', () => {
    const body = ['preamble --b', '--b', 'Content-Type: text/plain', '', 'one', '--bb not a delimiter', '--b  ', '', 'two', '--b--', 'epilogue'].join('\n');
    expect(splitMultipart(body, 'b', 10)).toEqual(['Content-Type: text/plain\n\none\n--bb not a delimiter', '\ntwo']);
    expect(splitMultipart('--b\nx\n--b\ny', 'b', 10)).toEqual(['x', 'y']);
    expect(splitMultipart('--b\n--b\nx\n--b--', 'b', 10)).toEqual(['', 'x']);
    expect(splitMultipart('no delimiters here', 'b', 10)).toBeNull();
    expect(splitMultipart('--b\n1\n--b\n2\n--b\n3\n--b--', 'b', 2)).toEqual(['1', '2']);
  });

  it('splits header and body at the first blank line', () => {
    expect(splitHeaderBody('A: 1\nB: 2\n\nbody\n\nmore')).toEqual({ head: 'A: 1\nB: 2', body: 'body\n\nmore' });
    expect(splitHeaderBody('\nbody')).toEqual({ head: '', body: 'body' });
    expect(splitHeaderBody('A: 1')).toEqual({ head: 'A: 1', body: '' });
  });

  it.each([
    ['Tue, 05 Mar 2024 09:59:58 +0000', '2024-03-05T09:59:58.000Z'],
    ['Tue,  5 Oct 2021 17:37:02 +1300 (NZDT)', '2021-10-05T04:37:02.000Z'],
    ['8 Oct 2011 20:15:58 +0000 (GMT)', '2011-10-08T20:15:58.000Z'],
    ['Thu, 29 Apr 2013 23:45:50 PST', '2013-04-30T07:45:50.000Z'],
    ['Thu, 8 Mar 05 17:40:36 EDT', '2005-03-08T21:40:36.000Z'],
    ['29 Apr 2009 00:00:00 -0000', '2009-04-29T00:00:00.000Z'],
    ['Wed, 14 Apr 2010 12:15 JST', '2010-04-14T12:15:00.000Z'],
    ['2015-04-29T23:34:45+09:00', '2015-04-29T14:34:45.000Z'],
    ['2015-04-29 23:34:45', '2015-04-29T23:34:45.000Z'],
  ])('reads the date %j', (text, iso) => {
    expect(parseMailDate(text)?.toISOString()).toBe(iso);
  });

  it.each(['', 'yesterday', '1', 'Mon, 31 Apr 2024 10:00:00 +0000', 'Mon, 1 Foo 2024 10:00:00 +0000', '2024-13-01T00:00:00Z', 'Tue, 05 Mar 2024 25:00:00 +0000'])(
    'refuses the date %j',
    (text) => {
      expect(parseMailDate(text)).toBeNull();
    },
  );
});
