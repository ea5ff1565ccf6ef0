/** A leaf MIME part. */
export interface MimeLeaf {
  /** Content-Type value without the name parameter, e.g. `application/zip` or `text/plain; charset=utf-8`. */
  contentType: string;
  filename?: string;
  /** Defaults to `attachment` when a filename is given, no header otherwise. */
  disposition?: 'attachment' | 'inline' | null;
  /** Defaults to base64 for binary content types, 7bit for text. */
  encoding?: 'base64' | 'quoted-printable' | '7bit';
  content: Uint8Array | string;
}

/** A multipart body: `subtype` may carry parameters, e.g. `report; report-type=tlsrpt`. */
export interface MimeMultipart {
  subtype: string;
  parts: MimeNode[];
}

export type MimeNode = MimeLeaf | MimeMultipart;

export interface MailSpec {
  from?: string;
  to?: string;
  subject?: string;
  headers?: [string, string][];
  body: MimeNode;
  /** Line ending, CRLF by default. */
  eol?: '\r\n' | '\n' | '\r';
}

let boundaryCounter = 0;

/** Builds an RFC 5322 message. */
export function buildMail(spec: MailSpec): Buffer {
  const eol = spec.eol ?? '\r\n';
  const lines = [
    `From: ${spec.from ?? 'Reporter <noreply-dmarc@reporter.example>'}`,
    `To: ${spec.to ?? 'dmarc@example.com'}`,
    `Subject: ${spec.subject ?? 'Report Domain: example.com'}`,
    'Date: Mon, 14 Oct 2024 09:40:04 +0000',
    `Message-ID: <${++boundaryCounter}.test@reporter.example>`,
    'MIME-Version: 1.0',
    ...(spec.headers ?? []).map(([name, value]) => `${name}: ${value}`),
  ];
  // a line break after a single-part body is part of it, unless the body is base64
  const end = !isMultipart(spec.body) && renderNode(spec.body, eol).includes('Content-Transfer-Encoding: base64') ? eol : '';
  return Buffer.from(lines.join(eol) + eol + renderNode(spec.body, eol) + end, 'latin1');
}

function isMultipart(node: MimeNode): node is MimeMultipart {
  return 'parts' in node;
}

/** Headers of the node, a blank line, then its body (as a latin1 string: every byte is one char). */
function renderNode(node: MimeNode, eol: string): string {
  if (isMultipart(node)) {
    const boundary = `----=_Part_${++boundaryCounter}_test`;
    const [subtype, ...params] = node.subtype.split(';').map((s) => s.trim());
    const header = `Content-Type: multipart/${[subtype, ...params, `boundary="${boundary}"`].join('; ')}`;
    const body = node.parts.map((part) => `--${boundary}${eol}${renderNode(part, eol)}${eol}`).join('');
    return `${header}${eol}${eol}This is a multi-part message in MIME format.${eol}${body}--${boundary}--${eol}`;
  }
  const bytes = typeof node.content === 'string' ? Buffer.from(node.content, 'utf8') : Buffer.from(node.content);
  const textual = /^(text|message)\//i.test(node.contentType);
  const encoding = node.encoding ?? (textual ? '7bit' : 'base64');
  const headers = [`Content-Type: ${node.contentType}${node.filename ? `; name="${node.filename}"` : ''}`];
  const disposition = node.disposition === undefined ? (node.filename ? 'attachment' : null) : node.disposition;
  if (disposition) headers.push(`Content-Disposition: ${disposition}${node.filename ? `; filename="${node.filename}"` : ''}`);
  headers.push(`Content-Transfer-Encoding: ${encoding}`);
  const body =
    encoding === 'base64'
      ? (bytes.toString('base64').match(/.{1,76}/g) ?? []).join(eol)
      : encoding === 'quoted-printable'
        ? quotedPrintable(bytes, eol)
        : bytes.toString('latin1').replace(/\r\n|\n|\r/g, eol);
  return `${headers.join(eol)}${eol}${eol}${body}`;
}

function quotedPrintable(bytes: Buffer, eol: string): string {
  const out: string[] = [];
  let line = '';
  for (const byte of bytes) {
    const char = byte >= 0x21 && byte <= 0x7e && byte !== 0x3d ? String.fromCharCode(byte) : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    if (line.length + char.length > 75) {
      out.push(`${line}=`);
      line = '';
    }
    line += char;
  }
  out.push(line);
  return out.join(eol);
}

/** An mbox holding the given messages, each after a `From ` line and followed by a blank line. */
export function buildMbox(messages: Buffer[]): Buffer {
  return Buffer.concat(
    messages.flatMap((message, i) => [
      Buffer.from(`From MAILER-DAEMON Mon Oct 14 09:40:0${i % 10} 2024\n`),
      message,
      Buffer.from(message.subarray(-1).toString() === '\n' ? '\n' : '\n\n'),
    ]),
  );
}
