/**
 * Naming the service behind a sending IP from three kinds of evidence — the forward-confirmed
 * reverse-DNS name (PTR), the DKIM d= domains that passed, and the network's ASN — matched
 * against the curated catalogue (services-catalogue.ts) and an organisation's own entries.
 *
 * Confidence, strongest first: PTR and DKIM both match > PTR > DKIM > ASN only. A shared cloud
 * (Amazon Web Services, Google Cloud, Azure) is its own `cloud` entry: its ASN or customer host
 * names never name a service that merely runs there (SES, Workspace), and any named service
 * outranks a cloud match. See docs/services.md.
 */
import { z } from 'zod';
import { SERVICE_CATALOGUE } from './services-catalogue.js';
import { normalizeDomain, organizationalDomain } from './org-domain.js';

export type ServiceCategory =
  | 'mailbox' // hosted mailboxes: people's own mail (Workspace, Microsoft 365, Zoho, Fastmail, ...)
  | 'delivery' // transactional / API email delivery (SES, SendGrid, Mailgun, Postmark, ...)
  | 'marketing' // newsletters and campaigns (Mailchimp, Klaviyo, Brevo, ...)
  | 'crm' // CRM and marketing automation (Salesforce, HubSpot)
  | 'helpdesk' // support desks and customer messaging (Zendesk, Freshdesk, Intercom)
  | 'platform' // software platforms sending notifications (GitHub, Atlassian)
  | 'mailing-list' // list servers that re-send members' mail
  | 'cloud'; // shared hosting networks: anyone can rent a server there

const hostPattern = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(\*\*\.)?([a-z0-9*-]+\.)*[a-z0-9*-]+(\.\*\*)?$/, 'a host name, a domain, or a pattern with * (one label part) and ** (any labels)');
const domainName = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^([a-z0-9-]+\.)+[a-z0-9-]+$/, 'a domain name such as example.net');

/**
 * A catalogue entry. Plain JSON so an organisation's own entries can be stored as they are.
 */
export const serviceEntrySchema = z.object({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/)
    .describe('Stable identifier, lower-case letters, digits and dashes.'),
  name: z.string().trim().min(1).max(120).describe('Name shown to people.'),
  category: z.enum(['mailbox', 'delivery', 'marketing', 'crm', 'helpdesk', 'platform', 'mailing-list', 'cloud']),
  ptr: z
    .array(hostPattern)
    .max(50)
    .optional()
    .describe(
      'Reverse-DNS names of the sending hosts: a domain matches itself and every name under it ' +
        '(`sendgrid.net`); a pattern with `*` matches within one label and `**` any labels ' +
        '(`mail-*.google.com`, `lists.**`).',
    ),
  asns: z.array(z.number().int().min(1).max(4294967295)).max(50).optional().describe('Autonomous systems that carry only this service.'),
  dkim: z.array(domainName).max(50).optional().describe('DKIM d= domains the service signs with (the domain and its subdomains).'),
  forwards: z.boolean().optional().describe('The operator forwards mail or runs mailing lists (re-sends other domains’ mail).'),
  notes: z.string().max(500).optional(),
});

export type ServiceEntry = z.infer<typeof serviceEntrySchema>;

export type EvidenceKind = 'ptr' | 'dkim' | 'asn';
export type MatchConfidence = 'ptr+dkim' | 'ptr' | 'dkim' | 'asn';

export interface ServiceEvidence {
  kind: EvidenceKind;
  /** The observed value: host name, d= domain or `AS64500`. */
  value: string;
  /** The catalogue rule it matched. */
  rule: string;
  /** In words, e.g. `PTR o1.sendgrid.net → SendGrid`. */
  fact: string;
}

export interface ServiceMatch {
  service: ServiceEntry;
  confidence: MatchConfidence;
  evidence: ServiceEvidence[];
  /** The entry came from the organisation's own list, not the built-in catalogue. */
  custom: boolean;
}

export interface ServiceClues {
  /** Forward-confirmed reverse-DNS name of the source IP. Never pass an unconfirmed PTR. */
  ptrHost?: string | null;
  /** Organisational domain of that name (used when the host itself is not known). */
  ptrOrgDomain?: string | null;
  asn?: number | null;
  /** d= domains of DKIM signatures that passed. */
  dkimDomains?: readonly string[];
}

/** All entries that match, best first. */
export function matchServices(clues: ServiceClues, extra: readonly ServiceEntry[] = []): ServiceMatch[] {
  const ptrHost = normalizeDomain(clues.ptrHost);
  const ptrOrg = normalizeDomain(clues.ptrOrgDomain) || (ptrHost ? organizationalDomain(ptrHost) : '');
  const dkimDomains = [...new Set((clues.dkimDomains ?? []).map(normalizeDomain).filter((d) => d !== ''))];
  const asn = clues.asn ?? null;

  const matches: Array<ServiceMatch & { score: number; order: number }> = [];
  const entries = [...extra.map((e) => ({ e, custom: true })), ...SERVICE_CATALOGUE.map((e) => ({ e, custom: false }))];
  for (const [order, { e, custom }] of entries.entries()) {
    const evidence: ServiceEvidence[] = [];
    const ptrRule = e.ptr?.find((p) => (ptrHost ? hostMatches(ptrHost, p) : orgDomainMatches(ptrOrg, p)));
    if (ptrRule !== undefined && (ptrHost || ptrOrg)) {
      const value = ptrHost || ptrOrg;
      evidence.push({ kind: 'ptr', value, rule: ptrRule, fact: `PTR ${value} → ${e.name}` });
    }
    for (const d of dkimDomains) {
      const rule = e.dkim?.find((r) => d === r || d.endsWith(`.${r}`));
      if (rule !== undefined) evidence.push({ kind: 'dkim', value: d, rule, fact: `DKIM signed by ${d} → ${e.name}` });
    }
    if (asn !== null && e.asns?.includes(asn)) {
      evidence.push({ kind: 'asn', value: `AS${asn}`, rule: `AS${asn}`, fact: `AS${asn} → ${e.name}` });
    }
    const confidence = confidenceOf(evidence);
    if (confidence === null) continue;
    const score = (e.category === 'cloud' ? 0 : 10) + RANK[confidence] + (evidence.some((x) => x.kind === 'asn') ? 0.5 : 0);
    matches.push({ service: e, confidence, evidence, custom, score, order });
  }
  matches.sort((a, b) => b.score - a.score || a.order - b.order);
  return matches.map(({ service, confidence, evidence, custom }) => ({ service, confidence, evidence, custom }));
}

/**
 * The most likely service, or null. A shared cloud network is returned only when nothing more
 * specific matched, and it is labelled as such (category `cloud`).
 */
export function identifyService(clues: ServiceClues, extra: readonly ServiceEntry[] = []): ServiceMatch | null {
  return matchServices(clues, extra)[0] ?? null;
}

const RANK: Record<MatchConfidence, number> = { 'ptr+dkim': 4, ptr: 3, dkim: 2, asn: 1 };

function confidenceOf(evidence: ServiceEvidence[]): MatchConfidence | null {
  const ptr = evidence.some((x) => x.kind === 'ptr');
  const dkim = evidence.some((x) => x.kind === 'dkim');
  if (ptr && dkim) return 'ptr+dkim';
  if (ptr) return 'ptr';
  if (dkim) return 'dkim';
  if (evidence.some((x) => x.kind === 'asn')) return 'asn';
  return null;
}

/**
 * A host name against a PTR rule. Without wildcards the rule is a domain: it matches itself and
 * any name under it. With wildcards the whole name must match, `*` standing for any characters
 * inside one label and `**` for one or more whole labels.
 */
export function hostMatches(host: string, rule: string): boolean {
  const h = normalizeDomain(host);
  const r = rule.trim().toLowerCase();
  if (h === '' || r === '') return false;
  if (!r.includes('*')) return h === r || h.endsWith(`.${r}`);
  return patternRegExp(r).test(h);
}

/** Only the organisational domain is known: a wildcard-free rule that is exactly that domain matches. */
function orgDomainMatches(orgDomain: string, rule: string): boolean {
  if (orgDomain === '' || rule.includes('*')) return false;
  return rule === orgDomain;
}

const patternCache = new Map<string, RegExp>();

function patternRegExp(rule: string): RegExp {
  let re = patternCache.get(rule);
  if (re === undefined) {
    const body = rule
      .split('.')
      .map((label) => (label === '**' ? '[^.]+(?:\\.[^.]+)*' : label.split('*').map(escapeRegExp).join('[^.]*')))
      .join('\\.');
    re = new RegExp(`^${body}$`);
    patternCache.set(rule, re);
  }
  return re;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Parses an organisation's stored entries; throws a ZodError naming the first bad field. */
export function parseServiceEntries(json: unknown): ServiceEntry[] {
  return z.array(serviceEntrySchema).max(500).parse(json);
}
