import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { Config } from '../config.js';
import type { Logger } from '../lib/logger.js';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  /**
   * `smtp`: sent through SMTP_URL. `log`: written to the server log (embedded database without
   * SMTP_URL). `none`: cannot send (PostgreSQL without SMTP_URL); sendMail logs an error.
   */
  readonly kind: 'smtp' | 'log' | 'none';
  /** Resolves once the message is accepted by the SMTP server (or logged); rejects on failure. */
  sendMail(message: MailMessage): Promise<void>;
  close(): void;
}

export class MailError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MailError';
  }
}

const TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 };

/**
 * The mailer for this process. Without SMTP_URL, the embedded default (a single machine, usually
 * one person trying DMARC Watch out) writes mail to the log so sign-in still works; with
 * PostgreSQL — a real deployment whose logs may be shipped elsewhere — sign-in links never go to
 * the log.
 */
export function createMailer(config: Pick<Config, 'mail' | 'database'>, logger: Logger): Mailer {
  if (config.mail.smtpUrl) return createSmtpMailer({ url: config.mail.smtpUrl, from: config.mail.from }, logger);
  if (config.database.kind === 'pglite') return createLogMailer(logger);
  return {
    kind: 'none',
    async sendMail() {
      logger.error('cannot send mail: SMTP_URL is not set', { hint: 'set SMTP_URL (and SMTP_FROM) so sign-in links can be mailed' });
      throw new MailError('SMTP_URL is not set');
    },
    close() {},
  };
}

/**
 * SMTP through nodemailer. Certificates are always verified: smtps:// uses TLS from the start,
 * smtp:// upgrades with STARTTLS whenever the server offers it (?requireTLS=true refuses servers
 * that do not).
 */
export function createSmtpMailer(options: { url: string; from: string }, logger: Logger): Mailer {
  const transport = nodemailer.createTransport(smtpOptions(options.url));
  return {
    kind: 'smtp',
    async sendMail(message) {
      try {
        const info = await transport.sendMail({ from: options.from, ...message });
        logger.debug('mail sent', { messageId: info.messageId });
      } catch (error) {
        // The error names the server and what went wrong, never the credentials from SMTP_URL.
        logger.error('sending mail failed', { error: describeSmtpError(error) });
        throw new MailError('sending mail failed', { cause: error });
      }
    },
    close() {
      transport.close();
    },
  };
}

export function createLogMailer(logger: Logger): Mailer {
  let warned = false;
  return {
    kind: 'log',
    async sendMail(message) {
      if (!warned) {
        logger.warn('SMTP_URL is not set: mail is written to this log instead of being sent; set SMTP_URL to send it');
        warned = true;
      }
      logger.warn('mail not sent (no SMTP_URL)', { to: message.to, subject: message.subject, body: message.text });
    },
    close() {},
  };
}

/** Only host, port, credentials and requireTLS are taken from the URL: nothing in it can turn off certificate checks. */
export function smtpOptions(url: string): SMTPTransport.Options {
  const parsed = new URL(url);
  const secure = parsed.protocol === 'smtps:';
  const user = decodeURIComponent(parsed.username);
  const pass = decodeURIComponent(parsed.password);
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port ? Number(parsed.port) : secure ? 465 : 587,
    secure,
    requireTLS: parsed.searchParams.get('requireTLS') === 'true',
    ...(user || pass ? { auth: { user, pass } } : {}),
    tls: { rejectUnauthorized: true },
    ...TIMEOUTS,
  };
}

function describeSmtpError(error: unknown): { name: string; message: string; code?: string } {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const code = (error as { code?: unknown }).code;
  return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) };
}
