/**
 * A streaming, non-validating XML tokenizer made for reports from strangers: text goes in as it is
 * decoded, elements and character data come out as calls on a handler.
 *
 * It checks well-formedness (names, attribute syntax, matching tags, one root, references,
 * characters XML forbids) and refuses any DTD outright, so there is no entity expansion and no
 * external resource. Namespaces are not resolved: names arrive with their prefix.
 *
 * Speed comes from working on whole chunks with indexOf instead of a state per character, from
 * building strings only for what the handler asks (`wantText`), and from comparing closing tags
 * with the open name in place.
 */
import { ReportError } from '../types.js';

export type XmlAttributes = Record<string, string>;

export interface XmlHandler {
  /** `attributes` is null when the tag has none. A self-closing tag is followed by `onClose`. */
  onOpen(name: string, attributes: XmlAttributes | null, selfClosing: boolean): void;
  onClose(name: string, selfClosing: boolean): void;
  /** Character data with references expanded and line ends normalised; CDATA sections too. */
  onText(chunk: string): void;
}

/** Longest piece of markup (a tag, comment, CDATA section or instruction) held while waiting for its end. */
const MAX_MARKUP = 1 << 20;
/** Longest reference accepted between `&` and `;`. */
const MAX_REFERENCE = 40;

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const BANG = 0x21;
const QUESTION = 0x3f;
const EQUALS = 0x3d;
const QUOTE = 0x22;
const APOSTROPHE = 0x27;

/** Characters XML 1.0 never allows, even as references (surrogates cannot come out of the decoder). */
// eslint-disable-next-line no-control-regex -- control characters are exactly what it finds
const FORBIDDEN = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;

// ASCII name characters: 1 may start a name, 2 may continue one.
const NAME_ASCII = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z_:]/.test(ch)) NAME_ASCII[c] = 3;
  else if (/[0-9.-]/.test(ch)) NAME_ASCII[c] = 2;
}

function isNameStart(c: number): boolean {
  if (c < 128) return (NAME_ASCII[c]! & 1) !== 0;
  return (
    (c >= 0xc0 && c <= 0xd6) ||
    (c >= 0xd8 && c <= 0xf6) ||
    (c >= 0xf8 && c <= 0x2ff) ||
    (c >= 0x370 && c <= 0x37d) ||
    (c >= 0x37f && c <= 0x1fff) ||
    c === 0x200c ||
    c === 0x200d ||
    (c >= 0x2070 && c <= 0x218f) ||
    (c >= 0x2c00 && c <= 0x2fef) ||
    (c >= 0x3001 && c <= 0xdfff) || // includes surrogate pairs, for #x10000-#xEFFFF
    (c >= 0xf900 && c <= 0xfdcf) ||
    (c >= 0xfdf0 && c <= 0xfffd)
  );
}

function isNameChar(c: number): boolean {
  if (c < 128) return NAME_ASCII[c]! !== 0;
  return isNameStart(c) || c === 0xb7 || (c >= 0x300 && c <= 0x36f) || c === 0x203f || c === 0x2040;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
}

function isXmlCodePoint(c: number): boolean {
  return c === 0x09 || c === 0x0a || c === 0x0d || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const ENTITY_NAME = /^[A-Za-z_:][A-Za-z0-9_:.-]*$/;
const DECIMAL = /^#[0-9]+$/;
const HEX = /^#x[0-9A-Fa-f]+$/;

function normaliseLineEnds(s: string): string {
  return s.indexOf('\r') === -1 ? s : s.replace(/\r\n?/g, '\n');
}

export class XmlScanner {
  /**
   * Whether character data inside the root is wanted (the handler sets it as elements open and
   * close); without it, it is only checked.
   */
  wantText = false;
  /** Line breaks dropped before the document, added to reported line numbers. */
  lineOffset = 0;
  /** Something other than comments and whitespace followed the root element; it was not read. */
  trailingContent = false;

  private rest = '';
  private buf = '';
  /** Start of the token being read in `buf`, for positions. */
  private at = 0;
  private linesBefore = 0;
  private columnBefore = 0;
  private readonly stack: string[] = [];
  private rootSeen = false;
  private rootClosed = false;
  private stopped = false;

  constructor(private readonly handler: XmlHandler) {}

  write(chunk: string): void {
    if (this.stopped || chunk.length === 0) return;
    const buf = this.rest === '' ? chunk : this.rest + chunk;
    const bad = chunk.search(FORBIDDEN);
    const limit = bad === -1 ? buf.length : buf.length - chunk.length + bad;
    const pos = this.scan(buf, limit, false);
    if (bad !== -1 && !this.stopped) this.forbiddenCharacter(limit);
    if (this.stopped) return;
    if (limit - pos > MAX_MARKUP) {
      throw this.malformed(pos, `a tag, comment or CDATA section longer than ${MAX_MARKUP / 1024} KiB; no report needs one.`);
    }
    this.rest = buf.slice(pos, limit);
    this.advance(buf, pos);
  }

  /** Ends the document: whatever is still open or incomplete is an error. */
  close(): void {
    if (this.stopped) return;
    const buf = this.rest;
    const pos = this.scan(buf, buf.length, true);
    if (this.stopped) return;
    this.stopped = true;
    if (pos < buf.length) {
      throw this.malformed(buf.length, 'the document ends in the middle of a tag or comment. The file is probably truncated; ask the reporter to resend it.');
    }
    if (this.stack.length > 0) {
      throw this.malformed(
        buf.length,
        `the document ends while <${this.stack[this.stack.length - 1]}> is still open. ` +
          'The file is probably truncated (cut off in transfer or by a size limit); ask the reporter to resend it.',
      );
    }
    if (!this.rootSeen) throw this.malformed(buf.length, 'the document has no root element.');
  }

  /** Line of the token being read (1-based), for messages. */
  line(): number {
    return this.position(this.at).line;
  }

  /** Reads the complete tokens of `buf[0, len)`; returns where the first incomplete one starts. */
  private scan(buf: string, len: number, final: boolean): number {
    this.buf = buf;
    let pos = 0;
    let nextAmp = buf.indexOf('&');
    while (pos < len && !this.stopped) {
      this.at = pos;
      if (buf.charCodeAt(pos) !== LT) {
        const lt = buf.indexOf('<', pos);
        let end = lt === -1 || lt > len ? len : lt;
        // text running to the end of the chunk: inside the root, hand over what is safe; outside
        // it, nothing waits (it may only be whitespace, however long)
        if (end === len && !final && this.stack.length > 0) {
          end = this.safeTextEnd(buf, pos, len);
          if (end === pos) break;
        }
        if (nextAmp !== -1 && nextAmp < pos) nextAmp = buf.indexOf('&', pos);
        this.characterData(buf, pos, end, lt === -1 || lt > len ? len : lt, nextAmp !== -1 && nextAmp < end);
        pos = end;
        continue;
      }
      if (pos + 1 >= len) break;
      const c = buf.charCodeAt(pos + 1);
      let next: number;
      if (c === SLASH) next = this.closeTag(buf, pos, len);
      else if (c === BANG) next = this.declaration(buf, pos, len, final);
      else if (c === QUESTION) next = this.instruction(buf, pos, len);
      else next = this.openTag(buf, pos, len);
      if (next === -1) break;
      pos = next;
    }
    return pos;
  }

  /** Moves the position counters past `buf[0, pos)`, which is about to be dropped. */
  private advance(buf: string, pos: number): void {
    let lines = 0;
    let last = -1;
    for (let i = buf.indexOf('\n'); i !== -1 && i < pos; i = buf.indexOf('\n', i + 1)) {
      lines++;
      last = i;
    }
    this.linesBefore += lines;
    this.columnBefore = last === -1 ? this.columnBefore + pos : pos - last - 1;
  }

  private position(index: number): { line: number; column: number } {
    const buf = this.buf;
    let line = 1 + this.lineOffset + this.linesBefore;
    let last = -1;
    for (let i = buf.indexOf('\n'); i !== -1 && i < index; i = buf.indexOf('\n', i + 1)) {
      line++;
      last = i;
    }
    return { line, column: last === -1 ? this.columnBefore + index + 1 : index - last };
  }

  private malformed(index: number, explanation: string): ReportError {
    this.stopped = true;
    const { line, column } = this.position(index);
    return new ReportError('malformed_xml', `The XML is malformed at line ${line}, column ${column}: ${explanation}`);
  }

  private forbiddenCharacter(index: number): void {
    if (this.rootClosed) {
      this.stopAtTrailingContent();
      return;
    }
    throw this.malformed(index, 'a character XML does not allow (a control character or an invalid code point).');
  }

  private stopAtTrailingContent(): void {
    this.trailingContent = true;
    this.stopped = true;
    this.rest = '';
  }

  /**
   * Where text that runs to the end of the buffer can be cut. The last MAX_REFERENCE + 1
   * characters wait for the next chunk, so that every `&` handed over is judged on its whole
   * window as in the whole document, and the cut moves back before a reference it would split
   * (or a CR of a CR LF pair).
   */
  private safeTextEnd(buf: string, pos: number, len: number): number {
    let end = Math.max(pos, len - MAX_REFERENCE - 1);
    // the last `&` close enough before the cut to have its `;` after it (lastIndexOf would search the whole chunk)
    let amp = -1;
    for (let i = buf.indexOf('&', Math.max(pos, end - MAX_REFERENCE - 1)); i !== -1 && i < end; i = buf.indexOf('&', i + 1)) amp = i;
    if (amp !== -1) {
      const semi = buf.indexOf(';', amp + 1);
      if (semi >= end && semi < amp + 1 + MAX_REFERENCE) end = amp;
    }
    if (end > pos && buf.charCodeAt(end - 1) === 0x0d) end--;
    return end;
  }

  /** `buf[start, end)` is character data; the run it belongs to goes on at least to `known`. */
  private characterData(buf: string, start: number, end: number, known: number, hasReference: boolean): void {
    if (this.stack.length === 0) {
      for (let i = start; i < end; i++) {
        if (isSpace(buf.charCodeAt(i))) continue;
        if (this.rootClosed) {
          this.stopAtTrailingContent();
          return;
        }
        throw this.malformed(i, 'text outside the root element.');
      }
      return;
    }
    if (!this.wantText) {
      if (hasReference) this.expand(buf, start, end, known);
      return;
    }
    this.handler.onText(normaliseLineEnds(hasReference ? this.expand(buf, start, end, known) : buf.slice(start, end)));
  }

  /**
   * The text of `buf[start, end)` with its references replaced; throws on a malformed one. A
   * reference is looked for up to MAX_REFERENCE characters on, within the text that goes on to `known`.
   */
  private expand(buf: string, start: number, end: number, known = end): string {
    let out = '';
    let from = start;
    for (let amp = buf.indexOf('&', start); amp !== -1 && amp < end; amp = buf.indexOf('&', from)) {
      const windowEnd = Math.min(known, amp + 1 + MAX_REFERENCE);
      const semi = buf.indexOf(';', amp + 1);
      if (semi === -1 || semi >= windowEnd) {
        throw this.malformed(
          amp,
          `a literal "&" followed by ${JSON.stringify(buf.slice(amp + 1, windowEnd))} was never ended by ";". ` +
            'A "&" in a value must be written "&amp;".',
        );
      }
      out += buf.slice(from, amp) + this.reference(buf, amp, semi);
      from = semi + 1;
    }
    return out + buf.slice(from, end);
  }

  private reference(buf: string, amp: number, semi: number): string {
    const name = buf.slice(amp + 1, semi);
    const predefined = PREDEFINED[name];
    if (predefined !== undefined) return predefined;
    if (DECIMAL.test(name) || HEX.test(name)) {
      const code = name.charCodeAt(1) === 0x78 ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      if (!isXmlCodePoint(code)) {
        throw this.malformed(amp, `the character reference &${name}; names a character XML does not allow.`);
      }
      return String.fromCodePoint(code);
    }
    if (ENTITY_NAME.test(name)) {
      throw this.malformed(
        amp,
        'an entity reference that XML does not define. Only &amp; &lt; &gt; &quot; &apos; and numeric character ' +
          'references are allowed; a literal "&" in a value must be written "&amp;".',
      );
    }
    throw this.malformed(amp, 'a literal "&" in a value; it must be written "&amp;".');
  }

  private unexpectedInTag(index: number): ReportError {
    return this.malformed(index, 'an unexpected character inside a tag; a literal "<" in a value must be written "&lt;".');
  }

  /** `<name attr="v" …>` or `<name …/>`; returns the index after it, or -1 when it is not complete yet. */
  private openTag(buf: string, pos: number, len: number): number {
    if (this.stack.length === 0 && this.rootClosed) {
      this.stopAtTrailingContent();
      return len;
    }
    let i = pos + 1;
    if (!isNameStart(buf.charCodeAt(i))) throw this.unexpectedInTag(i);
    i++;
    while (i < len && isNameChar(buf.charCodeAt(i))) i++;
    if (i >= len) return -1;
    const name = buf.slice(pos + 1, i);
    let attributes: XmlAttributes | null = null;
    for (;;) {
      let c = buf.charCodeAt(i);
      if (c === GT) {
        this.enter(name, attributes, false);
        return i + 1;
      }
      if (c === SLASH) {
        if (i + 1 >= len) return -1;
        if (buf.charCodeAt(i + 1) !== GT) throw this.unexpectedInTag(i + 1);
        this.enter(name, attributes, true);
        return i + 2;
      }
      if (!isSpace(c)) throw this.unexpectedInTag(i);
      while (i < len && isSpace(buf.charCodeAt(i))) i++;
      if (i >= len) return -1;
      c = buf.charCodeAt(i);
      if (c === GT || c === SLASH) continue;
      // an attribute: name = "value"
      if (!isNameStart(c)) throw this.unexpectedInTag(i);
      const nameStart = i;
      while (i < len && isNameChar(buf.charCodeAt(i))) i++;
      const attribute = buf.slice(nameStart, i);
      while (i < len && isSpace(buf.charCodeAt(i))) i++;
      if (i >= len) return -1;
      if (buf.charCodeAt(i) !== EQUALS) throw this.malformed(i, `the attribute ${attribute} of <${name}> has no value.`);
      i++;
      while (i < len && isSpace(buf.charCodeAt(i))) i++;
      if (i >= len) return -1;
      const quote = buf.charCodeAt(i);
      if (quote !== QUOTE && quote !== APOSTROPHE) throw this.malformed(i, `the value of the attribute ${attribute} of <${name}> is not in quotes.`);
      const close = buf.indexOf(quote === QUOTE ? '"' : "'", i + 1);
      if (close === -1 || close >= len) return -1;
      const lt = buf.indexOf('<', i + 1);
      if (lt !== -1 && lt < close) throw this.malformed(lt, `a "<" in the value of the attribute ${attribute}; it must be written "&lt;".`);
      attributes ??= Object.create(null) as XmlAttributes;
      if (attribute in attributes) throw this.malformed(nameStart, `the attribute ${attribute} appears twice in <${name}>.`);
      const raw = buf.indexOf('&', i + 1);
      const value = raw !== -1 && raw < close ? this.expand(buf, i + 1, close) : buf.slice(i + 1, close);
      attributes[attribute] = value.replace(/[\t\n\r]/g, ' ');
      i = close + 1;
      if (i >= len) return -1;
      c = buf.charCodeAt(i);
      if (c !== GT && c !== SLASH && !isSpace(c)) throw this.unexpectedInTag(i);
    }
  }

  private enter(name: string, attributes: XmlAttributes | null, selfClosing: boolean): void {
    this.rootSeen = true;
    this.stack.push(name);
    this.handler.onOpen(name, attributes, selfClosing);
    if (selfClosing) this.leave(name, true);
  }

  private leave(name: string, selfClosing: boolean): void {
    this.stack.pop();
    if (this.stack.length === 0) this.rootClosed = true;
    this.handler.onClose(name, selfClosing);
  }

  /** `</name>`: must close the element that is open. */
  private closeTag(buf: string, pos: number, len: number): number {
    const gt = buf.indexOf('>', pos + 2);
    if (gt === -1 || gt >= len) return -1;
    const stack = this.stack;
    if (stack.length === 0) {
      if (this.rootClosed) {
        this.stopAtTrailingContent();
        return len;
      }
      const name = buf.slice(pos + 2, gt).trim();
      throw this.malformed(gt, `found </${name}>, but no <${name}> is open.`);
    }
    const open = stack[stack.length - 1]!;
    let end = pos + 2 + open.length;
    if (buf.startsWith(open, pos + 2)) {
      while (end < gt && isSpace(buf.charCodeAt(end))) end++;
      if (end === gt) {
        this.leave(open, false);
        return gt + 1;
      }
    }
    for (let i = pos + 2; i < gt; i++) {
      const c = buf.charCodeAt(i);
      if (!(i === pos + 2 ? isNameStart(c) : isNameChar(c) || isSpace(c))) throw this.unexpectedInTag(i);
    }
    throw this.malformed(gt, `expected </${open}> but found a different closing tag: <${open}> is never closed or the tag names do not match.`);
  }

  /** `<!-- … -->`, `<![CDATA[ … ]]>` or a refused `<!DOCTYPE`. */
  private declaration(buf: string, pos: number, len: number, final: boolean): number {
    if (buf.startsWith('<!--', pos)) {
      const end = buf.indexOf('-->', pos + 4);
      return end === -1 || end + 3 > len ? -1 : end + 3;
    }
    if (buf.startsWith('<![CDATA[', pos)) {
      const end = buf.indexOf(']]>', pos + 9);
      if (end === -1 || end + 3 > len) return -1;
      if (this.stack.length === 0) {
        if (this.rootClosed) {
          this.stopAtTrailingContent();
          return len;
        }
        throw this.malformed(pos, 'text outside the root element.');
      }
      if (this.wantText) this.handler.onText(normaliseLineEnds(buf.slice(pos + 9, end)));
      return end + 3;
    }
    if (buf.slice(pos + 2, pos + 9).toUpperCase() === 'DOCTYPE') {
      this.stopped = true;
      throw new ReportError(
        'dtd_refused',
        'The document contains a <!DOCTYPE> declaration. DMARC reports never need one, and DTDs can be used for ' +
          'entity-expansion and external-entity attacks, so the document was refused without reading the DTD.',
      );
    }
    if (!final && len - pos < 9) return -1;
    if (this.rootClosed) {
      this.stopAtTrailingContent();
      return len;
    }
    throw this.unexpectedInTag(pos + 1);
  }

  /** `<?target …?>`, the XML declaration included: skipped. */
  private instruction(buf: string, pos: number, len: number): number {
    const end = buf.indexOf('?>', pos + 2);
    return end === -1 || end + 2 > len ? -1 : end + 2;
  }
}
