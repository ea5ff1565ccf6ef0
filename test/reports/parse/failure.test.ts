import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFailureReport } from '../../../src/reports/parse/failure.js';
import { ReportError, type FailureReport, type ProblemCode } from '../../../src/reports/types.js';
import { ATTACHMENT_MARKER, AUTH_FAILURE_FIELDS, BODY_MARKER, buildArf, buildMessage, ORIGINAL_WITH_BODY } from '../../helpers/arf.js';

const CORPUS = path.resolve(import.meta.dirname, '../../fixtures/corpus');

const manifest = fs
  .readFileSync(path.join(CORPUS, 'MANIFEST.tsv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((line) => line.split('\t'))
  .map((c) => ({ file: c[0]!, kind: c[4]!, notes: c[13] ?? '' }));

async function refusal(bytes: Uint8Array, options?: { keepHeaders?: boolean }): Promise<ReportError> {
  try {
    await parseFailureReport(bytes, options);
  } catch (error) {
    if (error instanceof ReportError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

/** Every line is a header field or the continuation of one: no body line can be in the block. */
function expectHeaderLinesOnly(block: string): void {
  const lines = block.split('\n');
  expect(lines[0]).toMatch(/^[!-9;-~]+\s*:/);
  for (const line of lines) expect(line).toMatch(/^([!-9;-~]+\s*:|[ \t]+\S)/);
}

interface Expected {
  fields: Partial<FailureReport>;
  arrival: string | null;
  /** A line of the reported message's body that must not be kept. */
  bodyLine: RegExp | null;
}

/** What each forensic row holds, read off the files by hand. */
const FORENSIC: Record<string, Expected> = {
  'mail-auth/003.eml': {
    fields: {
      sourceIp: '192.0.2.1',
      reportedDomain: 'example.net',
      authFailure: 'bodyhash',
      dkimDomain: 'example.net',
      userAgent: 'SomeDKIMFilter/1.0',
      originalMailFrom: 'randomuser@example.net',
      originalRcptTo: 'user@example.com',
      originalFrom: 'randomuser@example.net',
      originalSubject: 'This is a test',
      originalMessageId: null,
    },
    arrival: '2010-04-14T19:15:31.000Z', // Received-Date, the RFC 5965 draft name
    bodyLine: /just making sure DKIM is working/,
  },
  'mail-auth/004.eml': {
    fields: {
      sourceIp: '148.163.85.135', // written with a host name comment
      reportedDomain: 'interpublication.org',
      authFailure: 'dmarc',
      userAgent: 'OpenDMARC-Filter/1.3.2',
      originalEnvelopeId: '8BE2660E72',
      originalMailFrom: 'info@interpublication.org',
      originalFrom: '"Rolf Bader" <info@interpublication.org>',
      originalSubject: 'Wir kaufen dein Auto!',
    },
    arrival: '2021-10-05T04:37:02.000Z', // only in the human-readable sentence
    bodyLine: null,
  },
  'mail-auth/005.eml': {
    fields: {
      sourceIp: '192.0.2.1',
      reportedDomain: 'a.sender.example',
      reportedUri: ['http://www.sender.example/'],
      authFailure: 'bodyhash',
      dkimDomain: 'sender.example',
      dkimIdentity: '@sender.example',
      dkimSelector: 'testkey',
      originalMailFrom: 'anexample.reply@a.sender.example',
      originalEnvelopeId: 'o3F52gxO029144',
      originalFrom: 'anexample@a.sender.example',
      originalSubject: 'You have a new bill from your bank',
      originalMessageId: '<87913910.1318094604546@out.sender.example>',
      reportSubject: 'FW: You have a new bill from your bank',
    },
    arrival: '2011-10-08T20:15:58.000Z',
    bodyLine: null,
  },
  'set-of-emails/arf-18.eml': {
    fields: {
      sourceIp: '192.0.2.222',
      reportedDomain: 'example.net',
      authFailure: 'dmarc',
      deliveryResult: 'delivered',
      version: '1.0',
      originalMailFrom: 'sironeko@example.org',
      originalRcptTo: 'kijitora@example.com',
      originalFrom: 'Sironeko <sironeko@example.org>',
      originalSubject: 'Nyaan',
      originalMessageId: '<000000002.2222222.1500000000022@example.net>',
    },
    arrival: '2015-04-29T23:34:45.000Z',
    bodyLine: /Nyaaaaaaaaaaaaaaaan/,
  },
  'set-of-emails/arf-19.eml': {
    fields: {
      sourceIp: '203.0.113.2',
      reportedDomain: 'example.net',
      authFailure: null, // NetEase leaves Auth-Failure out
      dkimDomain: 'ietf.org; example.net',
      deliveryResult: 'delivered',
      userAgent: 'NtesDmarcReporter/1.0',
      originalMailFrom: 'sironeko@neko.example.com',
      originalSubject: 'Nyaan',
    },
    arrival: '2015-04-29T14:34:45.000Z',
    bodyLine: /^Nyaan$/m, // text/rfc822-headers part that carries a body anyway
  },
  'set-of-emails/arf-20.eml': {
    fields: {
      sourceIp: '203.0.113.2',
      reportedDomain: 'example.net',
      authFailure: 'dmarc',
      originalEnvelopeId: '0022FFEE',
      originalMailFrom: 'dmarc-bounces@ietf.example.org',
      originalMessageId: '<000000000eee@example.net>',
    },
    arrival: '2015-04-29T23:34:45.000Z',
    bodyLine: /Nyaaan/,
  },
};

/** Rows that are ARF but not DMARC failure reports: feedback-loop complaints. */
const FEEDBACK_LOOPS = new Set(['mail-auth/001.eml', 'mail-auth/002.eml', 'set-of-emails/arf-01.eml', 'set-of-emails/arf-02.eml']);

describe('parseFailureReport on the corpus', () => {
  const forensic = manifest.filter((r) => r.kind === 'forensic');
  const other = manifest.filter((r) => r.kind === 'other');

  it('has an expectation for every forensic and other row', () => {
    expect(forensic.length).toBeGreaterThan(0);
    for (const row of forensic) expect(FORENSIC, row.file).toHaveProperty([row.file]);
    for (const row of other) expect(FEEDBACK_LOOPS.has(row.file), row.file).toBe(true);
  });

  it.each(forensic.map((r) => r.file))('reads %s', async (file) => {
    const bytes = fs.readFileSync(path.join(CORPUS, file));
    const expected = FORENSIC[file]!;
    const r = await parseFailureReport(bytes);
    expect(r).toMatchObject({ feedbackType: 'auth-failure', plainText: false, ...expected.fields });
    expect(r.arrivalDate?.toISOString() ?? null).toBe(expected.arrival);
    expect(r.reportSubject).toBeTruthy();
    expect(r.reportDate).toBeInstanceOf(Date);

    const headers = r.originalHeaders!;
    expect(headers).toBeTruthy();
    expectHeaderLinesOnly(headers);
    if (expected.bodyLine) expect(headers).not.toMatch(expected.bodyLine);
    // The whole header block, as written: what follows it in the file is the end of the block.
    const lf = bytes
      .toString('latin1')
      .replace(/\r\n?/g, '\n')
      .split('\n')
      .map((l) => l.trimEnd())
      .join('\n');
    const at = lf.indexOf(headers);
    expect(at).toBeGreaterThan(0);
    expect(lf.slice(at + headers.length)).toMatch(/^\n(\n|--)/);
  });

  it.each(other.map((r) => [r.file, r.notes]))('refuses the feedback-loop complaint %s (%s)', async (file) => {
    const error = await refusal(fs.readFileSync(path.join(CORPUS, file)));
    expect(error.code).toBe('feedback_loop');
    expect(error.message).toMatch(/feedback-loop complaint \(Feedback-Type: abuse\)/);
  });

  it('never keeps DKIM-Canonicalized-Body (mail-auth/005.eml)', async () => {
    const r = await parseFailureReport(fs.readFileSync(path.join(CORPUS, 'mail-auth/005.eml')));
    expect(JSON.stringify(r)).not.toContain('VGhpcyBpcyBhIG1lc3NhZ2UgYm9keSB0');
  });
});

describe('ARF reports', () => {
  it('keeps every feedback field, normalised', async () => {
    const r = await parseFailureReport(buildArf());
    expect(r).toEqual({
      feedbackType: 'auth-failure',
      plainText: false,
      userAgent: 'Receiver/2.0',
      version: '1',
      arrivalDate: new Date('2024-03-05T09:59:58Z'),
      sourceIp: '203.0.113.7',
      reportedDomain: 'example.com',
      reportedUri: ['http://example.com/a', 'http://example.com/b'],
      authFailure: 'dmarc',
      identityAlignment: 'none',
      deliveryResult: 'reject',
      dkimDomain: 'example.com',
      dkimIdentity: '@example.com',
      dkimSelector: 's1',
      spfDns: 'txt : example.com : "v=spf1 ip4:192.0.2.0/24 -all"',
      originalMailFrom: 'bounce@example.com',
      originalRcptTo: 'victim@example.net',
      originalEnvelopeId: 'env-42',
      originalHeaders: expect.stringMatching(/^Received: from mail\.example\.com/),
      originalFrom: 'Jürgen <ceo@example.com>',
      originalSubject: 'Rechnung für Sie',
      originalMessageId: '<forged-1@example.com>',
      reportSubject: 'DMARC Failure Report for example.com',
      reportDate: new Date('2024-03-05T10:00:00Z'),
    });
  });

  it('unfolds folded lines, matches field names in any case, and decodes RFC 2047 subjects', async () => {
    const r = await parseFailureReport(
      buildArf({
        subject: '=?UTF-8?B?RE1BUkMgRmVobGVyYmVyaWNodCBmw7xy?=\n =?UTF-8?Q?_beispiel.de_=E2=80?= =?UTF-8?Q?=93_Nr._7?=',
        contentType: 'multipart/report;\n report-type="feedback-report";\n\tboundary=\n  "outer"',
        feedbackBody: [
          'feedback-type: Auth-Failure',
          'USER-AGENT: Folded',
          '  Agent/1.0',
          'Source-Ip:',
          '\t198.51.100.23',
          'reported-domain: beispiel.de',
          'SPF-DNS: txt : beispiel.de : "v=spf1 include:_spf.beispiel.de',
          '    ~all"',
          'auth-failure: dmarc',
          'Identity-Alignment: DKIM, SPF',
        ].join('\n'),
      }),
    );
    expect(r).toMatchObject({
      feedbackType: 'auth-failure',
      reportSubject: 'DMARC Fehlerbericht für beispiel.de – Nr. 7',
      userAgent: 'Folded Agent/1.0',
      sourceIp: '198.51.100.23',
      reportedDomain: 'beispiel.de',
      spfDns: 'txt : beispiel.de : "v=spf1 include:_spf.beispiel.de ~all"',
      authFailure: 'dmarc',
      identityAlignment: 'dkim,spf',
    });
  });

  it('keeps the header block of an attached message but never its body or attachment', async () => {
    const r = await parseFailureReport(buildArf());
    const all = JSON.stringify(r);
    expect(all).not.toContain(BODY_MARKER);
    expect(all).not.toContain(ATTACHMENT_MARKER);
    expect(all).not.toContain('SECRETATTACHMENTBYTES');
    expect(all).not.toContain('--inner');
    expect(r.originalHeaders).toBe(ORIGINAL_WITH_BODY.slice(0, ORIGINAL_WITH_BODY.indexOf('\n\n')));
    expectHeaderLinesOnly(r.originalHeaders!);
  });

  it.each(['\r\n', '\n', '\r'] as const)('reads the same report whatever the line endings (%j)', async (eol) => {
    const r = await parseFailureReport(buildArf({ eol }));
    expect(r.sourceIp).toBe('203.0.113.7');
    expect(r.originalHeaders).toBe(ORIGINAL_WITH_BODY.slice(0, ORIGINAL_WITH_BODY.indexOf('\n\n')));
  });

  it('reads base64-encoded original parts, and text/rfc822-headers with a stray body', async () => {
    const b64 = await parseFailureReport(buildArf({ originalEncoding: 'base64' }));
    expect(b64.originalSubject).toBe('Rechnung für Sie');
    expect(JSON.stringify(b64)).not.toContain(BODY_MARKER);
    const headersOnly = await parseFailureReport(buildArf({ originalType: 'text/rfc822-headers' }));
    expect(headersOnly.originalMessageId).toBe('<forged-1@example.com>');
    expect(JSON.stringify(headersOnly)).not.toContain(BODY_MARKER);
  });

  it('stops the header block at the first line that is not a header, even without a blank line', async () => {
    const r = await parseFailureReport(buildArf({ original: 'From: a@example.com\nSubject: hi\nthis is body text\nX-Looks: like a header' }));
    expect(r.originalHeaders).toBe('From: a@example.com\nSubject: hi');
  });

  it('reads raw UTF-8 in the original headers (RFC 6532) and drops NUL characters', async () => {
    const r = await parseFailureReport(buildArf({ original: 'From: Zoë <zoe@example.com>\nSubject: Grüße\u0000!\nMessage-ID: <u@example.com>\n\nbody' }));
    expect(r.originalFrom).toBe('Zoë <zoe@example.com>');
    expect(r.originalSubject).toBe('Grüße!');
    expect(r.originalHeaders).not.toContain('\u0000');
  });

  it('keeps no original headers at all when asked', async () => {
    const r = await parseFailureReport(buildArf(), { keepHeaders: false });
    expect(r).toMatchObject({ originalHeaders: null, originalFrom: null, originalSubject: null, originalMessageId: null });
    // The report's own fields stay.
    expect(r).toMatchObject({ sourceIp: '203.0.113.7', reportedDomain: 'example.com', originalMailFrom: 'bounce@example.com' });
  });

  it('has null original fields when the report includes no original message', async () => {
    const r = await parseFailureReport(buildArf({ original: null }));
    expect(r).toMatchObject({ originalHeaders: null, originalFrom: null, originalSubject: null, sourceIp: '203.0.113.7' });
  });

  it('normalises source addresses and reads what the fields allow', async () => {
    const fields = (overrides: Record<string, string>): [string, string][] =>
      AUTH_FAILURE_FIELDS.map(([n, v]) => [n, overrides[n] ?? v] as [string, string]);
    const v6 = await parseFailureReport(buildArf({ fields: fields({ 'Source-IP': '[IPv6:2001:DB8:0:0::0001]', 'Original-Mail-From': '<>' }) }));
    expect(v6.sourceIp).toBe('2001:db8::1');
    expect(v6.originalMailFrom).toBe('<>');
    const junk = await parseFailureReport(buildArf({ fields: fields({ 'Source-IP': 'unknown', 'Arrival-Date': 'yesterday at noon' }) }));
    expect(junk.sourceIp).toBeNull();
    expect(junk.arrivalDate).toBeNull();
    const obsolete = await parseFailureReport(buildArf({ fields: fields({ 'Arrival-Date': 'Thu, 8 Mar 05 17:40:36 EDT' }) }));
    expect(obsolete.arrivalDate?.toISOString()).toBe('2005-03-08T21:40:36.000Z');
    const impossible = await parseFailureReport(buildArf({ fields: fields({ 'Arrival-Date': 'Mon, 31 Apr 2024 10:00:00 +0000' }) }));
    expect(impossible.arrivalDate).toBeNull();
  });

  it('falls back to the original From domain when Reported-Domain is missing', async () => {
    const r = await parseFailureReport(buildArf({ fields: AUTH_FAILURE_FIELDS.filter(([n]) => n !== 'Reported-Domain') }));
    expect(r.reportedDomain).toBe('example.com');
  });

  it('treats a report with Auth-Failure but no Feedback-Type as a failure report', async () => {
    const r = await parseFailureReport(buildArf({ fields: AUTH_FAILURE_FIELDS.filter(([n]) => n !== 'Feedback-Type') }));
    expect(r.feedbackType).toBe('auth-failure');
  });

  it('refuses an ARF part with neither Feedback-Type nor Auth-Failure', async () => {
    const error = await refusal(buildArf({ fields: [['Source-IP', '192.0.2.1']] }));
    expect(error.code).toBe('invalid_report');
    expect(error.message).toMatch(/no Feedback-Type/);
  });

  it.each(['abuse', 'fraud', 'virus', 'not-spam', 'other', 'opt-out'])('refuses Feedback-Type %s as a feedback loop', async (type) => {
    const error = await refusal(buildArf({ fields: [['Feedback-Type', type], ['User-Agent', 'Yahoo!-Mail-Feedback/2.0'], ['Version', '1']] }));
    expect(error.code).toBe('feedback_loop');
    expect(error.message).toContain(`feedback-loop complaint (Feedback-Type: ${type})`);
    expect(error.message).toMatch(/not a DMARC failure report/);
  });

  it('reads a report forwarded as an attachment', async () => {
    const inner = buildArf().toString('utf8');
    const mail = buildMessage(
      ['From: admin@example.com', 'Subject: Fwd: DMARC Failure Report', 'Date: Wed, 06 Mar 2024 08:00:00 +0000', 'Content-Type: multipart/mixed; boundary="fwd"'],
      ['--fwd', 'Content-Type: text/plain', '', 'see attached', '--fwd', 'Content-Type: message/rfc822', '', inner, '--fwd--', ''].join('\r\n'),
    );
    const r = await parseFailureReport(mail);
    expect(r).toMatchObject({ sourceIp: '203.0.113.7', reportSubject: 'DMARC Failure Report for example.com', originalSubject: 'Rechnung für Sie' });
  });

  it('finds the ARF part inside a signed or wrapped message', async () => {
    const inner = buildArf().toString('utf8');
    const innerBody = inner.slice(inner.indexOf('\r\n\r\n') + 4);
    const mail = buildMessage(
      ['From: dmarc@receiver.example', 'Subject: DMARC report', 'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary="sig"'],
      [
        '--sig',
        'Content-Type: multipart/report; report-type=feedback-report; boundary="outer"',
        '',
        innerBody,
        '--sig',
        'Content-Type: application/pkcs7-signature',
        '',
        'MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwEAAKCAMIIB',
        '--sig--',
      ].join('\r\n'),
    );
    expect((await parseFailureReport(mail)).reportedDomain).toBe('example.com');
  });
});

describe('plain-text failure reports', () => {
  const headers = (subject: string) => ['From: postmaster@receiver.example', `Subject: ${subject}`, 'Date: Tue, 05 Mar 2024 10:00:00 +0000'];

  it('reads ARF-style fields written in the text body', async () => {
    const mail = buildMessage(
      [...headers('Authentication failure'), 'Content-Type: text/plain; charset=utf-8'],
      [
        'A message claiming to be from your domain failed authentication.',
        '',
        'Feedback-Type: auth-failure',
        'Source IP: 198.51.100.9',
        'Reported-Domain: example.com',
        'Auth-Failure: dmarc',
        'Arrival-Date: Tue, 05 Mar 2024 09:00:00 +0100',
        'Original-Mail-From: <x@example.com>',
        '',
      ].join('\n'),
    );
    const r = await parseFailureReport(mail);
    expect(r).toMatchObject({
      feedbackType: 'auth-failure',
      plainText: true,
      sourceIp: '198.51.100.9',
      reportedDomain: 'example.com',
      authFailure: 'dmarc',
      originalMailFrom: 'x@example.com',
      originalHeaders: null,
    });
    expect(r.arrivalDate?.toISOString()).toBe('2024-03-05T08:00:00.000Z');
  });

  it('reads the sentence and subject of a report without fields, with the original headers attached', async () => {
    const mail = buildMessage(
      [...headers('DMARC Failure Report for example.com'), 'Content-Type: multipart/mixed; boundary="m"'],
      [
        '--m',
        'Content-Type: text/plain; charset=iso-8859-1',
        'Content-Transfer-Encoding: quoted-printable',
        '',
        'This is an authentication failure report for an email message received from IP=',
        ' 192.0.2.55 on Mon, 04 Mar 2024 23:15:00 -0500 (EST).',
        '--m',
        'Content-Type: text/rfc822-headers',
        '',
        'From: "Boss" <boss@example.com>',
        'Subject: Urgent',
        'Message-ID: <p1@elsewhere.example>',
        '',
        'body that should not be here',
        '--m--',
      ].join('\r\n'),
    );
    const r = await parseFailureReport(mail);
    expect(r).toMatchObject({
      plainText: true,
      sourceIp: '192.0.2.55',
      reportedDomain: 'example.com',
      originalFrom: '"Boss" <boss@example.com>',
      originalSubject: 'Urgent',
      originalHeaders: 'From: "Boss" <boss@example.com>\nSubject: Urgent\nMessage-ID: <p1@elsewhere.example>',
    });
    expect(r.arrivalDate?.toISOString()).toBe('2024-03-05T04:15:00.000Z');
  });

  it('keeps original headers quoted in the text body', async () => {
    const mail = buildMessage(
      [...headers('DMARC forensic report'), 'Content-Type: text/plain'],
      [
        'Source-IP: 192.0.2.77',
        'Reported-Domain: example.org',
        '',
        'Headers of the message:',
        '',
        'Received: from bad.example (bad.example [192.0.2.77])',
        '  by mx.receiver.example; Tue, 05 Mar 2024 09:00:00 +0000',
        'From: CEO <ceo@example.org>',
        'Subject: Gift cards',
        'Message-ID: <q@bad.example>',
        '',
        'Please buy gift cards.',
      ].join('\n'),
    );
    const r = await parseFailureReport(mail);
    expect(r).toMatchObject({ plainText: true, sourceIp: '192.0.2.77', reportedDomain: 'example.org', originalSubject: 'Gift cards' });
    expect(r.originalHeaders).toMatch(/^Received: from bad\.example/);
    expect(r.originalHeaders).not.toContain('gift cards.');
  });

  it('falls back to the text of an ARF mail that lacks its feedback part', async () => {
    const r = await parseFailureReport(buildArf({ fields: null }));
    expect(r).toMatchObject({ plainText: true, sourceIp: '203.0.113.7', reportedDomain: 'example.com', originalSubject: 'Rechnung für Sie' });
    expect(r.arrivalDate?.toISOString()).toBe('2024-03-05T09:59:58.000Z');
    const empty = await refusal(buildArf({ fields: null, subject: 'Report', humanText: 'Hello.', original: null }));
    expect(empty.code).toBe('invalid_report');
    expect(empty.message).toMatch(/labelled as a feedback report/);
  });

  it('decodes the text body by its charset', async () => {
    const mail = buildMessage(
      [...headers('Authentication failure'), 'Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: quoted-printable'],
      'Feedback-Type: auth-failure\nSource-IP: 192.0.2.9\nDKIM-Identity: m=FCller@example.de\n',
    );
    expect((await parseFailureReport(mail)).dkimIdentity).toBe('müller@example.de');
  });

  it('refuses a plain-text feedback-loop complaint', async () => {
    const mail = buildMessage([...headers('Complaint'), 'Content-Type: text/plain'], 'Feedback-Type: abuse\nSource-IP: 192.0.2.1\n');
    expect((await refusal(mail)).code).toBe('feedback_loop');
  });

  it('does not take a mail that merely talks about DMARC failures for a report', async () => {
    const mail = buildMessage(
      [...headers('Re: DMARC failure reports keep arriving'), 'Content-Type: text/plain'],
      'Hi, we get a lot of DMARC failure reports lately. Should we turn off ruf=?\n',
    );
    const error = await refusal(mail);
    expect(error.code).toBe('not_a_report');
    expect(error.message).toContain('an ordinary mail');
  });
});

describe('mail that is not a failure report', () => {
  it('names a bounce', async () => {
    const dsn = buildMessage(
      ['From: MAILER-DAEMON@example.com', 'Subject: Undelivered Mail Returned to Sender', 'Content-Type: multipart/report; report-type=delivery-status; boundary="b"'],
      [
        '--b',
        'Content-Type: text/plain',
        '',
        'I could not deliver your message. Source-IP: 192.0.2.1, DMARC failure.',
        '--b',
        'Content-Type: message/delivery-status',
        '',
        'Reporting-MTA: dns; mx.example.com',
        '',
        'Final-Recipient: rfc822; nobody@example.com',
        'Action: failed',
        'Status: 5.1.1',
        '--b',
        'Content-Type: message/rfc822',
        '',
        buildArf().toString('utf8'),
        '--b--',
      ].join('\r\n'),
    );
    const error = await refusal(dsn);
    expect(error.code).toBe('not_a_report');
    expect(error.message).toBe('This mail ("Undelivered Mail Returned to Sender") appears to be a delivery status notification (bounce), not a DMARC report.');
  });

  it('names a read receipt', async () => {
    const mdn = buildMessage(
      ['From: a@example.com', 'Subject: Read: hello', 'Content-Type: multipart/report; report-type=disposition-notification; boundary="b"'],
      ['--b', 'Content-Type: text/plain', '', 'Your message was displayed.', '--b', 'Content-Type: message/disposition-notification', '', 'Disposition: manual-action/MDN-sent-manually; displayed', '--b--'].join('\r\n'),
    );
    const error = await refusal(mdn);
    expect(error.code).toBe('not_a_report');
    expect(error.message).toMatch(/read receipt/);
  });

  it('names a newsletter and an ordinary mail', async () => {
    const newsletter = await refusal(
      buildMessage(
        ['From: news@shop.example', 'Subject: =?UTF-8?Q?50=25_off_=E2=80=93_today_only?=', 'List-Unsubscribe: <mailto:unsub@shop.example>', 'Content-Type: text/html; charset=utf-8'],
        '<html><body><p>Buy now! Your authentication failure report is <b>not</b> here.</p></body></html>',
      ),
    );
    expect(newsletter.code).toBe('not_a_report');
    expect(newsletter.message).toBe('This mail ("50% off – today only") appears to be a newsletter or mailing-list message, not a DMARC report.');
    const ordinary = await refusal(buildMessage(['From: friend@example.net', 'Subject: lunch?'], 'Lunch at noon?'));
    expect(ordinary.message).toMatch(/"lunch\?".*an ordinary mail/);
  });

  it.each<[string, Buffer, ProblemCode]>([
    ['binary junk', Buffer.from([0, 1, 2, 3, 0xff, 0xfe, 10, 10, 65]), 'corrupt_mail'],
    ['a JSON document', Buffer.from('{"organization-name": "x", "policies": []}'), 'corrupt_mail'],
    ['text without headers', Buffer.from('hello\n\nworld'), 'corrupt_mail'],
    ['an ARF mail without its boundary', buildArf({ contentType: 'multipart/report; report-type=feedback-report' }), 'corrupt_mail'],
    ['an ARF mail with a wrong boundary', buildArf({ contentType: 'multipart/report; report-type=feedback-report; boundary="nope"' }), 'corrupt_mail'],
    ['nothing', Buffer.alloc(0), 'empty'],
  ])('refuses %s', async (_name, bytes, code) => {
    expect((await refusal(bytes)).code).toBe(code);
  });
});

describe('hostile failure reports', () => {
  it('bounds a huge original header block', async () => {
    const received = Array.from({ length: 60_000 }, (_, i) => `Received: from relay${i}.example by relay${i + 1}.example; Tue, 05 Mar 2024 09:00:00 +0000`);
    const r = await parseFailureReport(buildArf({ original: `${received.join('\n')}\nSubject: end\n\nbody` }));
    expect(r.originalHeaders!.length).toBeLessThanOrEqual(128 * 1024);
    expect(r.originalHeaders).toMatch(/^Received: from relay0\.example/);
    expect(r.sourceIp).toBe('203.0.113.7');
  });

  it('bounds huge feedback fields and many Reported-URI fields', async () => {
    const fields: [string, string][] = [
      ...AUTH_FAILURE_FIELDS,
      ['DKIM-Canonicalized-Body', 'A'.repeat(2_000_000)],
      ...Array.from({ length: 5000 }, (_, i): [string, string] => ['Reported-URI', `http://example.com/${i}`]),
    ];
    const r = await parseFailureReport(buildArf({ fields, subject: 'x'.repeat(100_000) }));
    expect(r.reportedUri.length).toBeLessThanOrEqual(100);
    expect(r.reportSubject!.length).toBeLessThanOrEqual(2048);
    expect(JSON.stringify(r).length).toBeLessThan(300_000);
  });

  it('survives deeply nested multiparts and thousands of parts', async () => {
    let body = 'Feedback-Type: auth-failure\r\nSource-IP: 192.0.2.1\r\n';
    let type = 'text/plain';
    for (let depth = 0; depth < 200; depth++) {
      body = `--b${depth}\r\nContent-Type: ${type}\r\n\r\n${body}\r\n--b${depth}--\r\n`;
      type = `multipart/mixed; boundary="b${depth}"`;
    }
    const nested = await refusal(buildMessage(['From: x@example.com', 'Subject: deep', `Content-Type: ${type}`], body));
    expect(nested.code).toBe('not_a_report');

    const many = Array.from({ length: 5000 }, () => '--m\r\nContent-Type: text/plain\r\n\r\nhello').join('\r\n');
    const wide = await refusal(buildMessage(['From: x@example.com', 'Subject: wide', 'Content-Type: multipart/mixed; boundary="m"'], `${many}\r\n--m--`));
    expect(wide.code).toBe('not_a_report');
  });

  it('reads hostile HTML in linear time', async () => {
    const html = `<p>${'<'.repeat(400_000)}${'<a '.repeat(100_000)}`;
    const started = Date.now();
    const error = await refusal(buildMessage(['From: x@example.com', 'Subject: DMARC failure', 'Content-Type: text/html'], html));
    expect(error.code).toBe('not_a_report');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('bounds an oversized top-level header block', async () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `X-Filler-${i}: ${'y'.repeat(50)}`);
    const error = await refusal(buildMessage(['From: x@example.com', ...lines, 'Subject: late'], 'hello'));
    expect(error.code).toBe('not_a_report');
  });
});

describe('report envelope fields', () => {
  it('reads the report Date with obsolete zones and comments, and tolerates a missing one', async () => {
    const r = await parseFailureReport(buildArf({ date: 'Sat, 8 Oct 2011 15:15:59 -0500 (CDT)' }));
    expect(r.reportDate?.toISOString()).toBe('2011-10-08T20:15:59.000Z');
    expect((await parseFailureReport(buildArf({ date: 'not a date' }))).reportDate).toBeNull();
  });

  it('reads a message that starts with an mbox From_ line', async () => {
    const mail = Buffer.concat([Buffer.from('From dmarc@receiver.example Tue Mar  5 10:00:00 2024\n'), buildArf({ eol: '\n' })]);
    expect((await parseFailureReport(mail)).sourceIp).toBe('203.0.113.7');
  });
});
