import type { Role } from '../auth/roles.js';
import type { MailMessage } from './mailer.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (ch) => ESCAPES[ch] as string);

const ROLE_WORDS: Record<Role, string> = {
  owner: 'an owner (full control, including deleting the organisation)',
  admin: 'an admin (manages members, keys and settings)',
  member: 'a member (reads and changes reports, domains and mailboxes)',
  viewer: 'a viewer (reads only)',
};

/**
 * The invitation mail: who invites, to which organisation and role, and the link to accept. Plain
 * text and simple HTML with no remote images, styles or tracking.
 */
export function invitationMail(options: {
  to: string;
  organization: string;
  role: Role;
  invitedBy: string | null;
  link: string;
  origin: string;
  validDays: number;
}): MailMessage {
  const host = new URL(options.origin).host;
  const who = options.invitedBy ?? 'An administrator';
  const invite = `${who} invited you to join ${options.organization} on DMARC Watch at ${host}, as ${ROLE_WORDS[options.role]}.`;
  const accept = `To accept, open this link within ${options.validDays} days and sign in with this address (${options.to}):`;
  const ignore = 'If you do not want to join, ignore this mail: nothing happens unless you accept.';
  const text = [invite, '', accept, '', options.link, '', ignore, '', `— DMARC Watch, ${options.origin}`, ''].join('\n');
  const html = [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8"><title>Invitation to DMARC Watch</title></head><body>',
    `<p>${escapeHtml(invite)}</p>`,
    `<p>${escapeHtml(accept)}</p>`,
    `<p><a href="${escapeHtml(options.link)}">Accept the invitation</a></p>`,
    `<p>Or copy this address into your browser:<br>${escapeHtml(options.link)}</p>`,
    `<p>${escapeHtml(ignore)}</p>`,
    `<p>— DMARC Watch, ${escapeHtml(options.origin)}</p>`,
    '</body></html>',
    '',
  ].join('\n');
  return { to: options.to, subject: `Invitation to join ${options.organization} on DMARC Watch`, text, html };
}
