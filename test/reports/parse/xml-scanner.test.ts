import { describe, expect, it } from 'vitest';
import { XmlScanner, type XmlAttributes } from '../../../src/reports/parse/xml-scanner.js';
import { ReportError } from '../../../src/reports/types.js';

/** Every event as a line; text is asked for everywhere unless `quiet` names elements to skip. */
function scan(chunks: string[], quiet: string[] = []): { events: string[]; trailing: boolean } {
  const events: string[] = [];
  const open: string[] = [];
  const scanner: XmlScanner = new XmlScanner({
    onOpen(name: string, attributes: XmlAttributes | null, selfClosing: boolean) {
      open.push(name);
      scanner.wantText = !quiet.includes(name);
      events.push(`open ${name}${attributes ? ' ' + JSON.stringify(attributes) : ''}${selfClosing ? ' /' : ''}`);
    },
    onClose(name: string) {
      open.pop();
      scanner.wantText = open.length > 0 && !quiet.includes(open[open.length - 1]!);
      events.push(`close ${name}`);
    },
    onText(text: string) {
      // adjacent pieces of one run of text are joined: how text is cut depends on the chunks
      const last = events.length - 1;
      if (events[last]?.startsWith('text ')) events[last] += text;
      else events.push(`text ${text}`);
    },
  });
  for (const chunk of chunks) scanner.write(chunk);
  scanner.close();
  return { events, trailing: scanner.trailingContent };
}

function refusal(chunks: string[]): ReportError {
  try {
    scan(chunks);
  } catch (error) {
    expect(error).toBeInstanceOf(ReportError);
    return error as ReportError;
  }
  throw new Error('expected the document to be refused');
}

const DOCUMENT =
  '<?xml version="1.0" encoding="UTF-8"?>\r\n<!-- a comment -->\n' +
  '<f:feedback xmlns:f="urn:x" a = \'1\tb\'>\r\n' +
  '  <org>A &amp; B &lt;x&gt; &#233;&#x1F600; &quot;q&apos;</org>\r\n' +
  '  <empty/><n:ext k="&lt;v&gt;" j="2"><![CDATA[<raw & text>]]></n:ext>\r' +
  '  <?pi anything?><multi>one\r\ntwo\rthree</multi>\n' +
  '</f:feedback >\n<!-- after -->\n';

describe('XmlScanner', () => {
  it('reads elements, attributes, references, CDATA and line ends', () => {
    expect(scan([DOCUMENT]).events).toEqual([
      'open f:feedback {"xmlns:f":"urn:x","a":"1 b"}',
      'text \n  ',
      'open org',
      'text A & B <x> é😀 "q\'',
      'close org',
      'text \n  ',
      'open empty /',
      'close empty',
      'open n:ext {"k":"<v>","j":"2"}',
      'text <raw & text>',
      'close n:ext',
      'text \n  ',
      'open multi',
      'text one\ntwo\nthree',
      'close multi',
      'text \n',
      'close f:feedback',
    ]);
  });

  it('gives the same events however the text is cut into chunks', () => {
    const whole = scan([DOCUMENT]).events;
    for (let cut = 1; cut < DOCUMENT.length; cut++) {
      expect(scan([DOCUMENT.slice(0, cut), DOCUMENT.slice(cut)]).events, `cut at ${cut}`).toEqual(whole);
    }
    expect(scan([...DOCUMENT]).events).toEqual(whole);
  });

  it('hands over a long value in pieces instead of holding it', () => {
    const value = 'x&amp;'.repeat(200_000);
    const pieces: number[] = [];
    const scanner: XmlScanner = new XmlScanner({
      onOpen: () => (scanner.wantText = true),
      onClose: () => (scanner.wantText = false),
      onText: (text) => pieces.push(text.length),
    });
    const xml = `<v>${value}</v>`;
    for (let i = 0; i < xml.length; i += 65_536) scanner.write(xml.slice(i, i + 65_536));
    scanner.close();
    expect(pieces.length).toBeGreaterThan(10);
    expect(Math.max(...pieces)).toBeLessThanOrEqual(65_536);
    expect(pieces.reduce((a, b) => a + b, 0)).toBe(400_000);
  });

  it('checks references in text nobody asked for', () => {
    expect(scan(['<a><b>x &amp; y</b></a>'], ['b']).events).toEqual(['open a', 'open b', 'close b', 'close a']);
    expect(() => scan(['<a><b>x &nbsp; y</b></a>'], ['b'])).toThrow(/entity reference that XML does not define/);
  });

  it('ignores whatever follows the root element, and says so', () => {
    for (const tail of ['junk', '<second/>', '</extra>', '\u0000\u0000', '<!bad', '<![CDATA[x]]>']) {
      const result = scan([`<a>1</a>\n${tail}`]);
      expect(result.trailing, tail).toBe(true);
      expect(result.events).toEqual(['open a', 'text 1', 'close a']);
    }
    expect(scan(['<a/>\n<!-- c -->\n<?pi?>\n  ']).trailing).toBe(false);
  });

  it.each([
    ['<a><b></a>', /line 1, column 10: expected <\/b> but found a different closing tag/],
    ['<a>\n</b>', /line 2, column 4: expected <\/a>/],
    ['</a>', /found <\/a>, but no <a> is open/],
    ['<a><1b/></a>', /column 5: an unexpected character inside a tag/],
    ['<a>x<y</a>', /an unexpected character inside a tag; a literal "<" in a value must be written "&lt;"/],
    ['<a b></a>', /the attribute b of <a> has no value/],
    ['<a b=c></a>', /is not in quotes/],
    ['<a b="1" b="2"></a>', /the attribute b appears twice/],
    ['<a b="<"></a>', /a "<" in the value of the attribute b/],
    ['<a b="1"c="2"></a>', /an unexpected character inside a tag/],
    ['<a>&nbsp;</a>', /entity reference that XML does not define/],
    ['<a>A & B;</a>', /a literal "&" in a value; it must be written "&amp;"/],
    ['<a>A & B</a>', /a literal "&" followed by " B" was never ended by ";"/],
    [`<a>A &${'x'.repeat(50)};</a>`, /a literal "&" followed by "x{40}" was never ended by ";"/],
    ['<a>&#0;</a>', /the character reference &#0; names a character XML does not allow/],
    ['<a>&#xD800;</a>', /names a character XML does not allow/],
    ['<a>&#x110000;</a>', /names a character XML does not allow/],
    ['<a>x\u0001y</a>', /line 1, column 5: a character XML does not allow/],
    ['<a>\uFFFF</a>', /a character XML does not allow/],
    ['text<a/>', /line 1, column 1: text outside the root element/],
    ['<![CDATA[x]]><a/>', /text outside the root element/],
    ['<!ENTITY x "y"><a/>', /an unexpected character inside a tag/],
    ['<a>', /the document ends while <a> is still open.*truncated/],
    ['<a><b', /ends in the middle of a tag or comment/],
    ['<a><!-- never ended', /ends in the middle of a tag or comment/],
    ['<?xml version="1.0"?>\n<!-- only a comment -->', /the document has no root element/],
  ])('refuses %j', (xml, message) => {
    const error = refusal([xml]);
    expect(error.code).toBe('malformed_xml');
    expect(error.message).toMatch(/^The XML is malformed at line \d+, column \d+: /);
    expect(error.message).toMatch(message);
  });

  it('refuses any DTD before reading it', () => {
    for (const xml of ['<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', '<!doctype a SYSTEM "file:///etc/passwd"><a/>']) {
      expect(refusal([xml]).code).toBe('dtd_refused');
    }
  });

  it('counts lines and columns across chunks, including the lines dropped before the document', () => {
    const scanner = new XmlScanner({ onOpen: () => {}, onClose: () => {}, onText: () => {} });
    scanner.lineOffset = 2;
    scanner.write('<a>\n<b>x</b>\n  <c');
    scanner.write('>\n   ');
    expect(() => scanner.write(' </d>')).toThrow(/^The XML is malformed at line 6, column 8: expected <\/c>/);
  });

  it('refuses a run of bare ampersands as soon as one has been read far enough', () => {
    const scanner: XmlScanner = new XmlScanner({ onOpen: () => (scanner.wantText = true), onClose: () => {}, onText: () => {} });
    scanner.write('<a>x');
    expect(() => {
      for (let i = 0; i < 10; i++) scanner.write('&'.repeat(30));
    }).toThrow(/column 5: a literal "&" followed by "&{40}" was never ended/);
  });

  it('reads any amount of whitespace around the root element without holding it', () => {
    const spaces = ' \n'.repeat(40_000);
    // more than the 1 MiB held for an unfinished tag, before and after the root
    const chunks = [...Array(15).fill(spaces), '<a>1</a>', ...Array(15).fill(spaces)];
    expect(scan(chunks)).toEqual({ events: ['open a', 'text 1', 'close a'], trailing: false });
  });

  it('refuses markup that never ends instead of holding it', () => {
    const scanner = new XmlScanner({ onOpen: () => {}, onClose: () => {}, onText: () => {} });
    scanner.write('<a><!-- ');
    const filler = 'x'.repeat(65_536);
    expect(() => {
      for (let i = 0; i < 100; i++) scanner.write(filler);
    }).toThrow(/longer than 1024 KiB/);
  });
});
