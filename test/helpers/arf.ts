/** Builders for failure-report test mails: ARF (RFC 5965/6591), plain-text reports and other mail. */

export type Eol = '\r\n' | '\n' | '\r';

/** The feedback fields of a typical DMARC auth-failure report, in the usual order. */
export const AUTH_FAILURE_FIELDS: [string, string][] = [
  ['Feedback-Type', 'auth-failure'],
  ['User-Agent', 'Receiver/2.0'],
  ['Version', '1'],
  ['Original-Mail-From', '<bounce@example.com>'],
  ['Original-Rcpt-To', '<victim@example.net>'],
  ['Arrival-Date', 'Tue, 05 Mar 2024 09:59:58 +0000'],
  ['Source-IP', '203.0.113.7'],
  ['Reported-Domain', 'Example.COM'],
  ['Reported-URI', 'http://example.com/a'],
  ['Reported-URI', 'http://example.com/b'],
  ['Auth-Failure', 'dmarc'],
  ['Identity-Alignment', 'none'],
  ['Delivery-Result', 'Reject'],
  ['DKIM-Domain', 'Example.com'],
  ['DKIM-Identity', '@example.com'],
  ['DKIM-Selector', 's1'],
  ['SPF-DNS', 'txt : example.com : "v=spf1 ip4:192.0.2.0/24 -all"'],
  ['Original-Envelope-Id', 'env-42'],
];

/** Text that must never show up in a parsed report: it sits in the original message's body or attachment. */
export const BODY_MARKER = 'PRIVATE BODY TEXT: please wire money';
export const ATTACHMENT_MARKER = 'U0VDUkVUQVRUQUNITUVOVEJZVEVT';

/** A reported message with a multipart body and a PDF attachment (LF line endings; the builder converts). */
export const ORIGINAL_WITH_BODY = [
  'Received: from mail.example.com (mail.example.com [203.0.113.7])',
  '\tby mx.receiver.example with ESMTPS id 4TqK1;',
  '\tTue, 05 Mar 2024 09:59:58 +0000',
  'From: =?UTF-8?B?SsO8cmdlbg==?= <ceo@example.com>',
  'To: victim@example.net',
  'Subject: =?ISO-8859-1?Q?Rechnung_f=FCr_Sie?=',
  'Message-ID: <forged-1@example.com>',
  'Date: Tue, 05 Mar 2024 10:59:50 +0100',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="inner"',
  '',
  '--inner',
  'Content-Type: text/plain',
  '',
  BODY_MARKER,
  '--inner',
  'Content-Type: application/pdf; name="invoice.pdf"',
  'Content-Disposition: attachment; filename="invoice.pdf"',
  'Content-Transfer-Encoding: base64',
  '',
  ATTACHMENT_MARKER,
  '--inner--',
  '',
].join('\n');

export interface ArfOptions {
  eol?: Eol;
  from?: string;
  /** Raw Subject header value (RFC 2047 words allowed). */
  subject?: string;
  date?: string;
  /** Extra top-level header lines, written before Content-Type. */
  headers?: string[];
  /** The Content-Type header of the whole mail (may contain folded lines); a boundary of "outer" is expected. */
  contentType?: string;
  humanText?: string;
  /** Feedback fields; `null` leaves the message/feedback-report part out. */
  fields?: [string, string][] | null;
  /** Raw feedback part body, used instead of `fields` (for folding and oddities). */
  feedbackBody?: string;
  /** The reported message (or its headers); `null` leaves the third part out. */
  original?: string | null;
  originalType?: string;
  originalEncoding?: '7bit' | 'base64';
}

function withEol(text: string, eol: Eol): string {
  return text.replace(/\r\n?|\n/g, eol);
}

/** An ARF multipart/report mail (boundary "outer"). */
export function buildArf(options: ArfOptions = {}): Buffer {
  const eol = options.eol ?? '\r\n';
  const fields = options.fields === undefined ? AUTH_FAILURE_FIELDS : options.fields;
  const original = options.original === undefined ? ORIGINAL_WITH_BODY : options.original;
  const lines = [
    `From: ${options.from ?? 'DMARC Reporter <dmarc@receiver.example>'}`,
    'To: ruf@example.com',
    `Subject: ${options.subject ?? 'DMARC Failure Report for example.com'}`,
    `Date: ${options.date ?? 'Tue, 05 Mar 2024 10:00:00 +0000'}`,
    'Message-ID: <report-1@receiver.example>',
    ...(options.headers ?? []),
    'MIME-Version: 1.0',
    `Content-Type: ${options.contentType ?? 'multipart/report; report-type=feedback-report;\n\tboundary="outer"'}`,
    '',
    'This is a multi-part message in MIME format.',
    '',
    '--outer',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    options.humanText ??
      'This is an authentication failure report for an email message received from IP\n203.0.113.7 on Tue, 05 Mar 2024 09:59:58 +0000.',
    '',
  ];
  if (fields !== null || options.feedbackBody !== undefined) {
    lines.push('--outer', 'Content-Type: message/feedback-report', '');
    lines.push(options.feedbackBody ?? (fields ?? []).map(([name, value]) => `${name}: ${value}`).join('\n'), '');
  }
  if (original !== null) {
    const encoding = options.originalEncoding ?? '7bit';
    lines.push('--outer', `Content-Type: ${options.originalType ?? 'message/rfc822'}`, 'Content-Disposition: inline');
    if (encoding === 'base64') {
      const encoded = Buffer.from(withEol(original, '\r\n'), 'utf8').toString('base64');
      lines.push('Content-Transfer-Encoding: base64', '', ...(encoded.match(/.{1,76}/g) ?? []));
    } else {
      lines.push('', original);
    }
  }
  lines.push('--outer--', '');
  return Buffer.from(withEol(lines.join('\n'), eol), 'utf8');
}

/** A single-part or hand-assembled mail: header lines, a blank line, then the body. */
export function buildMessage(headers: string[], body: string, eol: Eol = '\r\n'): Buffer {
  return Buffer.from(withEol(`${headers.join('\n')}\n\n${body}`, eol), 'utf8');
}
