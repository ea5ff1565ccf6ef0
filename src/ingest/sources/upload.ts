import { createHash } from 'node:crypto';
import { extractBytes } from '../../reports/extract/index.js';
import type { ExtractResult } from '../../reports/types.js';
import { recordProblem } from '../documents.js';
import { ingestExtracted } from '../ingest-extracted.js';
import type { DocumentOutcome, IngestContext } from '../types.js';

export type UploadIngestContext = Omit<IngestContext, 'source'>;

/** One uploaded file, already read within the request's body limit. */
export interface UploadedFile {
  /** The file name the client sent (any path in it is dropped). */
  name: string;
  bytes: Uint8Array;
}

export interface UploadedDocumentOutcome extends DocumentOutcome {
  /** Hex SHA-256 of the document's decompressed bytes; null for a wrapper refused before any document came out. */
  sha256: string | null;
}

export interface UploadResult {
  name: string;
  size: number;
  /** Hex SHA-256 of the file as uploaded. */
  sha256: string;
  /** The ingest-log source of the file's documents. */
  source: string;
  documents: UploadedDocumentOutcome[];
}

const MAX_NAME_LENGTH = 200;

/** The last path segment of a client's file name, without control characters, never empty. */
export function uploadFileName(raw: string): string {
  const base = raw.split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, MAX_NAME_LENGTH);
  return clean === '' || clean === '.' || clean === '..' ? 'upload' : clean;
}

/**
 * The ingest-log source of an upload: the file's content hash and its name. The same file uploaded
 * again gets the same source (its log rows stay as they were, only `last_seen_at` moves), while
 * another file that happens to carry the same name gets rows of its own.
 */
export function uploadSource(fileSha256: string, name: string): string {
  return `upload:${fileSha256.slice(0, 16)}:${name}`;
}

/**
 * Ingests one uploaded file through extract → parse → store, exactly as `dmarcwatch import` does
 * with a file on disk; documents are named after the file (`name › part › entry`).
 */
export async function ingestUpload(ctx: UploadIngestContext, file: UploadedFile): Promise<UploadResult> {
  const name = uploadFileName(file.name);
  const sha256 = createHash('sha256').update(file.bytes).digest('hex');
  const source = uploadSource(sha256, name);
  const fileCtx: IngestContext = { ...ctx, source };

  let extracted: ExtractResult;
  try {
    extracted = await extractBytes(file.bytes, name, ctx.limits);
  } catch (error) {
    // The extractor turns every refusal it knows into a problem; anything else is still the file's fault.
    ctx.logger.warn('upload: the file could not be unpacked', { name, error });
    const outcome = await recordProblem(fileCtx, { code: 'invalid_report', name, message: 'the file could not be unpacked; it is damaged or not a report' });
    return { name, size: file.bytes.length, sha256, source, documents: [{ ...outcome, sha256: null }] };
  }

  const outcomes = await ingestExtracted(fileCtx, extracted);
  return { name, size: file.bytes.length, sha256, source, documents: withDocumentHashes(extracted, outcomes) };
}

/** Pairs outcomes with the hashes of their documents: problems come first, then documents, in order. */
function withDocumentHashes(extracted: ExtractResult, outcomes: DocumentOutcome[]): UploadedDocumentOutcome[] {
  const problems = extracted.problems.length;
  return outcomes.map((outcome, i) => {
    const doc = i >= problems ? extracted.documents[i - problems] : undefined;
    return { ...outcome, sha256: doc && doc.name === outcome.item ? doc.sha256 : null };
  });
}
