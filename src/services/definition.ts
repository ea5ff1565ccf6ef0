/**
 * What a service id stands for in one organisation: the catalogue's entry, the organisation's own
 * entry with that id, or both (the organisation's entry wins ties and gives the name).
 */
import { SERVICE_CATALOGUE } from '../enrich/services-catalogue.js';
import { matchServices, type ServiceCategory, type ServiceClues, type ServiceEntry, type ServiceMatch } from '../enrich/services.js';

/** Ids of services: lower-case letters, digits and dashes (the entries' own rule). */
export const SERVICE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface ServiceDefinition {
  id: string;
  name: string;
  /** Null for a service only a decision still names (its entry was deleted). */
  category: ServiceCategory | null;
  catalogue: ServiceEntry | null;
  own: ServiceEntry | null;
}

/** The kinds of service, in words (the entry form's choices, in this order). */
export const CATEGORY_WORDS: Record<ServiceCategory, string> = {
  mailbox: 'Hosted mailboxes',
  delivery: 'Email delivery (transactional, API)',
  marketing: 'Newsletters and campaigns',
  crm: 'CRM and marketing automation',
  helpdesk: 'Help desk and customer messaging',
  platform: 'Software platform notifications',
  'mailing-list': 'Mailing lists',
  cloud: 'Shared cloud network',
};

const CATALOGUE_BY_ID = new Map(SERVICE_CATALOGUE.map((e) => [e.id, e]));

export function catalogueEntry(id: string): ServiceEntry | null {
  return CATALOGUE_BY_ID.get(id) ?? null;
}

/** The service with this id, or null when neither the catalogue nor the organisation's entries have it. */
export function serviceDefinition(id: string, own: readonly ServiceEntry[]): ServiceDefinition | null {
  const catalogue = catalogueEntry(id);
  const mine = own.find((e) => e.id === id) ?? null;
  const named = mine ?? catalogue;
  if (named === null) return null;
  return { id, name: named.name, category: named.category, catalogue, own: mine };
}

/** A service a decision names but no entry defines any more: shown so that the decision can be undone. */
export function orphanDefinition(id: string): ServiceDefinition {
  return { id, name: id, category: null, catalogue: null, own: null };
}

/**
 * The service an address is identified as from its clues, as the classification names it: the best
 * named service, else the shared cloud network it is in.
 */
export function identifiedService(clues: ServiceClues, own: readonly ServiceEntry[]): ServiceMatch | null {
  const matches = matchServices(clues, own);
  return matches.find((m) => m.service.category !== 'cloud') ?? matches.find((m) => m.service.category === 'cloud') ?? null;
}
