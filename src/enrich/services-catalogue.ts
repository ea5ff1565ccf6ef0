/**
 * The built-in catalogue of sending services. docs/services.md explains what each field means and
 * how matching works.
 *
 * Rules for adding facts:
 * - PTR rules name hosts only the service's own sending machines use. A provider's domain that
 *   also names its customers' machines (googleusercontent.com, amazonaws.com, cloudapp.azure.com)
 *   belongs to the provider's `cloud` entry, never to a mail service hosted there.
 * - `asns` lists only networks that carry this service alone. Shared networks (AS15169 Google,
 *   AS8075 Microsoft, AS16509/AS14618 Amazon) are listed under the `cloud` entries.
 * - `dkim` lists the d= domains the service signs with when the customer has not set up their
 *   own domain (these never align with the customer's From domain).
 * - Leave a fact out rather than guess: a wrong rule names the wrong sender on every page.
 */
import type { ServiceEntry } from './services.js';

export const SERVICE_CATALOGUE: readonly ServiceEntry[] = [
  // ---- Mailbox providers -------------------------------------------------------------------
  {
    id: 'google-workspace',
    name: 'Google Workspace / Gmail',
    category: 'mailbox',
    ptr: ['mail-*.google.com'],
    dkim: ['gappssmtp.com', 'gmail.com', 'googlemail.com', 'googlegroups.com'],
    forwards: true,
    notes: 'Outbound Gmail/Workspace hosts are mail-*.google.com; Google Groups and Gmail forwarding send from the same hosts.',
  },
  {
    id: 'microsoft-365',
    name: 'Microsoft 365 / Outlook.com',
    category: 'mailbox',
    ptr: ['protection.outlook.com'],
    dkim: ['onmicrosoft.com', 'outlook.com', 'hotmail.com'],
    forwards: true,
    notes: 'Exchange Online Protection sends from *.protection.outlook.com; tenants sign with <tenant>.onmicrosoft.com by default. Forwarding rules re-send from the same hosts.',
  },
  {
    id: 'yahoo',
    name: 'Yahoo Mail',
    category: 'mailbox',
    ptr: ['yahoo.com'],
    dkim: ['yahoo.com'],
    asns: [10310],
  },
  {
    id: 'zoho',
    name: 'Zoho Mail',
    category: 'mailbox',
    ptr: ['zoho.com', 'zoho.eu'],
    dkim: ['zoho.com'],
    asns: [2639],
  },
  {
    id: 'proton',
    name: 'Proton Mail',
    category: 'mailbox',
    ptr: ['protonmail.ch'],
    dkim: ['protonmail.com', 'proton.me', 'pm.me'],
    asns: [62371],
  },
  {
    id: 'fastmail',
    name: 'Fastmail',
    category: 'mailbox',
    ptr: ['messagingengine.com'],
    dkim: ['messagingengine.com', 'fastmail.com'],
    forwards: true,
    notes: 'Fastmail aliases and forwarding re-send from the same hosts.',
  },
  {
    id: 'icloud',
    name: 'iCloud Mail',
    category: 'mailbox',
    dkim: ['icloud.com', 'me.com', 'mac.com'],
  },

  // ---- Delivery (transactional / API) ------------------------------------------------------
  {
    id: 'amazon-ses',
    name: 'Amazon SES',
    category: 'delivery',
    ptr: ['amazonses.com'],
    dkim: ['amazonses.com'],
    notes: 'SES adds a d=amazonses.com signature to every message. Its IPs are in the shared Amazon networks, so the ASN alone does not identify SES.',
  },
  {
    id: 'sendgrid',
    name: 'SendGrid (Twilio)',
    category: 'delivery',
    ptr: ['sendgrid.net'],
    dkim: ['sendgrid.net'],
    asns: [11377],
  },
  {
    id: 'mailgun',
    name: 'Mailgun',
    category: 'delivery',
    ptr: ['mailgun.net'],
    dkim: ['mailgun.org'],
  },
  {
    id: 'postmark',
    name: 'Postmark',
    category: 'delivery',
    ptr: ['mtasv.net'],
    dkim: ['pm.mtasv.net'],
  },
  {
    id: 'sparkpost',
    name: 'SparkPost',
    category: 'delivery',
    ptr: ['sparkpostmail.com'],
    dkim: ['sparkpostmail.com'],
  },
  {
    id: 'mandrill',
    name: 'Mandrill (Mailchimp Transactional)',
    category: 'delivery',
    ptr: ['mandrillapp.com'],
    dkim: ['mandrillapp.com'],
  },

  // ---- Marketing ---------------------------------------------------------------------------
  {
    id: 'mailchimp',
    name: 'Mailchimp',
    category: 'marketing',
    ptr: ['mcsv.net', 'mcdlv.net'],
    dkim: ['mcsv.net', 'mcdlv.net'],
  },
  {
    id: 'brevo',
    name: 'Brevo (Sendinblue)',
    category: 'marketing',
    dkim: ['sendinblue.com', 'brevo.com'],
  },
  {
    id: 'klaviyo',
    name: 'Klaviyo',
    category: 'marketing',
    dkim: ['klaviyomail.com'],
    notes: 'Accounts without a branded sending domain are signed d=klaviyomail.com ("via klaviyomail.com").',
  },
  {
    id: 'constant-contact',
    name: 'Constant Contact',
    category: 'marketing',
    ptr: ['ccsend.com', 'constantcontact.com'],
    dkim: ['ccsend.com'],
  },

  // ---- CRM / marketing automation ----------------------------------------------------------
  {
    id: 'salesforce-marketing-cloud',
    name: 'Salesforce Marketing Cloud (ExactTarget)',
    category: 'crm',
    ptr: ['exacttarget.com'],
    dkim: ['exacttarget.com'],
    asns: [22606],
  },
  {
    id: 'salesforce',
    name: 'Salesforce',
    category: 'crm',
    ptr: ['salesforce.com'],
    asns: [14340],
  },
  {
    id: 'hubspot',
    name: 'HubSpot',
    category: 'crm',
    ptr: ['hubspotemail.net'],
    dkim: ['hubspotemail.net'],
  },

  // ---- Help desks and customer messaging ---------------------------------------------------
  {
    id: 'zendesk',
    name: 'Zendesk',
    category: 'helpdesk',
    dkim: ['zendesk.com'],
  },
  {
    id: 'freshdesk',
    name: 'Freshdesk',
    category: 'helpdesk',
    dkim: ['freshdesk.com'],
  },
  {
    id: 'intercom',
    name: 'Intercom',
    category: 'helpdesk',
    dkim: ['intercom-mail.com'],
  },

  // ---- Platforms ---------------------------------------------------------------------------
  {
    id: 'github',
    name: 'GitHub',
    category: 'platform',
    ptr: ['smtp.github.com'],
    dkim: ['github.com'],
    asns: [36459],
  },
  {
    id: 'atlassian',
    name: 'Atlassian (Jira, Confluence)',
    category: 'platform',
    dkim: ['atlassian.net'],
  },

  // ---- Mailing lists -----------------------------------------------------------------------
  {
    id: 'mailing-list-server',
    name: 'Mailing list server',
    category: 'mailing-list',
    ptr: ['lists.**', 'list.**', 'listserv.**', 'mailman.**', 'sympa.**', 'majordomo.**'],
    forwards: true,
    notes: 'Recognised by the host name only (lists.example.org, mailman.example.net ...): a hint, not proof.',
  },

  // ---- Shared clouds: never a named mail service on their own ------------------------------
  {
    id: 'aws',
    name: 'Amazon Web Services (cloud)',
    category: 'cloud',
    ptr: ['amazonaws.com'],
    asns: [16509, 14618],
  },
  {
    id: 'google-cloud',
    name: 'Google network (incl. Google Cloud)',
    category: 'cloud',
    ptr: ['googleusercontent.com'],
    asns: [15169, 396982],
    notes: 'AS15169 carries Gmail as well as Google Cloud customers: only a mail-*.google.com PTR or a Google DKIM signature names Gmail/Workspace.',
  },
  {
    id: 'microsoft-cloud',
    name: 'Microsoft network (incl. Azure)',
    category: 'cloud',
    ptr: ['cloudapp.azure.com', 'cloudapp.net'],
    asns: [8075],
    notes: 'AS8075 carries Microsoft 365 as well as Azure customers.',
  },
];
