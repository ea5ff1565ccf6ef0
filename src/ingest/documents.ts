import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { ExtractedDocument, Problem, ProblemCode, ReportError } from '../reports/types.js';
import { writeIngestLog } from './ingest-log.js';
import { compressDocument } from './raw-archive.js';
import type { DocumentOutcome, IngestContext, Outcome, ReportKind } from './types.js';

/** Another process stored the same document between our check and our insert. */
export class DocumentClaimLost extends Error {
  constructor() {
    super('document claimed by a concurrent ingest');
    this.name = 'DocumentClaimLost';
  }
}

const NOT_REPORT_CODES: ReadonlySet<ProblemCode> = new Set(['empty', 'not_a_report', 'feedback_loop']);

export function outcomeOf(code: ProblemCode): Outcome {
  return NOT_REPORT_CODES.has(code) ? 'not_a_report' : 'refused';
}

export function kindOfFormat(format: ExtractedDocument['format']): ReportKind {
  return format === 'xml' ? 'aggregate' : format === 'json' ? 'tlsrpt' : 'failure';
}

/** Inserts the raw_document row that makes this content hash ours; throws DocumentClaimLost if taken. */
export async function claimDocument(
  db: Kysely<DB>,
  orgId: number,
  sha256: Uint8Array,
  doc: ExtractedDocument,
  outcome: Outcome,
  problem?: { code: ProblemCode; message: string },
  contentGzip: Uint8Array | null = null,
): Promise<number> {
  const row = await db
    .insertInto('raw_document')
    .values({
      org_id: orgId,
      sha256,
      format: doc.format,
      size_bytes: doc.size,
      content_gzip: contentGzip,
      outcome,
      problem_code: problem?.code ?? null,
      problem: problem?.message ?? null,
    })
    .onConflict((oc) => oc.doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!row) throw new DocumentClaimLost();
  return row.id;
}

/** The same report (reporter, id, domain, range) arrived again in different bytes: keep the bytes, count nothing. */
export async function recordDuplicateReport(
  db: Kysely<DB>,
  ctx: IngestContext,
  doc: ExtractedDocument,
  sha256: Uint8Array,
  documentId: number,
  kind: ReportKind,
  reportRef: string,
): Promise<DocumentOutcome> {
  const problem = `report ${reportRef} is already stored (re-sent with different bytes); not counted again`;
  await db
    .updateTable('raw_document')
    .set({ outcome: 'duplicate', problem, content_gzip: await compressDocument(doc.content.open()) })
    .where('id', '=', documentId)
    .execute();
  const outcome: DocumentOutcome = {
    item: doc.name,
    kind,
    outcome: 'duplicate',
    seenBefore: false,
    problemCode: null,
    problem,
    records: 0,
    reportRef,
  };
  await writeIngestLog(db, { ...outcome, orgId: ctx.orgId, source: ctx.source, sha256, documentId });
  return outcome;
}

export interface KnownDocument {
  id: number;
  outcome: Outcome;
  problem_code: string | null;
  problem: string | null;
  created_at: Date;
}

export async function findKnownDocument(db: Kysely<DB>, orgId: number, sha256: Uint8Array): Promise<KnownDocument | undefined> {
  const row = await db
    .selectFrom('raw_document')
    .select(['id', 'outcome', 'problem_code', 'problem', 'created_at'])
    .where('org_id', '=', orgId)
    .where('sha256', '=', sha256)
    .executeTakeFirst();
  return row as KnownDocument | undefined;
}

/**
 * A document whose exact bytes were processed before. The log keeps the first verdict for the same
 * source and item (so a re-run leaves the log as it was), and notes a duplicate from any other source.
 */
export async function recordSeenDocument(
  ctx: IngestContext,
  doc: ExtractedDocument,
  sha256: Uint8Array,
  known: KnownDocument,
): Promise<DocumentOutcome> {
  const stored = known.outcome === 'stored';
  const problem = stored
    ? `identical document already received on ${known.created_at.toISOString().slice(0, 10)}; not counted again`
    : known.problem;
  const outcome: DocumentOutcome = {
    item: doc.name,
    kind: kindOfFormat(doc.format),
    outcome: stored ? 'duplicate' : known.outcome,
    seenBefore: true,
    problemCode: (known.problem_code as ProblemCode | null) ?? null,
    problem,
    records: 0,
    reportRef: null,
  };
  await writeIngestLog(ctx.db, { ...outcome, orgId: ctx.orgId, source: ctx.source, sha256, documentId: known.id });
  return outcome;
}

/**
 * A document the parser refused: kept (compressed) with the reason, so a person can look at it —
 * except mail judged not to be a report, which is someone's private message and is not copied.
 */
export async function recordRefusal(
  ctx: IngestContext,
  doc: ExtractedDocument,
  sha256: Uint8Array,
  error: ReportError,
): Promise<DocumentOutcome> {
  const outcome: DocumentOutcome = {
    item: doc.name,
    kind: error.code === 'not_a_report' || error.code === 'feedback_loop' ? null : kindOfFormat(doc.format),
    outcome: outcomeOf(error.code),
    seenBefore: false,
    problemCode: error.code,
    problem: error.message,
    records: 0,
    reportRef: null,
  };
  const content = doc.format === 'arf' ? null : await compressDocument(doc.content.open());
  await ctx.db.transaction().execute(async (trx) => {
    const documentId = await claimDocument(trx, ctx.orgId, sha256, doc, outcome.outcome, { code: error.code, message: error.message }, content);
    await writeIngestLog(trx, { ...outcome, orgId: ctx.orgId, source: ctx.source, sha256, documentId });
  });
  return outcome;
}

/** A wrapper refused before any document came out of it (corrupt zip, mail over the size cap…). */
export async function recordProblem(ctx: IngestContext, problem: Problem): Promise<DocumentOutcome> {
  const outcome: DocumentOutcome = {
    item: problem.name,
    kind: null,
    outcome: outcomeOf(problem.code),
    seenBefore: false,
    problemCode: problem.code,
    problem: problem.message,
    records: 0,
    reportRef: null,
  };
  await writeIngestLog(ctx.db, { ...outcome, orgId: ctx.orgId, source: ctx.source, sha256: null, documentId: null });
  return outcome;
}
