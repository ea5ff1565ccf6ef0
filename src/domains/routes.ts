import { z } from 'zod';
import { orgRoute } from '../api/define.js';
import { badRequest, conflict, notFound } from '../api/errors.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../api/pagination.js';
import { iso, orgParams, timestamp } from '../api/schemas.js';
import { sharedDnsResolver } from '../lib/dns.js';
import { addDomain, checkDomainProof, deleteDomain, DomainExistsError, findDomain, listDomains, viewDomain, type DomainRow } from './manage.js';
import { DomainNameError } from './name.js';
import { MISSES_BEFORE_UNVERIFIED } from './verification.js';

const domain = z.object({
  id: z.number().int(),
  name: z.string().describe('The domain in ASCII: lower-case, internationalised names in punycode (xn--…).'),
  displayName: z.string().describe('The domain as people write it (punycode decoded).'),
  createdAt: timestamp,
  usable: z.boolean().describe('Whether reports for this domain count: always when this instance does not require ownership proof, otherwise once verified.'),
  proof: z
    .object({
      required: z.boolean().describe('Whether this instance requires the ownership proof before the domain is usable.'),
      status: z.enum(['verified', 'pending']),
      statusText: z.string().describe('The status in words, with what to do next.'),
      record: z
        .object({
          name: z.string().describe('Where to publish it: `_dmarcwatch.<domain>`.'),
          type: z.literal('TXT'),
          value: z.string().describe('The exact TXT value: `dmarcwatch-verification=<token>`.'),
        })
        .describe('The DNS record that proves ownership.'),
      verifiedAt: timestamp.nullable().describe('When the record was first found (since the last loss of verification).'),
      lastCheckedAt: timestamp.nullable(),
      nextCheckAt: timestamp.describe('When the periodic check looks again: hourly in the first week while pending, daily after that and once verified.'),
      lastOutcome: z.enum(['found', 'missing', 'wrong_token', 'dns_error']).nullable().describe('What the last check found; dns_error means DNS did not answer.'),
      problem: z.string().nullable().describe('What the last check found wrong, in words; null when the record was found.'),
      missedChecks: z
        .number()
        .int()
        .describe(`Checks in a row that did not find the record while verified; verification is dropped at ${MISSES_BEFORE_UNVERIFIED}.`),
    })
    .describe('DNS-TXT ownership proof.'),
});

const domainParams = orgParams.extend({
  domain: z.string().min(1).max(300).describe("The domain's id, or its name (e.g. example.com)."),
});

function domainOut(row: DomainRow, requireProof: boolean): z.input<typeof domain> {
  const view = viewDomain(row, requireProof);
  return {
    ...view,
    createdAt: iso(view.createdAt),
    proof: { ...view.proof, verifiedAt: iso(view.proof.verifiedAt), lastCheckedAt: iso(view.proof.lastCheckedAt), nextCheckAt: iso(view.proof.nextCheckAt) },
  };
}

export const domainsApi = [
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/domains',
    operationId: 'listDomains',
    summary: "The organisation's domains, in name order",
    tag: 'Domains',
    permission: 'read',
    params: orgParams,
    query: pageQuery,
    response: pageOf(domain),
    handler: async ({ db, org, query, deps }) => {
      const after = decodeCursor(query.cursor, z.tuple([z.string()]));
      const rows = await listDomains(db, org.orgId, { limit: query.limit + 1, after: after?.[0] ?? null });
      return toPage(rows, query.limit, (row) => [row.name], (row) => domainOut(row, deps.config.requireDomainProof));
    },
  }),
  orgRoute({
    method: 'post',
    path: '/orgs/{org}/domains',
    operationId: 'createDomain',
    summary: 'Add a domain and get the DNS record that proves ownership',
    description:
      'The name is stored lower-case, without a trailing dot, and in punycode when internationalised. ' +
      'Publish `proof.record` (a TXT record at `_dmarcwatch.<domain>`), then call verify, or wait for the periodic check.',
    tag: 'Domains',
    permission: 'write',
    params: orgParams,
    body: z.object({ name: z.string().max(300).describe('The domain, e.g. example.com or bücher.example.') }),
    status: 201,
    response: domain,
    errors: { 409: 'The organisation already has this domain.' },
    handler: async ({ db, org, body, actor, ip, now, deps }) => {
      try {
        const row = await addDomain(db, { orgId: org.orgId, actor, ip, now, name: body.name });
        return domainOut(row, deps.config.requireDomainProof);
      } catch (error) {
        if (error instanceof DomainNameError) throw badRequest(`name: ${error.message}.`, 'invalid_domain');
        if (error instanceof DomainExistsError) throw conflict(error.message, 'domain_exists');
        throw error;
      }
    },
  }),
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/domains/{domain}',
    operationId: 'getDomain',
    summary: 'One domain with its ownership proof status',
    tag: 'Domains',
    permission: 'read',
    params: domainParams,
    response: domain,
    handler: async ({ db, org, params, deps }) => {
      const row = await findDomain(db, org.orgId, params.domain);
      if (!row) throw notFound('Domain');
      return domainOut(row, deps.config.requireDomainProof);
    },
  }),
  orgRoute({
    method: 'post',
    path: '/orgs/{org}/domains/{domain}/verify',
    operationId: 'verifyDomain',
    summary: 'Look up the ownership record now',
    description:
      'Checks the TXT record at `_dmarcwatch.<domain>` and answers with the result (`proof.lastOutcome`, `proof.problem`). ' +
      `A verified domain whose record has gone stays verified until ${MISSES_BEFORE_UNVERIFIED} checks in a row miss it; when DNS does not answer, the check counts neither way.`,
    tag: 'Domains',
    permission: 'write',
    params: domainParams,
    response: domain,
    handler: async ({ db, org, params, actor, ip, now, deps }) => {
      const row = await findDomain(db, org.orgId, params.domain);
      if (!row) throw notFound('Domain');
      const checked = await checkDomainProof(db, sharedDnsResolver(deps.config.dns), row, { orgId: org.orgId, actor, ip, now, always: true });
      if (!checked) throw notFound('Domain');
      return domainOut(checked, deps.config.requireDomainProof);
    },
  }),
  orgRoute({
    method: 'delete',
    path: '/orgs/{org}/domains/{domain}',
    operationId: 'deleteDomain',
    summary: 'Remove a domain (reports already received about it stay)',
    tag: 'Domains',
    permission: 'admin',
    params: domainParams,
    response: null,
    handler: async ({ db, org, params, actor, ip, now }) => {
      const row = await findDomain(db, org.orgId, params.domain);
      if (!row || !(await deleteDomain(db, { orgId: org.orgId, actor, ip, now, domainId: row.id }))) throw notFound('Domain');
    },
  }),
];
