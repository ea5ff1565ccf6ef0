import fs from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFailureReport } from '../../../src/reports/parse/failure.js';
import { ReportError } from '../../../src/reports/types.js';

const CORPUS = path.resolve(import.meta.dirname, '../../fixtures/corpus');
const read = (file: string) => fs.readFileSync(path.join(CORPUS, file));

async function refusal(bytes: Uint8Array): Promise<ReportError> {
  try {
    await parseFailureReport(bytes);
  } catch (error) {
    if (error instanceof ReportError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

function arf(options: { feedbackType?: string; original?: string; extraFields?: string } = {}): Buffer {
  const original =
    options.original ??
    [
      'From: =?UTF-8?B?SsO8cmdlbg==?= <ceo@example.com>',
      'To: victim@example.net',
      'Subject: =?ISO-8859-1?Q?Rechnung_f=FCr_Sie?=',
      'Message-ID: <forged-1@example.com>',
      'Content-Type: multipart/mixed; boundary="inner"',
      '',
      '--inner',
      'Content-Type: text/plain',
      '',
      'PRIVATE BODY TEXT: please wire money',
      '--inner',
      'Content-Type: application/pdf; name="invoice.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      'SECRETATTACHMENTBYTES==',
      '--inner--',
    ].join('\r\n');
  return Buffer.from(
    [
      'From: dmarc@receiver.example',
      'To: ruf@example.com',
      'Subject: =?UTF-8?B?RE1BUkMgRmFpbHVyZSBSZXBvcnQ=?=',
      'Date: Tue, 05 Mar 2024 10:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=feedback-report;',
      '\tboundary="outer"',
      '',
      '--outer',
      'Content-Type: text/plain',
      '',
      'This is an authentication failure report.',
      '--outer',
      'Content-Type: message/feedback-report',
      '',
      `Feedback-Type: ${options.feedbackType ?? 'auth-failure'}`,
      'User-Agent: Receiver/2.0',
      'Version: 1',
      'Original-Mail-From: <bounce@example.com>',
      'Original-Rcpt-To: <victim@example.net>',
      'Arrival-Date: Tue, 05 Mar 2024 09:59:58 +0000',
      'Source-IP: 203.0.113.7',
      'Reported-Domain: Example.COM',
      'Reported-URI: http://example.com/a',
      'Reported-URI: http://example.com/b',
      'Auth-Failure: dmarc',
      'Identity-Alignment: none',
      'DKIM-Domain: example.com',
      'DKIM-Selector: s1',
      'SPF-DNS: txt : example.com : "v=spf1',
      '  -all"',
      ...(options.extraFields ? [options.extraFields] : []),
      '',
      '--outer',
      'Content-Type: message/rfc822',
      '',
      original,
      '--outer--',
      '',
    ].join('\r\n'),
  );
}

describe('parseFailureReport on real samples', () => {
  it('reads the RFC 6591 example with DKIM details and headers only', async () => {
    const r = await parseFailureReport(read('mail-auth/005.eml'));
    expect(r).toMatchObject({
      feedbackType: 'auth-failure',
      plainText: false,
      authFailure: 'bodyhash',
      dkimDomain: 'sender.example',
      dkimSelector: 'testkey',
      sourceIp: '192.0.2.1',
      reportedDomain: 'a.sender.example',
      reportedUri: ['http://www.sender.example/'],
      originalMailFrom: 'anexample.reply@a.sender.example',
    });
    expect(r.arrivalDate?.toISOString()).toBe('2011-10-08T20:15:58.000Z');
    expect(r.originalHeaders).toMatch(/^Authentication-Results:/);
  });

  it.each(['set-of-emails/arf-18.eml', 'set-of-emails/arf-19.eml', 'set-of-emails/arf-20.eml'])(
    'reads the DMARC failure report %s',
    async (file) => {
      const r = await parseFailureReport(read(file));
      expect(r.feedbackType).toBe('auth-failure');
      expect(isIP(r.sourceIp ?? '')).toBeGreaterThan(0);
      expect(r.reportedDomain).toBeTruthy();
      expect(r.originalHeaders).toBeTruthy();
      expect(r.reportSubject).toMatch(/DMARC/);
    },
  );

  it.each(['mail-auth/001.eml', 'set-of-emails/arf-02.eml'])('recognises the feedback-loop complaint %s', async (file) => {
    const error = await refusal(read(file));
    expect(error.code).toBe('feedback_loop');
    expect(error.message).toMatch(/feedback-loop/);
  });
});

describe('parseFailureReport on hand-made mail', () => {
  it('keeps every feedback field, unfolds lines and decodes RFC 2047', async () => {
    const r = await parseFailureReport(arf());
    expect(r).toMatchObject({
      reportSubject: 'DMARC Failure Report',
      reportedDomain: 'example.com',
      reportedUri: ['http://example.com/a', 'http://example.com/b'],
      identityAlignment: 'none',
      originalMailFrom: 'bounce@example.com',
      originalRcptTo: 'victim@example.net',
      spfDns: 'txt : example.com : "v=spf1 -all"',
      originalFrom: 'Jürgen <ceo@example.com>',
      originalSubject: 'Rechnung für Sie',
      originalMessageId: '<forged-1@example.com>',
    });
    expect(r.reportDate?.toISOString()).toBe('2024-03-05T10:00:00.000Z');
  });

  it('never keeps the original body or attachments', async () => {
    const r = await parseFailureReport(arf());
    const all = JSON.stringify(r);
    expect(all).not.toContain('PRIVATE BODY TEXT');
    expect(all).not.toContain('SECRETATTACHMENTBYTES');
    expect(r.originalHeaders).toContain('Message-ID: <forged-1@example.com>');
  });

  it('keeps no original headers at all when asked', async () => {
    const r = await parseFailureReport(arf(), { keepHeaders: false });
    expect(r.originalHeaders).toBeNull();
    expect(r.originalSubject).toBeNull();
    expect(r.sourceIp).toBe('203.0.113.7');
  });

  it('refuses an abuse report as a feedback loop', async () => {
    expect((await refusal(arf({ feedbackType: 'abuse' }))).code).toBe('feedback_loop');
  });

  it('reads a plain-text failure report without an ARF part', async () => {
    const mail = [
      'From: postmaster@receiver.example',
      'Subject: DMARC failure report for example.com',
      'Date: Tue, 05 Mar 2024 10:00:00 +0000',
      'Content-Type: text/plain',
      '',
      'A message claiming to be from your domain failed authentication.',
      '',
      'Feedback-Type: auth-failure',
      'Source-IP: 198.51.100.9',
      'Reported-Domain: example.com',
      'Auth-Failure: dmarc',
      '',
    ].join('\r\n');
    const r = await parseFailureReport(Buffer.from(mail));
    expect(r).toMatchObject({ plainText: true, sourceIp: '198.51.100.9', reportedDomain: 'example.com', authFailure: 'dmarc' });
  });

  it('says what a bounce or an ordinary mail is instead of guessing', async () => {
    const dsn = [
      'From: MAILER-DAEMON@example.com',
      'Subject: Undelivered Mail Returned to Sender',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
      '',
      '--b',
      'Content-Type: text/plain',
      '',
      'I could not deliver your message.',
      '--b',
      'Content-Type: message/delivery-status',
      '',
      'Final-Recipient: rfc822; nobody@example.com',
      'Action: failed',
      '--b--',
    ].join('\r\n');
    const bounce = await refusal(Buffer.from(dsn));
    expect(bounce.code).toBe('not_a_report');
    expect(bounce.message).toMatch(/bounce/);
    const newsletter = await refusal(Buffer.from('From: news@shop.example\r\nSubject: 50% off\r\n\r\nBuy now!'));
    expect(newsletter.code).toBe('not_a_report');
    expect(newsletter.message).toMatch(/50% off/);
    expect((await refusal(Buffer.from('\u0000\u0001 binary junk without headers'))).code).toBe('corrupt_mail');
  });
});
