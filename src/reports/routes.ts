import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { z } from 'zod';
import { orgRoute, type OrgContext } from '../api/define.js';
import { ApiError, badRequest, notFound } from '../api/errors.js';
import { decodeCursor, pageOf, pageQuery, toJsonTextPage, toPage } from '../api/pagination.js';
import { idParam, iso, orgParams, timestamp } from '../api/schemas.js';
import { aggregateRecords, aggregateReport } from './queries/aggregate-report.js';
import { failureReport } from './queries/failure-report.js';
import { REPORT_KINDS, reportKindOf, type ReportKind } from './queries/kinds.js';
import { listReportRows } from './queries/list-reports.js';
import { rawReportDocument, type RawReportDocument } from './queries/raw-document.js';
import { sourcesByIp } from './queries/sources.js';
import { tlsReport } from './queries/tls-report.js';
import { uploadReports, type UploadedReports } from './upload-reports.js';

/** File parts taken in one upload request (the whole body is capped at DMARCWATCH_MAX_MAIL_SIZE anyway). */
export const MAX_UPLOAD_FILES = 50;
const DEFAULT_RECORDS = 100;
const MAX_RECORDS = 1000;
const DEFAULT_SOURCE_DAYS = 30;
const DAY_MS = 86_400_000;

const kindSchema = z.enum(REPORT_KINDS).describe('aggregate (DMARC, RFC 7489/9990), tls (SMTP TLS, RFC 8460) or failure (ARF, RFC 6591).');
const outcomeSchema = z.enum(['stored', 'duplicate', 'refused', 'not_a_report']);
const day = z.iso.date();
/** A day (the whole day, UTC) or an exact time. */
const dayOrTime = z.union([day, z.iso.datetime({ offset: true })]);

function startOf(value: string): Date {
  return new Date(value.length === 10 ? `${value}T00:00:00Z` : value);
}

/** The end of a period given as `to`: a day includes all of it. */
function endOf(value: string): Date {
  return value.length === 10 ? new Date(startOf(value).getTime() + DAY_MS) : new Date(value);
}

// ---- upload ----------------------------------------------------------------------------------

const uploadedDocument = z.object({
  item: z.string().describe('The document inside the file: `file name › part › entry`.'),
  kind: kindSchema.nullable().describe('What the document is; null when it is not a report or could not be told.'),
  outcome: outcomeSchema.describe('stored: a new report; duplicate: already stored (nothing counted twice); refused: a report that cannot be used; not_a_report: something else.'),
  reason: z.string().nullable().describe('In words: why it was refused or skipped, what it duplicates, or the warnings of a stored report.'),
  problemCode: z.string().nullable().describe('Stable code of the problem (malformed_xml, too_large, dtd_refused…).'),
  reportRef: z.string().nullable().describe("The reporter and the reporter's report id."),
  report: z.object({ kind: kindSchema, id: z.number().int() }).nullable().describe('The stored report: `GET /orgs/{org}/reports/{kind}/{id}`.'),
  records: z.number().int().describe('Records stored (aggregate), policies (TLS), 1 (failure).'),
});

const uploadResponse = z.object({
  files: z.array(
    z.object({
      name: z.string(),
      size: z.number().int(),
      sha256: z.string().describe('SHA-256 of the file as uploaded (hex).'),
      documents: z.array(uploadedDocument),
    }),
  ),
  totals: z.object({ stored: z.number().int(), duplicate: z.number().int(), refused: z.number().int(), not_a_report: z.number().int() }),
});

async function readUploadedFiles(ctx: OrgContext<unknown, unknown, unknown>): Promise<File[]> {
  const type = (ctx.c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'multipart/form-data') throw new ApiError(415, 'unsupported_media_type', 'Send the files as multipart/form-data, each in a part named "file".');
  let form: FormData;
  try {
    form = await ctx.c.req.raw.formData();
  } catch {
    throw badRequest('The body is not readable multipart/form-data.');
  }
  const parts = form.getAll('file');
  if (parts.length === 0) throw badRequest('Send at least one file in a part named "file".');
  if (parts.length > MAX_UPLOAD_FILES) throw badRequest(`Send at most ${MAX_UPLOAD_FILES} files per request.`);
  return parts.map((part) => {
    if (typeof part === 'string') throw badRequest('Each "file" part must be a file, not a text field.');
    return part;
  });
}

function uploadOut(uploaded: UploadedReports): z.input<typeof uploadResponse> {
  const files = uploaded.files.map((file) => ({
    name: file.name,
    size: file.size,
    sha256: file.sha256,
    documents: file.documents.map((d) => ({
      item: d.item,
      kind: d.kind === null ? null : reportKindOf(d.kind),
      outcome: d.outcome,
      reason: d.problem,
      problemCode: d.problemCode,
      reportRef: d.reportRef,
      report: d.report,
      records: d.records,
    })),
  }));
  return { files, totals: uploaded.totals };
}

// ---- list and detail -------------------------------------------------------------------------

const summaryBase = {
  id: z.number().int(),
  beginAt: timestamp.describe('Start of the period the report covers.'),
  endAt: timestamp.describe('End of the period the report covers (the list is ordered by it, newest first).'),
  receivedAt: timestamp,
};

const reportSummary = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('aggregate'),
    ...summaryBase,
    reporter: z.string().describe("Reporting organisation's name."),
    reporterEmail: z.string().nullable(),
    reportId: z.string().describe("The reporter's id of the report."),
    domain: z.string().describe('Policy domain.'),
    policy: z.string().nullable().describe('Published p= (none, quarantine, reject).'),
    messages: z.number().int(),
    records: z.number().int(),
    warnings: z.number().int().describe('Problems noticed while reading it (see the detail).'),
  }),
  z.object({
    kind: z.literal('tls'),
    ...summaryBase,
    reporter: z.string(),
    reportId: z.string(),
    domains: z.array(z.string()).describe('Policy domains in the report.'),
    successfulSessions: z.number().int(),
    failedSessions: z.number().int(),
  }),
  z.object({
    kind: z.literal('failure'),
    ...summaryBase,
    domain: z.string().nullable().describe('Reported domain.'),
    sourceIp: z.string().nullable(),
    feedbackType: z.string(),
    authFailure: z.string().nullable().describe('dmarc, dkim, spf… (RFC 6591 Auth-Failure).'),
    deliveryResult: z.string().nullable(),
  }),
]);

const authResult = { result: z.string(), humanResult: z.string().nullable() };
const aggregateRecord = z.object({
  ordinal: z.number().int().describe('Position in the report, from 0.'),
  sourceIp: z.string(),
  count: z.number().int().describe('Messages.'),
  disposition: z.string().describe('What the receiver did: none, quarantine, reject (pass in DMARCbis).'),
  dkim: z.string().nullable().describe('DMARC-evaluated (aligned) DKIM result.'),
  spf: z.string().nullable().describe('DMARC-evaluated (aligned) SPF result.'),
  reasons: z.array(z.object({ type: z.string(), comment: z.string().nullable() })).describe('Why the receiver overrode the policy.'),
  headerFrom: z.string(),
  envelopeFrom: z.string().nullable(),
  envelopeTo: z.string().nullable(),
  dkimResults: z.array(z.object({ domain: z.string(), selector: z.string().nullable(), ...authResult })),
  spfResults: z.array(z.object({ domain: z.string(), scope: z.string().nullable(), ...authResult })),
});

const aggregateDetail = z.object({
  kind: z.literal('aggregate'),
  id: z.number().int(),
  reporter: z.string(),
  reporterEmail: z.string().nullable(),
  extraContactInfo: z.string().nullable(),
  reportId: z.string(),
  beginAt: timestamp,
  endAt: timestamp,
  receivedAt: timestamp,
  version: z.string().nullable(),
  xmlNamespace: z.string().nullable(),
  generator: z.string().nullable(),
  errors: z.array(z.string()).describe("Errors the reporter listed in the report's metadata."),
  extensions: z.array(z.string()),
  warnings: z.array(z.string()).describe('Problems noticed while reading it; the report was stored regardless.'),
  policy: z.object({
    domain: z.string(),
    adkim: z.string().nullable(),
    aspf: z.string().nullable(),
    p: z.string().nullable(),
    sp: z.string().nullable(),
    np: z.string().nullable(),
    pct: z.number().int().nullable(),
    fo: z.string().nullable(),
    testing: z.string().nullable(),
    discoveryMethod: z.string().nullable(),
  }).describe('The policy the reporter found published.'),
  recordCount: z.number().int(),
  messageCount: z.number().int(),
  records: pageOf(aggregateRecord).describe('One page of records; pass `nextCursor` as `recordsCursor` for the next.'),
});

const tlsFailure = z.object({
  resultType: z.string(),
  sendingMtaIp: z.string().nullable(),
  receivingMxHostname: z.string().nullable(),
  receivingMxHelo: z.string().nullable(),
  receivingIp: z.string().nullable(),
  failedSessions: z.number().int(),
  additionalInformation: z.string().nullable(),
  failureReasonCode: z.string().nullable(),
});

const tlsDetail = z.object({
  kind: z.literal('tls'),
  id: z.number().int(),
  reporter: z.string(),
  contactInfo: z.string().nullable(),
  reportId: z.string(),
  beginAt: timestamp,
  endAt: timestamp,
  receivedAt: timestamp,
  successfulSessions: z.number().int(),
  failedSessions: z.number().int(),
  warnings: z.array(z.string()),
  policies: z.array(
    z.object({
      policyType: z.string().describe('sts, tlsa or no-policy-found.'),
      policyString: z.array(z.string()),
      policyDomain: z.string(),
      mxHost: z.array(z.string()),
      successfulSessions: z.number().int(),
      failedSessions: z.number().int(),
      failures: z.array(tlsFailure),
    }),
  ),
});

const failureDetail = z.object({
  kind: z.literal('failure'),
  id: z.number().int(),
  receivedAt: timestamp,
  feedbackType: z.string(),
  plainText: z.boolean().describe('A plain-text report rather than an ARF message.'),
  userAgent: z.string().nullable(),
  version: z.string().nullable(),
  arrivalAt: timestamp.nullable(),
  sourceIp: z.string().nullable(),
  reportedDomain: z.string().nullable(),
  reportedUri: z.array(z.string()),
  authFailure: z.string().nullable(),
  identityAlignment: z.string().nullable(),
  deliveryResult: z.string().nullable(),
  dkimDomain: z.string().nullable(),
  dkimIdentity: z.string().nullable(),
  dkimSelector: z.string().nullable(),
  spfDns: z.string().nullable(),
  originalMailFrom: z.string().nullable(),
  originalRcptTo: z.string().nullable(),
  originalEnvelopeId: z.string().nullable(),
  originalFrom: z.string().nullable(),
  originalSubject: z.string().nullable(),
  originalMessageId: z.string().nullable(),
  originalHeaders: z.string().nullable().describe('Headers of the failed message; null when the instance does not keep them.'),
  reportSubject: z.string().nullable(),
  reportDate: timestamp.nullable(),
});

const reportParams = orgParams.extend({ report: idParam.describe('The report id, as in the list.') });

// ---- raw download ----------------------------------------------------------------------------

const CONTENT_TYPES: Record<RawReportDocument['format'], string> = {
  xml: 'application/xml',
  json: 'application/tlsrpt+json',
  arf: 'message/rfc822',
};
const EXTENSIONS: Record<RawReportDocument['format'], string> = { xml: 'xml', json: 'json', arf: 'eml' };

/** The conventional report file name, `reporter!domain!begin!end[!id].ext`, in safe characters. */
function downloadName(doc: RawReportDocument): string {
  const safe = (part: string) => part.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80);
  const { reporter, domain, beginAt, endAt, reportId } = doc.naming;
  const parts = [reporter, domain ?? 'unknown', String(Math.floor(beginAt.getTime() / 1000)), String(Math.floor(endAt.getTime() / 1000))];
  if (reportId) parts.push(reportId);
  return `${parts.map(safe).join('!')}.${EXTENSIONS[doc.format]}`;
}

function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding?.trim() !== 'gzip') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

function rawResponse(doc: RawReportDocument & { contentGzip: Uint8Array }, acceptEncoding: string | undefined): Response {
  const gzip = acceptsGzip(acceptEncoding);
  const headers: Record<string, string> = {
    // No charset: an XML document declares its own encoding, and the bytes are sent unchanged.
    'content-type': CONTENT_TYPES[doc.format],
    'content-disposition': `attachment; filename="${downloadName(doc)}"`,
    etag: `"${doc.sha256}${gzip ? '-gzip' : ''}"`,
    vary: 'Accept-Encoding',
    'cache-control': 'private, max-age=0',
    'x-content-sha256': doc.sha256,
  };
  if (gzip) {
    headers['content-encoding'] = 'gzip';
    headers['content-length'] = String(doc.contentGzip.length);
    return new Response(doc.contentGzip, { status: 200, headers });
  }
  headers['content-length'] = String(doc.size);
  const stream = Readable.from([Buffer.from(doc.contentGzip)]).pipe(zlib.createGunzip());
  return new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, { status: 200, headers });
}

// ---- sources ---------------------------------------------------------------------------------

const source = z.object({
  sourceIp: z.string(),
  messages: z.number().int(),
  dmarcPass: z.number().int().describe('Messages with an aligned DKIM or SPF pass.'),
  dmarcFail: z.number().int(),
  dispositions: z.object({ none: z.number().int(), quarantine: z.number().int(), reject: z.number().int(), other: z.number().int() }),
  headerFrom: z.array(z.string()).describe('From-header domains seen from this address (at most 20).'),
  firstDay: day,
  lastDay: day,
});

function utcDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

// ---- routes ----------------------------------------------------------------------------------

// Cursor shapes, built once rather than on every request.
const listCursor = z.tuple([z.iso.datetime(), kindSchema, z.number().int()]);
const recordPageCursor = z.tuple([z.number().int().min(0)]);
const failureDetailsCursor = z.tuple([z.number().int().min(0), z.union([z.ipv4(), z.ipv6()])]);

export const reportsApi = [
  orgRoute({
    method: 'post',
    path: '/orgs/{org}/reports/upload',
    operationId: 'uploadReports',
    summary: 'Upload report files',
    description:
      'Send one or more files as multipart/form-data parts named `file`: aggregate XML, TLS JSON, failure reports (.eml), plain or in .gz, .zip or a mail, exactly as the importer reads them. ' +
      'Each document found is stored once: uploading the same file again answers `duplicate` and counts nothing twice. Damaged or hostile files (zip bombs, XML with a DOCTYPE, garbage) are answered as `refused` or `not_a_report` with the reason. ' +
      'The whole request may be at most DMARCWATCH_MAX_MAIL_SIZE bytes.',
    tag: 'Reports',
    permission: 'write',
    params: orgParams,
    body: 'multipart',
    response: uploadResponse,
    errors: { 413: 'The request is larger than DMARCWATCH_MAX_MAIL_SIZE.', 415: 'The body is not multipart/form-data.' },
    handler: async (ctx) => {
      const files = await readUploadedFiles(ctx);
      const { db, org, deps } = ctx;
      const ingestCtx = { db, orgId: org.orgId, limits: deps.config.limits, keepFailureHeaders: deps.config.keepFailureHeaders, logger: deps.logger };
      const uploaded = await uploadReports(ingestCtx, await Promise.all(files.map(async (file) => ({ name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) }))), {
        actor: ctx.actor,
        ip: ctx.ip,
      });
      return uploadOut(uploaded);
    },
  }),
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/reports',
    operationId: 'listReports',
    summary: 'Reports of every kind, newest period end first',
    description: 'Filters combine. A report matches a period when its date range reaches into it. Failure reports name no reporting organisation, so `reporter` leaves them out.',
    tag: 'Reports',
    permission: 'read',
    params: orgParams,
    query: pageQuery.extend({
      kind: kindSchema.optional(),
      domain: z.string().min(1).max(253).optional().describe('Policy domain (aggregate), a policy domain in the report (TLS), or the reported domain (failure).'),
      reporter: z.string().min(1).max(255).optional().describe("Reporting organisation's name, any case (e.g. google.com, Yahoo)."),
      from: dayOrTime.optional().describe('Start of the period: a day (YYYY-MM-DD, UTC) or a time.'),
      to: dayOrTime.optional().describe('End of the period: a day (included) or a time (excluded).'),
      failures: z.enum(['true', 'false']).optional().describe('true: only reports with messages failing DMARC, failed TLS sessions, or failure reports; false: only those without.'),
    }),
    response: pageOf(reportSummary),
    handler: async ({ db, org, query }) => {
      const cursor = decodeCursor(query.cursor, listCursor);
      const from = query.from === undefined ? undefined : startOf(query.from);
      const to = query.to === undefined ? undefined : endOf(query.to);
      if (from && to && from >= to) throw badRequest('`from` must come before `to`.');
      const rows = await listReportRows(
        db,
        org.orgId,
        {
          ...(query.kind ? { kind: query.kind } : {}),
          ...(query.domain ? { domain: query.domain } : {}),
          ...(query.reporter ? { reporter: query.reporter } : {}),
          ...(from ? { from } : {}),
          ...(to ? { to } : {}),
          ...(query.failures ? { failures: query.failures === 'true' } : {}),
        },
        { limit: query.limit + 1, after: cursor ? { at: new Date(cursor[0]), kind: cursor[1], id: cursor[2] } : null },
      );
      return toJsonTextPage(rows, query.limit, (r) => [r.at, r.kind, r.id], (r) => r.item);
    },
  }),
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/reports/aggregate/{report}',
    operationId: 'getAggregateReport',
    summary: 'An aggregate report: metadata, published policy, warnings and its records',
    description: `Records come in pages (${DEFAULT_RECORDS} by default, up to ${MAX_RECORDS}) in document order, each with every DKIM and SPF result and the reasons given; \`recordCount\` says how many there are.`,
    tag: 'Reports',
    permission: 'read',
    params: reportParams,
    query: z.object({
      recordsLimit: z.coerce.number().int().min(1).max(MAX_RECORDS).default(DEFAULT_RECORDS).describe(`Records per page (1–${MAX_RECORDS}).`),
      recordsCursor: z.string().max(64).optional().describe('The `records.nextCursor` of the previous page.'),
    }),
    response: aggregateDetail,
    handler: async ({ db, org, params, query }) => {
      const report = await aggregateReport(db, org.orgId, params.report);
      if (!report) throw notFound('Report');
      const after = decodeCursor(query.recordsCursor, recordPageCursor);
      const records = await aggregateRecords(db, org.orgId, report.id, { limit: query.recordsLimit + 1, after: after ? [after[0], after[0]] : null });
      return {
        kind: 'aggregate' as const,
        ...report,
        beginAt: iso(report.beginAt),
        endAt: iso(report.endAt),
        receivedAt: iso(report.receivedAt),
        records: toPage(records, query.recordsLimit, (r) => [r.ordinal], (r) => r),
      };
    },
  }),
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/reports/tls/{report}',
    operationId: 'getTlsReport',
    summary: 'An SMTP TLS report: policies, session summaries and failure details',
    tag: 'Reports',
    permission: 'read',
    params: reportParams,
    response: tlsDetail,
    handler: async ({ db, org, params }) => {
      const report = await tlsReport(db, org.orgId, params.report);
      if (!report) throw notFound('Report');
      return { kind: 'tls' as const, ...report, beginAt: iso(report.beginAt), endAt: iso(report.endAt), receivedAt: iso(report.receivedAt) };
    },
  }),
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/reports/failure/{report}',
    operationId: 'getFailureReport',
    summary: 'A failure report: its ARF fields and the stored headers of the failed message',
    tag: 'Reports',
    permission: 'read',
    params: reportParams,
    response: failureDetail,
    handler: async ({ db, org, params }) => {
      const report = await failureReport(db, org.orgId, params.report);
      if (!report) throw notFound('Report');
      return {
        kind: 'failure' as const,
        ...report,
        receivedAt: iso(report.receivedAt),
        arrivalAt: iso(report.arrivalAt),
        reportDate: iso(report.reportDate),
      };
    },
  }),
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/reports/{kind}/{report}/raw',
    operationId: 'downloadRawReport',
    summary: 'Download the original report document',
    description:
      'The document as received, after unwrapping (the XML out of its .gz, .zip or mail; the TLS JSON), byte for byte; `X-Content-SHA256` is its hash. ' +
      'Sent gzip-compressed with `Content-Encoding: gzip` when the client accepts it. The original message of a failure report is not kept (it is third-party mail): 404.',
    tag: 'Reports',
    permission: 'read',
    params: orgParams.extend({ kind: kindSchema, report: idParam.describe('The report id, as in the list.') }),
    response: 'binary',
    handler: async ({ db, org, params, c }) => {
      const doc = await rawReportDocument(db, org.orgId, params.kind as ReportKind, params.report);
      if (!doc) throw notFound('Report');
      if (doc.contentGzip === null) {
        throw new ApiError(404, 'raw_not_kept', 'The original of this report is not kept: failure reports carry other people\'s mail, so only their fields and headers are stored.');
      }
      return rawResponse({ ...doc, contentGzip: doc.contentGzip }, c.req.header('accept-encoding'));
    },
  }),
  orgRoute({
    method: 'get',
    path: '/orgs/{org}/sources',
    operationId: 'listSources',
    summary: 'Sending IP addresses by message volume',
    description: `Messages per source IP address from the daily rollups of aggregate reports, over whole UTC days (the last ${DEFAULT_SOURCE_DAYS} by default), with DMARC pass/fail and the receivers' dispositions; most messages first.`,
    tag: 'Reports',
    permission: 'read',
    params: orgParams,
    query: pageQuery.extend({
      from: day.optional().describe(`First day (UTC, included); default ${DEFAULT_SOURCE_DAYS} days before \`to\`.`),
      to: day.optional().describe('Last day (UTC, included); default today.'),
      domain: z.string().min(1).max(253).optional().describe('Only reports for this policy domain.'),
    }),
    response: pageOf(source).extend({ from: day, to: day }),
    handler: async ({ db, org, query, now }) => {
      const toDay = query.to ?? utcDay(now);
      const fromDay = query.from ?? utcDay(new Date(startOf(toDay).getTime() - (DEFAULT_SOURCE_DAYS - 1) * DAY_MS));
      if (fromDay > toDay) throw badRequest('`from` must not come after `to`.');
      const cursor = decodeCursor(query.cursor, failureDetailsCursor);
      const rows = await sourcesByIp(
        db,
        org.orgId,
        { fromDay, toDay, ...(query.domain ? { domain: query.domain } : {}) },
        { limit: query.limit + 1, after: cursor ? { messages: cursor[0], sourceIp: cursor[1] } : null },
      );
      return { ...toPage(rows, query.limit, (r) => [r.messages, r.sourceIp], (r) => r), from: fromDay, to: toDay };
    },
  }),
];
