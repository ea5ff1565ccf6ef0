import { z } from 'zod';

const folderName = z.string().trim().min(1).max(255);
const hostName = z
  .string()
  .trim()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/, 'expected a host name such as imap.example.com');

/** The settings, without defaults: a change names only what it changes. */
const settings = z.object({
  name: z.string().trim().min(1).max(100),
  protocol: z.enum(['imap', 'pop3']),
  host: hostName,
  port: z.coerce.number().int().min(1).max(65535).optional(),
  tlsMode: z.enum(['implicit', 'starttls']),
  caPem: z
    .string()
    .trim()
    .regex(/-----BEGIN CERTIFICATE-----/, 'expected a PEM certificate (-----BEGIN CERTIFICATE-----)')
    .max(100_000)
    .nullish(),
  username: z.string().trim().min(1).max(320),
  folder: folderName,
  afterProcessing: z.enum(['move', 'seen', 'delete', 'none']),
  processedFolder: folderName,
  invalidFolder: folderName,
  pollIntervalMinutes: z.coerce.number().int().min(1).max(7 * 24 * 60),
});

const base = settings.extend({
  protocol: settings.shape.protocol.default('imap'),
  tlsMode: settings.shape.tlsMode.default('implicit'),
  folder: folderName.default('INBOX'),
  afterProcessing: settings.shape.afterProcessing.default('move'),
  processedFolder: folderName.default('DMARC Watch/Processed'),
  invalidFolder: folderName.default('DMARC Watch/Invalid'),
  pollIntervalMinutes: settings.shape.pollIntervalMinutes.default(15),
});

const passwordAuth = z.object({ authMethod: z.literal('password'), password: z.string().min(1).max(4096) });
const oauthAuth = z.object({
  authMethod: z.literal('oauth2'),
  oauthProvider: z.enum(['google', 'microsoft', 'custom']),
  oauthTokenUrl: z.string().url().optional(),
  oauthClientId: z.string().trim().min(1).max(500),
  oauthClientSecret: z.string().min(1).max(4096).nullish(),
  oauthScope: z.string().trim().max(1000).optional(),
  oauthRefreshToken: z.string().min(1).max(8192),
});

export const newMailboxSchema = z
  .intersection(base, z.discriminatedUnion('authMethod', [passwordAuth, oauthAuth]))
  .superRefine((value, ctx) => {
    if (value.protocol === 'pop3' && value.afterProcessing === 'move') {
      // POP3 has no folders: processed mail is either left or deleted.
      value.afterProcessing = 'none';
    }
    if (value.authMethod === 'oauth2' && value.oauthProvider === 'custom' && !value.oauthTokenUrl) {
      ctx.addIssue({ code: 'custom', path: ['oauthTokenUrl'], message: 'a custom OAuth provider needs its token endpoint URL' });
    }
  });

export type NewMailbox = z.infer<typeof newMailboxSchema>;

// From the settings without defaults: with them, every change would also reset the fields left out.
export const mailboxChangesSchema = settings
  .omit({ protocol: true })
  .partial()
  .extend({ password: z.string().min(1).max(4096).optional(), paused: z.boolean().optional() });

export type MailboxChanges = z.infer<typeof mailboxChangesSchema>;

export function defaultPort(protocol: 'imap' | 'pop3', tlsMode: 'implicit' | 'starttls'): number {
  if (protocol === 'imap') return tlsMode === 'implicit' ? 993 : 143;
  return tlsMode === 'implicit' ? 995 : 110;
}

/** zod issues as one line each: `field: problem`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('\n');
}
