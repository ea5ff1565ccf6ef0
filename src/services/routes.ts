import { z } from 'zod';
import { orgRoute } from '../api/define.js';
import { badRequest, conflict, notFound } from '../api/errors.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../api/pagination.js';
import { iso, orgParams, timestamp } from '../api/schemas.js';
import { SOURCE_CLASS_LABELS } from '../enrich/classify.js';
import { serviceEntrySchema } from '../enrich/services.js';
import { decideSource, decisionsOf, NOTE_MAX, subjectKey, undoSourceDecision } from '../sources/decisions.js';
import { orgServiceEntries } from '../sources/org-services.js';
import { decisionOut, decisionSchema, periodOf, periodQuery } from '../sources/routes.js';
import { SERVICE_ID, serviceDefinition } from './definition.js';
import { deleteServiceEntry, getServiceEntry, listServiceEntries, saveServiceEntry, ServiceEntryError, type OwnServiceEntry } from './entries.js';
import { SERVICE_SCAN_LIMIT, serviceSummary } from './service-summary.js';
import { serviceVerdict } from './verdict.js';

const serviceParams = orgParams.extend({
  service: z.string().regex(SERVICE_ID, 'a service id: lower-case letters, digits and dashes').describe('A service id: of the built-in catalogue (docs/services.md) or of the organisation’s own entries.'),
});

const day = z.iso.date();

const entryOutSchema = serviceEntrySchema.extend({ updatedAt: timestamp });

function entryOut(own: OwnServiceEntry): z.input<typeof entryOutSchema> {
  return { ...own.entry, updatedAt: iso(own.updatedAt) };
}

const serviceSummarySchema = z.object({
  id: z.string(),
  name: z.string(),
  category: z.string().nullable().describe('Null when no entry defines the id any more (only a decision names it).'),
  custom: z.boolean().describe('The organisation has its own entry with this id (its name is shown, and it wins ties).'),
  rules: z
    .object({ own: serviceEntrySchema.nullable(), catalogue: serviceEntrySchema.nullable() })
    .describe('The entries that identify the service: the organisation’s own, the built-in catalogue’s, or both.'),
  from: day,
  to: day,
  verdict: z.object({ tone: z.enum(['good', 'warn', 'bad', 'neutral']), text: z.string() }).describe('What to make of it, in words.'),
  messages: z.number().int(),
  dmarcPass: z.number().int(),
  quarantine: z.number().int(),
  reject: z.number().int(),
  daily: z.array(z.object({ day, messages: z.number().int(), pass: z.number().int() })).describe('Messages of its addresses per day (UTC), zero-filled.'),
  domains: z.array(z.object({ domain: z.string(), messages: z.number().int(), pass: z.number().int() })).describe('Policy domains its addresses sent as.'),
  addresses: z
    .array(
      z.object({
        ip: z.string(),
        messages: z.number().int(),
        dmarcPass: z.number().int(),
        domains: z.array(z.string()),
        firstDay: day,
        lastDay: day,
        ptr: z.string().nullable().describe('Forward-confirmed or not; see `GET /orgs/{org}/sources/{ip}`.'),
        classification: z.object({ kind: z.enum(['authorised', 'forwarder', 'known_service', 'suspicious', 'unknown']), label: z.string() }),
        identifiedBy: z.array(z.string()).describe('The facts that named the service, e.g. `PTR o1.sendgrid.net → SendGrid (Twilio)`.'),
        decision: decisionSchema.nullable().describe('The decision that applies: the address’s own (which wins), else the service’s.'),
      }),
    )
    .describe('Addresses identified as the service in the period, most messages first.'),
  decision: decisionSchema.nullable().describe('The decision about the service itself.'),
  truncated: z.boolean().describe(`The period had more than ${SERVICE_SCAN_LIMIT.toLocaleString('en')} sending addresses; only the largest were looked at.`),
});

function entryError(error: unknown): never {
  if (error instanceof ServiceEntryError) {
    if (error.reason === 'not_found') throw notFound('Service entry');
    if (error.reason === 'no_rule') throw badRequest(error.message);
    throw conflict(error.message, error.reason === 'too_many' ? 'too_many_entries' : 'conflict');
  }
  throw error;
}

/** 404 unless the id names a service of the catalogue or of the organisation's entries. */
async function knownService(db: Parameters<typeof orgServiceEntries>[0], orgId: number, id: string): Promise<void> {
  if (serviceDefinition(id, await orgServiceEntries(db, orgId)) === null) throw notFound('Service');
}

export const servicesApi = [
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/services/{service}',
    operationId: 'getService',
    summary: 'One sending service: its rules, verdict, history and the addresses identified as it',
    description:
      'Over whole UTC days (the last 30 by default), across the organisation’s domains. The addresses are those the classification names as this service ' +
      '(its best named service, or the cloud network it is in), from the enrichment cache and the stored evidence: no lookup happens for this request, ' +
      'and a change to the organisation’s entries shows at once. 404 when neither the catalogue nor the organisation’s entries define the id and no decision names it.',
    tag: 'Sources',
    permission: 'read',
    params: serviceParams,
    query: periodQuery,
    response: serviceSummarySchema,
    handler: async ({ db, org, params, query, now }) => {
      const summary = await serviceSummary(db, org.orgId, params.service, periodOf(query, now), now);
      if (summary === null) throw notFound('Service');
      const { definition: d, history: h } = summary;
      return {
        id: d.id,
        name: d.name,
        category: d.category,
        custom: d.own !== null,
        rules: { own: d.own, catalogue: d.catalogue },
        from: summary.period.fromDay,
        to: summary.period.toDay,
        verdict: serviceVerdict(summary),
        messages: h.messages,
        dmarcPass: h.pass,
        quarantine: h.quarantine,
        reject: h.reject,
        daily: h.days,
        domains: h.domains,
        addresses: summary.addresses.map((a) => ({
          ip: a.ip,
          messages: a.messages,
          dmarcPass: a.dmarcPass,
          domains: a.domains,
          firstDay: a.firstDay,
          lastDay: a.lastDay,
          ptr: a.enrichment?.ptrHost ?? null,
          classification: { kind: a.classification.kind, label: SOURCE_CLASS_LABELS[a.classification.kind] },
          identifiedBy: (a.classification.service ?? a.classification.network)?.evidence.map((e) => e.fact) ?? [],
          decision: decisionOut(a.decision),
        })),
        decision: decisionOut(summary.decision),
        truncated: summary.truncated,
      };
    },
  }),
  orgRoute({
    method: 'put',
    path: '/orgs/{org}/services/{service}/decision',
    operationId: 'decideService',
    summary: 'Authorise or ignore a sending service',
    description:
      'Applies to every address identified as the service, except addresses with a decision of their own (which wins). Replaces an earlier decision about the service; audited. ' +
      '404 when the id is not a service of the catalogue or of the organisation’s entries.',
    tag: 'Sources',
    permission: 'write',
    params: serviceParams,
    body: z.object({
      decision: z.enum(['authorised', 'ignored']),
      note: z.string().max(NOTE_MAX).nullable().optional().describe('Why, in words (shown with the classification).'),
    }),
    response: decisionSchema,
    handler: async ({ db, org, params, body, actor, ip, now }) => {
      await knownService(db, org.orgId, params.service);
      const subject = { type: 'service' as const, value: params.service };
      await decideSource(db, { orgId: org.orgId, actor, ip, now }, subject, body.decision, body.note ?? null);
      const saved = (await decisionsOf(db, org.orgId)).get(subjectKey(subject)) ?? null;
      return decisionOut(saved)!;
    },
  }),
  orgRoute({
    method: 'delete',
    path: '/orgs/{org}/services/{service}/decision',
    operationId: 'undoServiceDecision',
    summary: 'Remove the decision about a sending service',
    description: 'Its addresses are classified from their evidence again (or by their own decisions). Audited. 404 when there was no decision.',
    tag: 'Sources',
    permission: 'write',
    params: serviceParams,
    response: null,
    handler: async ({ db, org, params, actor, ip, now }) => {
      const removed = await undoSourceDecision(db, { orgId: org.orgId, actor, ip, now }, { type: 'service', value: params.service });
      if (!removed) throw notFound('Decision');
    },
  }),
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/service-entries',
    operationId: 'listServiceEntries',
    summary: "The organisation's own service entries, by id",
    description: 'Entries name the services behind sending addresses, before the built-in catalogue (docs/services.md).',
    tag: 'Service entries',
    permission: 'read',
    params: orgParams,
    query: pageQuery,
    response: pageOf(entryOutSchema),
    handler: async ({ db, org, query }) => {
      const after = decodeCursor(query.cursor, z.tuple([z.string()]));
      const rows = await listServiceEntries(db, org.orgId, { limit: query.limit + 1, after: after?.[0] ?? null });
      return toPage(rows, query.limit, (row) => [row.entry.id], entryOut);
    },
  }),
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/service-entries/{service}',
    operationId: 'getServiceEntry',
    summary: 'One of the organisation’s own service entries',
    tag: 'Service entries',
    permission: 'read',
    params: serviceParams,
    response: entryOutSchema,
    handler: async ({ db, org, params }) => {
      const own = await getServiceEntry(db, org.orgId, params.service);
      if (own === null) throw notFound('Service entry');
      return entryOut(own);
    },
  }),
  orgRoute({
    method: 'put',
    path: '/orgs/{org}/service-entries/{service}',
    operationId: 'putServiceEntry',
    summary: 'Add or replace one of the organisation’s own service entries',
    description:
      'The id comes from the path. At least one PTR, ASN or DKIM rule; at most 50 of each and 500 entries per organisation. An id of the catalogue adds an entry that wins ties, ' +
      'it does not replace the catalogue’s. Sources are named by the new rules at once. Audited (`service_entry.create` or `service_entry.update`).',
    tag: 'Service entries',
    permission: 'admin',
    params: serviceParams,
    body: serviceEntrySchema.omit({ id: true }),
    response: entryOutSchema,
    errors: { 409: 'The organisation has 500 entries already.' },
    handler: async ({ db, org, params, body, actor, ip, now }) => {
      try {
        const saved = await saveServiceEntry(db, { orgId: org.orgId, actor, ip, now }, { ...body, id: params.service }, 'upsert');
        return entryOut(saved.entry);
      } catch (error) {
        return entryError(error);
      }
    },
  }),
  orgRoute({
    method: 'delete',
    path: '/orgs/{org}/service-entries/{service}',
    operationId: 'deleteServiceEntry',
    summary: 'Delete one of the organisation’s own service entries',
    description: 'Sources are named by the remaining rules at once; decisions about the service stay until undone. Audited (`service_entry.delete`).',
    tag: 'Service entries',
    permission: 'admin',
    params: serviceParams,
    response: null,
    handler: async ({ db, org, params, actor, ip, now }) => {
      if (!(await deleteServiceEntry(db, { orgId: org.orgId, actor, ip, now }, params.service))) throw notFound('Service entry');
    },
  }),
];
