import { z } from 'zod';
import { orgRoute } from '../api/define.js';
import { badRequest, notFound } from '../api/errors.js';
import { iso, orgParams, timestamp } from '../api/schemas.js';
import { addDays, dayOf, type DayPeriod } from '../analytics/period.js';
import { SOURCE_CLASS_LABELS } from '../enrich/classify.js';
import { decideSource, decisionsOf, NOTE_MAX, normaliseIp, subjectKey, undoSourceDecision, type SourceDecision } from './decisions.js';
import { EVIDENCE_WINDOW_DAYS } from './evidence.js';
import { sourceDetail } from './source-detail.js';

const DEFAULT_DAYS = 30;
const day = z.iso.date();

const ipParams = orgParams.extend({
  ip: z.string().min(2).max(64).describe('The sending IP address (IPv4 or IPv6; percent-encode the colons of an IPv6 address).'),
});

function ipOf(text: string): string {
  const ip = normaliseIp(text);
  if (ip === null) throw badRequest('Not an IP address.');
  return ip;
}

export const decisionSchema = z.object({
  decision: z.enum(['authorised', 'ignored']).describe('authorised: this sender is yours; ignored: known and not worth attention.'),
  note: z.string().nullable().describe('Why, in words.'),
  subject: z.object({ type: z.enum(['ip', 'service']), value: z.string() }).describe('What the decision is about: this address, or the service it was identified as.'),
  decidedAt: timestamp,
  decidedBy: z.string().nullable().describe('E-mail address of the member, or the API key, who decided; null when they are gone.'),
});

export function decisionOut(d: SourceDecision | null): z.input<typeof decisionSchema> | null {
  return d === null ? null : { decision: d.decision, note: d.note, subject: d.subject, decidedAt: iso(d.decidedAt), decidedBy: d.decidedBy };
}

const serviceSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    category: z.string(),
    confidence: z.enum(['ptr+dkim', 'ptr', 'dkim', 'asn']).describe('Strongest first: PTR and DKIM agree > forward-confirmed PTR > DKIM d= > ASN.'),
    custom: z.boolean().describe("From the organisation's own service entries."),
    evidence: z.array(z.string()),
  })
  .nullable();

const sourceDetailSchema = z.object({
  ip: z.string(),
  from: day,
  to: day,
  messages: z.number().int(),
  dmarcPass: z.number().int(),
  quarantine: z.number().int(),
  reject: z.number().int(),
  daily: z.array(z.object({ day, messages: z.number().int(), pass: z.number().int() })).describe('Messages per day (UTC), zero-filled.'),
  domains: z.array(z.object({ domain: z.string(), messages: z.number().int(), pass: z.number().int() })).describe('Policy domains it sent as.'),
  enrichment: z
    .object({
      ptr: z.string().nullable().describe('Reverse-DNS name, or null when it has none.'),
      ptrConfirmed: z.boolean().describe('The name resolves back to the address (forward-confirmed reverse DNS).'),
      ptrOrgDomain: z.string().nullable(),
      asn: z.number().int().nullable().describe('Null when unknown (no ASN database configured, or not in it).'),
      asOrganization: z.string().nullable(),
      country: z.string().nullable().describe('ISO 3166-1 alpha-2; null when unknown.'),
      checkedAt: timestamp.nullable().describe('When the last check finished; null: not checked yet.'),
      lastError: z.string().nullable().describe('Why the last check could not finish (it is retried later).'),
    })
    .nullable()
    .describe('What the background enrichment found; null when the address has not been checked yet.'),
  classification: z
    .object({
      kind: z.enum(['authorised', 'forwarder', 'known_service', 'suspicious', 'unknown']),
      label: z.string(),
      evidence: z.array(z.string()).describe('The facts behind it, decisive ones first.'),
      service: serviceSchema,
      network: serviceSchema.describe('A shared cloud network the address is in.'),
      totals: z.object({
        messages: z.number().int(),
        dmarcPass: z.number().int(),
        dkimAligned: z.number().int(),
        spfAligned: z.number().int(),
        failedBoth: z.number().int(),
        disagreeing: z.number().int(),
      }).describe(`From its records of the last ${EVIDENCE_WINDOW_DAYS} days, with alignment recomputed.`),
      analysis: z
        .object({
          status: z
            .enum(['ready', 'pending', 'outside_window'])
            .describe(
              'ready: classified from the evidence of its records; pending: its records are being analysed (the classification then rests on enrichment and decisions alone and is never "suspicious"); outside_window: no records in the window.',
            ),
          windowDays: z.number().int().describe('Days of records the evidence covers, ending today.'),
          computedAt: timestamp.nullable().describe('When the evidence was computed; null without evidence.'),
        })
        .describe('The evidence behind the classification, computed in the background.'),
    })
    .nullable()
    .describe('Null when the address sent nothing in the period.'),
  decision: decisionSchema.nullable().describe('The decision that applies: the address’s own, else its service’s.'),
  reports: z.array(
    z.object({ id: z.number().int(), reporter: z.string(), reportId: z.string(), domain: z.string(), beginAt: timestamp, endAt: timestamp, messages: z.number().int() }),
  ).describe('Aggregate reports of the period that list it (newest first; `GET /orgs/{org}/reports/aggregate/{id}`).'),
});

/** `from` and `to` of a history: whole UTC days, the last 30 by default. */
export const periodQuery = z.object({
  from: day.optional().describe(`First day (UTC, included); default ${DEFAULT_DAYS - 1} days before \`to\`.`),
  to: day.optional().describe('Last day (UTC, included); default today.'),
});

export function periodOf(query: { from?: string | undefined; to?: string | undefined }, now: Date): DayPeriod {
  const toDay = query.to ?? dayOf(now);
  const fromDay = query.from ?? addDays(toDay, -(DEFAULT_DAYS - 1));
  if (fromDay > toDay) throw badRequest('`from` must not come after `to`.');
  return { fromDay, toDay };
}

export function serviceOut(m: { service: { id: string; name: string; category: string }; confidence: 'ptr+dkim' | 'ptr' | 'dkim' | 'asn'; custom: boolean; evidence: Array<{ fact: string }> } | null) {
  return m === null ? null : { id: m.service.id, name: m.service.name, category: m.service.category, confidence: m.confidence, custom: m.custom, evidence: m.evidence.map((e) => e.fact) };
}

export const sourcesApi = [
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/sources/{ip}',
    operationId: 'getSource',
    summary: 'One sending address: history, enrichment, classification with evidence, decision',
    description:
      `Over whole UTC days (the last ${DEFAULT_DAYS} by default), across the organisation's domains. Enrichment comes from the background job's cache (no lookup happens for this request); ` +
      `the classification from the evidence another background job computes from the address's records of the last ${EVIDENCE_WINDOW_DAYS} days (\`classification.analysis\` says whether it is ready). ` +
      'The classification follows the rules in docs/services.md: authorised, forwarded or mailing list, known service, suspicious, unknown. 404 when the address sent nothing in the period and has no decision.',
    tag: 'Sources',
    permission: 'read',
    params: ipParams,
    query: periodQuery,
    response: sourceDetailSchema,
    handler: async ({ db, org, params, query, now }) => {
      const ip = ipOf(params.ip);
      const period = periodOf(query, now);
      const [detail, decisions] = await Promise.all([sourceDetail(db, org.orgId, ip, period, now), decisionsOf(db, org.orgId)]);
      const own = decisions.get(subjectKey({ type: 'ip', value: ip })) ?? null;
      if (detail.history.messages === 0 && detail.reports.length === 0 && own === null) throw notFound('Source');
      const s = detail.source;
      const e = s?.enrichment ?? null;
      return {
        ip,
        from: period.fromDay,
        to: period.toDay,
        messages: detail.history.messages,
        dmarcPass: detail.history.pass,
        quarantine: detail.history.quarantine,
        reject: detail.history.reject,
        daily: detail.history.days,
        domains: detail.history.domains,
        enrichment: e && {
          ptr: e.ptrHost,
          ptrConfirmed: e.ptrConfirmed,
          ptrOrgDomain: e.ptrOrgDomain,
          asn: e.asn,
          asOrganization: e.asOrg,
          country: e.country,
          checkedAt: iso(e.checkedAt),
          lastError: e.lastError,
        },
        classification: s && {
          kind: s.classification.kind,
          label: SOURCE_CLASS_LABELS[s.classification.kind],
          evidence: s.classification.evidence,
          service: serviceOut(s.classification.service),
          network: serviceOut(s.classification.network),
          totals: s.classification.totals,
          analysis: { status: s.evidence.status, windowDays: s.evidence.windowDays, computedAt: s.evidence.computedAt && iso(s.evidence.computedAt) },
        },
        decision: decisionOut(s?.decision ?? own),
        reports: detail.reports.map((r) => ({ ...r, beginAt: iso(r.beginAt), endAt: iso(r.endAt) })),
      };
    },
  }),
  orgRoute({
    method: 'put',
    path: '/orgs/{org}/sources/{ip}/decision',
    operationId: 'decideSource',
    summary: 'Authorise or ignore a sending address',
    description:
      'authorised: the address sends for you (its mail is classified "authorised" whatever the checks say); ignored: it is known and needs no attention. ' +
      'Replaces an earlier decision about the address; audited. The address need not have sent anything yet.',
    tag: 'Sources',
    permission: 'write',
    params: ipParams,
    body: z.object({
      decision: z.enum(['authorised', 'ignored']),
      note: z.string().max(NOTE_MAX).nullable().optional().describe('Why, in words (shown with the classification).'),
    }),
    response: decisionSchema,
    handler: async ({ db, org, params, body, actor, ip: clientIp, now }) => {
      const subject = { type: 'ip' as const, value: ipOf(params.ip) };
      await decideSource(db, { orgId: org.orgId, actor, ip: clientIp, now }, subject, body.decision, body.note ?? null);
      const saved = (await decisionsOf(db, org.orgId)).get(subjectKey(subject)) ?? null;
      return decisionOut(saved)!;
    },
  }),
  orgRoute({
    method: 'delete',
    path: '/orgs/{org}/sources/{ip}/decision',
    operationId: 'undoSourceDecision',
    summary: 'Remove the decision about a sending address',
    description: 'The address is classified from its evidence again. Audited. 404 when there was no decision.',
    tag: 'Sources',
    permission: 'write',
    params: ipParams,
    response: null,
    handler: async ({ db, org, params, actor, ip: clientIp, now }) => {
      const removed = await undoSourceDecision(db, { orgId: org.orgId, actor, ip: clientIp, now }, { type: 'ip', value: ipOf(params.ip) });
      if (!removed) throw notFound('Decision');
    },
  }),
];
