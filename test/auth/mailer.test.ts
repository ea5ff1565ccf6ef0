import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/lib/logger.js';
import { createMailer, createSmtpMailer, MailError, smtpOptions } from '../../src/mail/mailer.js';
import { signInMail } from '../../src/mail/sign-in-mail.js';
import { openHarness, type Harness } from './harness.js';
import { startCaptureServer, type CaptureServer } from '../helpers/smtp.js';

function captureLogger() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: 'debug', write: (line) => lines.push(line) }) };
}

const message = { to: 'someone@example.com', subject: 'Hello', text: 'plain body', html: '<p>html body</p>' };

describe('SMTP mailer', () => {
  let plain: CaptureServer;
  let starttls: CaptureServer;
  beforeAll(async () => {
    plain = await startCaptureServer({ auth: { user: 'robot', pass: 'p@ss:w/rd' } });
    starttls = await startCaptureServer({ starttls: true });
  });
  afterAll(async () => {
    await plain.close();
    await starttls.close();
  });

  it('sends text and HTML from SMTP_FROM, authenticating with percent-decoded credentials', async () => {
    const { logger } = captureLogger();
    const mailer = createSmtpMailer({ url: plain.url, from: 'DMARC Watch <noreply@example.com>' }, logger);
    await mailer.sendMail(message);
    mailer.close();
    const mail = await plain.nextMailTo('someone@example.com');
    expect(mail).toMatchObject({ from: 'noreply@example.com', subject: 'Hello', user: 'robot' });
    expect(mail.text.trim()).toBe('plain body');
    expect(mail.html).toContain('<p>html body</p>');
  });

  it('verifies the certificate when the server offers STARTTLS (smtp-server’s built-in one is refused)', async () => {
    const { logger, lines } = captureLogger();
    const mailer = createSmtpMailer({ url: `smtp://robot:secret-pass@127.0.0.1:${starttls.port}`, from: 'x@example.com' }, logger);
    await expect(mailer.sendMail(message)).rejects.toBeInstanceOf(MailError);
    mailer.close();
    expect(starttls.messages).toHaveLength(0);
    const logged = lines.join('\n');
    expect(logged).toContain('sending mail failed');
    expect(logged).toMatch(/certificate/i);
    expect(logged).not.toContain('secret-pass');
  });

  it('takes only host, port, credentials and requireTLS from the URL', () => {
    expect(smtpOptions('smtps://a%40b:c%2Fd@mail.example.com?tls.rejectUnauthorized=false&requireTLS=true')).toMatchObject({
      host: 'mail.example.com',
      port: 465,
      secure: true,
      requireTLS: true,
      auth: { user: 'a@b', pass: 'c/d' },
      tls: { rejectUnauthorized: true },
    });
    expect(smtpOptions('smtp://[2001:db8::25]')).toMatchObject({ host: '2001:db8::25', port: 587, secure: false, requireTLS: false });
  });
});

describe('without SMTP_URL', () => {
  it('on the embedded database, writes the mail to the log with a warning', async () => {
    const { logger, lines } = captureLogger();
    const mailer = createMailer(loadConfig({}), logger);
    expect(mailer.kind).toBe('log');
    await mailer.sendMail(signInMail({ to: 'me@example.com', link: 'http://localhost:8080/auth/confirm?token=abc', origin: 'http://localhost:8080', validMinutes: 15 }));
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries[0]).toMatchObject({ level: 'warn', msg: expect.stringContaining('SMTP_URL is not set') });
    expect(entries[1]).toMatchObject({ level: 'warn', to: 'me@example.com', body: expect.stringContaining('http://localhost:8080/auth/confirm?token=abc') });
  });

  it('with PostgreSQL, refuses to send and never logs the content', async () => {
    const { logger, lines } = captureLogger();
    const mailer = createMailer(loadConfig({ DATABASE_URL: 'postgres://u@db/x' }), logger);
    expect(mailer.kind).toBe('none');
    await expect(mailer.sendMail({ ...message, text: 'SECRET-LINK' })).rejects.toBeInstanceOf(MailError);
    expect(lines.join('\n')).toContain('SMTP_URL is not set');
    expect(lines.join('\n')).not.toContain('SECRET-LINK');
  });
});

describe('sign-in on the embedded default without SMTP', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await openHarness('pglite', { SMTP_URL: '' });
  });
  afterAll(() => h.close());

  it('puts the link in the server log and says so on the page', async () => {
    const browser = h.browser();
    const response = await browser.post('/sign-in', { email: 'solo@example.com' });
    expect(response.status).toBe(303);
    const page = await (await browser.get('/sign-in/sent')).text();
    expect(page).toContain('written to the server log');
    const entry = h.logs.map((line) => JSON.parse(line) as Record<string, unknown>).find((e) => e.to === 'solo@example.com')!;
    const link = /https:\/\/dmarc\.example\.com\/auth\/confirm\?token=[A-Za-z0-9_-]{43}/.exec(String(entry.body))![0];
    await browser.get(link);
    expect((await browser.post('/auth/confirm', { token: new URL(link).searchParams.get('token')! })).status).toBe(303);
  });
});
