import { describe, expect, it } from 'vitest';
import { extractBytes } from '../../../src/reports/extract/index.js';
import { DEFAULT_LIMITS } from '../../../src/reports/types.js';
import { buildMail, buildMbox } from '../../helpers/mail.js';
import { buildZip } from '../../helpers/zip.js';
import { PNG, SAMPLE_JSON, SAMPLE_XML, collect, gz, sha256, summary } from './fixtures.js';

const reportZip = buildZip([{ name: 'google.com!example.com!1728777600!1728863999.xml', data: SAMPLE_XML }]);

const arfMessage = (reportType = 'feedback-report') =>
  buildMail({
    subject: 'FW: Failure report',
    body: {
      subtype: `report; report-type=${reportType}`,
      parts: [
        { contentType: 'text/plain', content: 'This is an authentication failure report.' },
        { contentType: 'message/feedback-report', content: 'Feedback-Type: auth-failure\r\nUser-Agent: test/1.0\r\nVersion: 1\r\nAuth-Failure: dmarc\r\n' },
        { contentType: 'text/rfc822-headers', content: 'From: someone@example.com\r\nSubject: hi\r\n' },
      ],
    },
  });

describe('mail', () => {
  it('reads a single-part message whose body is a zip (Google)', async () => {
    const mail = buildMail({ body: { contentType: 'application/zip', filename: 'google.zip', content: reportZip } });
    const result = await extractBytes(mail, 'google.eml');
    expect(summary(result)).toEqual({
      documents: ['xml google.eml › google.zip › google.com!example.com!1728777600!1728863999.xml'],
      problems: [],
      messages: 1,
    });
    expect(result.documents[0]!.sha256).toBe(sha256(SAMPLE_XML));
  });

  it('reads the gzip part of a text + html + gzip message and ignores the text (Microsoft)', async () => {
    const mail = buildMail({
      subject: '=?utf-8?B?UmVwb3J0IERvbWFpbjogZXhhbXBsZS5jb20=?=',
      body: {
        subtype: 'mixed',
        parts: [
          {
            subtype: 'alternative',
            parts: [
              { contentType: 'text/plain; charset=utf-8', content: 'This is a DMARC aggregate report.' },
              { contentType: 'text/html; charset=utf-8', content: '<html><body><p>This is a report</p></body></html>' },
            ],
          },
          { contentType: 'application/gzip', filename: 'protection.outlook.com!example.com.xml.gz', content: gz(SAMPLE_XML) },
        ],
      },
    });
    expect(summary(await extractBytes(mail, 'ms.eml'))).toEqual({
      documents: ['xml ms.eml › protection.outlook.com!example.com.xml.gz'],
      problems: [],
      messages: 1,
    });
  });

  it.each([
    ['application/octet-stream', 'base64', gz(SAMPLE_XML), SAMPLE_XML],
    ['application/x-zip-compressed', 'base64', reportZip, SAMPLE_XML],
    ['application/gzip', 'base64', gz(SAMPLE_XML), SAMPLE_XML],
    ['text/xml', 'quoted-printable', Buffer.from(SAMPLE_XML), SAMPLE_XML],
    // 7bit text travels with the mail's CRLF line endings
    ['application/xml', '7bit', Buffer.from(SAMPLE_XML), SAMPLE_XML.replace(/\n/g, '\r\n')],
  ] as const)('reads a %s attachment (%s)', async (contentType, encoding, content, expected) => {
    const mail = buildMail({
      body: { subtype: 'mixed', parts: [{ contentType: 'text/plain', content: 'Report attached.' }, { contentType, filename: 'report', content, encoding }] },
    });
    const result = await extractBytes(mail, 'm.eml');
    expect(result.problems).toEqual([]);
    expect(result.documents.map((d) => d.sha256)).toEqual([sha256(expected)]);
  });

  it('turns a TLS-RPT multipart/report into its JSON document', async () => {
    const mail = buildMail({
      body: {
        subtype: 'report; report-type=tlsrpt',
        parts: [
          { contentType: 'text/plain', content: 'This is an aggregate TLS report.' },
          { contentType: 'application/tlsrpt+gzip', filename: 'google.com!example.com!1!2!001.json.gz', content: gz(SAMPLE_JSON) },
        ],
      },
    });
    const result = await extractBytes(mail, 'tls.eml');
    expect(summary(result).documents).toEqual(['json tls.eml › google.com!example.com!1!2!001.json.gz']);
    expect(result.documents[0]!.sha256).toBe(sha256(SAMPLE_JSON));
  });

  it('turns a whole ARF message into one arf document', async () => {
    const mail = arfMessage();
    const result = await extractBytes(mail, 'arf.eml');
    expect(summary(result)).toEqual({ documents: ['arf arf.eml'], problems: [], messages: 1 });
    expect(result.documents[0]!.sha256).toBe(sha256(mail));
    expect(await collect(result.documents[0]!.content)).toEqual(mail);
  });

  it('turns a mail without report parts into one arf document for the failure parser to judge', async () => {
    const mail = buildMail({
      body: {
        subtype: 'mixed',
        parts: [
          { contentType: 'text/plain', content: 'A DMARC failure was detected for example.com.\r\nSource-IP: 192.0.2.1' },
          { contentType: 'image/png', filename: 'logo.png', content: PNG },
        ],
      },
    });
    expect(summary(await extractBytes(mail, 'plain.eml'))).toEqual({ documents: ['arf plain.eml'], problems: [], messages: 1 });
  });

  it('ignores unrelated attachments beside a report', async () => {
    const mail = buildMail({
      body: {
        subtype: 'mixed',
        parts: [
          { contentType: 'image/png', filename: 'logo.png', content: PNG, disposition: 'inline' },
          { contentType: 'application/pdf', filename: 'terms.pdf', content: '%PDF-1.4 ...' },
          { contentType: 'application/zip', filename: 'r.zip', content: reportZip },
        ],
      },
    });
    expect(summary(await extractBytes(mail, 'm.eml')).problems).toEqual([]);
  });

  it('reports a refused part, keeps the good one, and does not fall back to arf', async () => {
    const corrupt = Buffer.from(reportZip.subarray(0, 60));
    const mail = buildMail({
      body: {
        subtype: 'mixed',
        parts: [
          { contentType: 'application/zip', filename: 'bad.zip', content: corrupt },
          { contentType: 'application/gzip', filename: 'good.xml.gz', content: gz(SAMPLE_XML) },
        ],
      },
    });
    expect(summary(await extractBytes(mail, 'm.eml'))).toEqual({
      documents: ['xml m.eml › good.xml.gz'],
      problems: ['corrupt_zip m.eml › bad.zip'],
      messages: 1,
    });
    const onlyBad = buildMail({ body: { contentType: 'application/zip', filename: 'bad.zip', content: corrupt } });
    expect(summary(await extractBytes(onlyBad, 'bad.eml'))).toEqual({ documents: [], problems: ['corrupt_zip bad.eml › bad.zip'], messages: 1 });
  });

  it('words a part declared as an archive whose bytes are not one as a corrupt archive', async () => {
    const random = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919 + 13) % 256));
    random[0] = 0xf3;
    const zip = buildMail({ body: { contentType: 'application/zip', filename: 'r.zip', content: random } });
    const gzip = buildMail({ body: { contentType: 'application/octet-stream', filename: 'r.xml.gz', content: random } });
    const xml = buildMail({ body: { contentType: 'application/octet-stream', filename: 'r.xml', content: PNG } });
    expect(summary(await extractBytes(zip, 'a.eml')).problems).toEqual(['corrupt_zip a.eml › r.zip']);
    expect(summary(await extractBytes(gzip, 'b.eml')).problems).toEqual(['corrupt_gzip b.eml › r.xml.gz']);
    expect(summary(await extractBytes(xml, 'c.eml')).problems).toEqual(['not_a_report c.eml › r.xml']);
  });

  it('reports a PNG hidden in a .xml.gz attachment as not a report', async () => {
    const mail = buildMail({ body: { contentType: 'application/octet-stream', filename: 'r.xml.gz', content: gz(PNG) } });
    const result = await extractBytes(mail, 'png.eml');
    expect(summary(result)).toEqual({ documents: [], problems: ['not_a_report png.eml › r.xml.gz'], messages: 1 });
    expect(result.problems[0]!.message).toContain('PNG');
  });

  it('reads reports from a forwarded message', async () => {
    const original = buildMail({ body: { contentType: 'application/zip', filename: 'r.zip', content: reportZip } });
    const forward = buildMail({
      subject: 'Fwd: Report domain: example.com',
      body: {
        subtype: 'mixed',
        parts: [
          { contentType: 'text/plain', content: 'See the attached report.' },
          { contentType: 'message/rfc822', filename: 'original.eml', content: original, disposition: 'attachment' },
        ],
      },
    });
    expect(summary(await extractBytes(forward, 'fwd.eml'))).toEqual({
      documents: ['xml fwd.eml › original.eml › r.zip › google.com!example.com!1728777600!1728863999.xml'],
      problems: [],
      messages: 1,
    });
  });

  it('reads an ARF message forwarded inline', async () => {
    const forward = buildMail({
      body: { subtype: 'mixed', parts: [{ contentType: 'message/rfc822', content: arfMessage(), disposition: 'inline' }] },
    });
    expect(summary(await extractBytes(forward, 'fwd.eml')).documents).toEqual(['arf fwd.eml › part 1']);
  });

  it('makes the outer message the candidate when a forwarded message holds no report', async () => {
    const original = buildMail({ body: { contentType: 'text/plain', content: 'hello' } });
    const forward = buildMail({
      body: {
        subtype: 'mixed',
        parts: [
          { contentType: 'text/plain', content: 'A failure report; the original message is attached.' },
          { contentType: 'message/rfc822', content: original },
        ],
      },
    });
    const result = await extractBytes(forward, 'fwd.eml');
    expect(summary(result)).toEqual({ documents: ['arf fwd.eml'], problems: [], messages: 1 });
    expect(result.documents[0]!.sha256).toBe(sha256(forward));
  });

  it('refuses a message over the mail cap', async () => {
    const limits = { ...DEFAULT_LIMITS, maxMailBytes: 64 * 1024 };
    const mail = buildMail({ body: { contentType: 'application/octet-stream', filename: 'big.bin', content: Buffer.alloc(100 * 1024, 1) } });
    expect(summary(await extractBytes(mail, 'big.eml', limits))).toEqual({ documents: [], problems: ['too_large big.eml'], messages: 1 });
  });

  it('reads a message with CR-only line endings', async () => {
    const mail = buildMail({ eol: '\r', body: { contentType: 'application/gzip', filename: 'r.xml.gz', content: gz(SAMPLE_XML) } });
    expect(mail.includes(0x0a)).toBe(false);
    const result = await extractBytes(mail, 'mac.eml');
    expect(summary(result)).toEqual({ documents: ['xml mac.eml › r.xml.gz'], problems: [], messages: 1 });
    expect(result.documents[0]!.sha256).toBe(sha256(SAMPLE_XML));
  });

  it('gives a CR-only ARF message to the failure parser with CRLF line endings', async () => {
    const crOnly = Buffer.from(arfMessage().toString('latin1').replace(/\r\n/g, '\r'), 'latin1');
    const result = await extractBytes(crOnly, 'arf.eml');
    expect(summary(result).documents).toEqual(['arf arf.eml']);
    const content = (await collect(result.documents[0]!.content)).toString('latin1');
    expect(content).toContain('Feedback-Type: auth-failure\r\n');
    expect(content.replace(/\r\n/g, '\r')).toBe(crOnly.toString('latin1'));
  });

  it('reads a message with LF line endings', async () => {
    const mail = buildMail({ eol: '\n', body: { contentType: 'application/zip', filename: 'r.zip', content: reportZip } });
    expect(summary(await extractBytes(mail, 'unix.eml')).documents).toHaveLength(1);
  });

  it('counts wrappers: mail › zip › zip › gzip is allowed, one more gzip is too deep', async () => {
    const build = (payload: Buffer) =>
      buildMail({
        body: { contentType: 'application/zip', filename: 'outer.zip', content: buildZip([{ name: 'inner.zip', data: buildZip([{ name: 'r.xml.gz', data: payload }]) }]) },
      });
    expect(summary(await extractBytes(build(gz(SAMPLE_XML)), 'd.eml')).documents).toEqual(['xml d.eml › outer.zip › inner.zip › r.xml.gz']);
    expect(summary(await extractBytes(build(gz(gz(SAMPLE_XML))), 'd.eml'))).toEqual({
      documents: [],
      problems: ['too_deep d.eml › outer.zip › inner.zip › r.xml.gz'],
      messages: 1,
    });
  });
});

describe('mbox', () => {
  const message = (i: number) =>
    buildMail({ subject: `Report ${i}`, body: { contentType: 'application/gzip', filename: `r${i}.xml.gz`, content: gz(SAMPLE_XML.replace('1234567890', `id-${i}`)) } });

  it('reads every message of an mbox', async () => {
    const result = await extractBytes(buildMbox([message(1), message(2), message(3)]), 'inbox.mbox');
    expect(summary(result)).toEqual({
      documents: ['xml inbox.mbox › message 1 › r1.xml.gz', 'xml inbox.mbox › message 2 › r2.xml.gz', 'xml inbox.mbox › message 3 › r3.xml.gz'],
      problems: [],
      messages: 3,
    });
    expect(result.documents[1]!.sha256).toBe(sha256(SAMPLE_XML.replace('1234567890', 'id-2')));
  });

  it('gives each message its own arf document, byte for byte', async () => {
    const first = arfMessage();
    const second = buildMail({ eol: '\n', body: { contentType: 'text/plain', content: 'plain text failure report\n' } });
    const result = await extractBytes(buildMbox([first, second]), 'arf.mbox');
    expect(summary(result).documents).toEqual(['arf arf.mbox › message 1', 'arf arf.mbox › message 2']);
    expect(result.documents.map((d) => d.sha256)).toEqual([sha256(first), sha256(second)]);
  });

  it('refuses only the message over the cap', async () => {
    const limits = { ...DEFAULT_LIMITS, maxMailBytes: 16 * 1024 };
    const big = buildMail({ body: { contentType: 'application/octet-stream', filename: 'big.bin', content: Buffer.alloc(32 * 1024, 7) } });
    const result = await extractBytes(buildMbox([message(1), big, message(3)]), 'inbox.mbox', limits);
    expect(summary(result)).toEqual({
      documents: ['xml inbox.mbox › message 1 › r1.xml.gz', 'xml inbox.mbox › message 3 › r3.xml.gz'],
      problems: ['too_large inbox.mbox › message 2'],
      messages: 3,
    });
  });
});
