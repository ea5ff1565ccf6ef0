import crypto from 'node:crypto';
import type { MessageStructureObject } from 'imapflow';

/** Above this size a message is read part by part, skipping what cannot carry a report. */
export const PARTIAL_FETCH_THRESHOLD = 1024 * 1024;

const SKIPPED_TYPES = /^(image|audio|video|font|model)\//;

/**
 * The leaf parts of a message that may carry a report: archives, XML, JSON, ARF parts and
 * attached files. Inline text and HTML bodies, pictures and media are left on the server.
 */
export function reportParts(structure: MessageStructureObject): MessageStructureObject[] {
  const out: MessageStructureObject[] = [];
  const walk = (node: MessageStructureObject) => {
    const type = node.type.toLowerCase();
    if (node.childNodes?.length && type.startsWith('multipart/')) {
      node.childNodes.forEach(walk);
      return;
    }
    if (!node.part || SKIPPED_TYPES.test(type)) return;
    const attached = node.disposition === 'attachment' || Boolean(node.dispositionParameters?.filename ?? node.parameters?.name);
    if (type.startsWith('text/') && !attached && type !== 'text/xml' && type !== 'text/rfc822-headers') return;
    out.push(node);
  };
  walk(structure);
  return out;
}

/** Header block without the fields that describe the original body (its type and encoding). */
function headersWithoutBody(header: Buffer): string {
  const text = header.toString('latin1').replace(/(\r?\n)+$/, '');
  const fields = text.split(/\r?\n(?![ \t])/);
  return fields.filter((f) => !/^content-(type|transfer-encoding)\s*:/i.test(f)).join('\r\n');
}

/**
 * A well-formed message holding only the chosen parts, each with its own MIME header and body as
 * the server stored them (still transfer-encoded): the pipeline reads it like the original.
 */
export function assembleParts(header: Buffer, parts: { mime: Buffer; body: Buffer }[]): Buffer {
  const boundary = `dmarcwatch-${crypto.randomBytes(12).toString('hex')}`;
  const chunks: Buffer[] = [
    Buffer.from(`${headersWithoutBody(header)}\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n`, 'latin1'),
  ];
  for (const part of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\n`), Buffer.from(part.mime.toString('latin1').replace(/(\r?\n)*$/, '\r\n\r\n'), 'latin1'), part.body, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}
