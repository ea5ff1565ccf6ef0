import type { MailMessage } from './mailer.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (ch) => ESCAPES[ch] as string);

/**
 * The sign-in mail. The same words whether or not the address has an account: whether one exists
 * (or may be created) is only said after the link is opened. Plain text and simple HTML with no
 * remote images, styles or tracking.
 */
export function signInMail(options: { to: string; link: string; origin: string; validMinutes: number }): MailMessage {
  const host = new URL(options.origin).host;
  const text = [
    `Someone asked to sign in to DMARC Watch at ${host} with this address.`,
    '',
    `To sign in, open this link within ${options.validMinutes} minutes. It works once:`,
    '',
    options.link,
    '',
    'If that was not you, ignore this mail: nothing happens unless the link is opened and confirmed.',
    '',
    `— DMARC Watch, ${options.origin}`,
    '',
  ].join('\n');
  const html = [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8"><title>Sign in to DMARC Watch</title></head><body>',
    `<p>Someone asked to sign in to DMARC Watch at ${escapeHtml(host)} with this address.</p>`,
    `<p>To sign in, open this link within ${options.validMinutes} minutes. It works once:</p>`,
    `<p><a href="${escapeHtml(options.link)}">Sign in to DMARC Watch</a></p>`,
    `<p>Or copy this address into your browser:<br>${escapeHtml(options.link)}</p>`,
    '<p>If that was not you, ignore this mail: nothing happens unless the link is opened and confirmed.</p>',
    `<p>— DMARC Watch, ${escapeHtml(options.origin)}</p>`,
    '</body></html>',
    '',
  ].join('\n');
  return { to: options.to, subject: 'Sign in to DMARC Watch', text, html };
}
