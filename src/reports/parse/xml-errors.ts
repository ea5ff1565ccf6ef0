/** Turns saxes well-formedness errors into `malformed_xml` problems a person can act on. */
import { ReportError } from '../types.js';

const POSITION_PREFIX = /^\d+:\d+: /;

export interface ParserContext {
  /** The element whose closing tag was expected, when known. */
  openTag: string | null;
  /** Text read after a `&` that has not been closed by `;` yet. */
  pendingEntity: string;
}

/**
 * @param raw the saxes message (`line:column: text`)
 * @param line 1-based line in the original document
 * @param column 1-based column
 */
export function malformedXml(raw: string, line: number, column: number, context: ParserContext): ReportError {
  const message = raw.replace(POSITION_PREFIX, '');
  return new ReportError('malformed_xml', `The XML is malformed at line ${line}, column ${column}: ${explain(message, context)}`);
}

function explain(message: string, { openTag, pendingEntity }: ParserContext): string {
  // A bare `&` makes the parser read everything up to the next `;` as an entity name.
  if (pendingEntity !== '' && (message.startsWith('unclosed tag: ') || message === 'unexpected end.')) {
    return (
      `a literal "&" followed by ${JSON.stringify(pendingEntity.slice(0, 40))} was never ended by ";". ` +
      'A "&" in a value must be written "&amp;".'
    );
  }
  if (message.startsWith('unclosed tag: ')) {
    const name = message.slice('unclosed tag: '.length);
    return (
      `the document ends while <${name}> is still open. ` +
      'The file is probably truncated (cut off in transfer or by a size limit); ask the reporter to resend it.'
    );
  }
  if (message.startsWith('unmatched closing tag: ')) {
    const name = message.slice('unmatched closing tag: '.length).replace(/\.$/, '');
    return `found </${name}>, but no <${name}> is open.`;
  }
  switch (message) {
    case 'unexpected end.':
      return 'the document ends in the middle of a tag or comment. The file is probably truncated; ask the reporter to resend it.';
    case 'document must contain a root element.':
      return 'the document has no root element.';
    case 'unexpected close tag.':
      return openTag === null
        ? 'a closing tag does not match the element that is open.'
        : `expected </${openTag}> but found a different closing tag: <${openTag}> is never closed or the tag names do not match.`;
    case 'undefined entity.':
      return (
        'an entity reference that XML does not define. Only &amp; &lt; &gt; &quot; &apos; and numeric character ' +
        'references are allowed; a literal "&" in a value must be written "&amp;".'
      );
    case 'disallowed character in entity name.':
      return 'a literal "&" in a value; it must be written "&amp;".';
    case 'disallowed character in tag name':
    case 'disallowed character in tag name.':
    case 'disallowed character in closing tag.':
      return 'an unexpected character inside a tag; a literal "<" in a value must be written "&lt;".';
    case 'disallowed character.':
      return 'a character XML does not allow (a control character or an invalid code point).';
    case 'text data outside of root node.':
      return 'text outside the root element.';
    case 'documents may contain only one root.':
      return 'a second root element.';
    default:
      return message;
  }
}
