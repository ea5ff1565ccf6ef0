import { ReportError, type ExtractedDocument } from '../reports/types.js';
import { DocumentClaimLost, findKnownDocument, recordRefusal, recordSeenDocument } from './documents.js';
import { storeAggregate } from './store-aggregate.js';
import { storeFailure } from './store-failure.js';
import { storeTls } from './store-tls.js';
import type { DocumentOutcome, IngestContext } from './types.js';

function store(ctx: IngestContext, doc: ExtractedDocument, sha256: Uint8Array): Promise<DocumentOutcome> {
  switch (doc.format) {
    case 'xml':
      return storeAggregate(ctx, doc, sha256);
    case 'json':
      return storeTls(ctx, doc, sha256);
    case 'arf':
      return storeFailure(ctx, doc, sha256);
  }
}

/** PostgreSQL broke a deadlock or a serialization conflict by aborting our transaction: safe to retry. */
function isRetryable(error: unknown): boolean {
  const code = (error as { code?: string })?.code;
  return code === '40P01' || code === '40001';
}

/**
 * The single entry to the report tables: a document known by its hash is only logged; a new one is
 * parsed and stored in one transaction, or refused with the parser's reason.
 */
export async function ingestDocument(ctx: IngestContext, doc: ExtractedDocument): Promise<DocumentOutcome> {
  const sha256 = Buffer.from(doc.sha256, 'hex');
  for (let attempt = 0; ; attempt++) {
    const known = await findKnownDocument(ctx.db, ctx.orgId, sha256);
    if (known) return recordSeenDocument(ctx, doc, sha256, known);
    try {
      return await store(ctx, doc, sha256);
    } catch (error) {
      if (error instanceof DocumentClaimLost && attempt === 0) continue;
      if (isRetryable(error) && attempt < 3) continue;
      if (!(error instanceof ReportError)) throw error;
      try {
        return await recordRefusal(ctx, doc, sha256, error);
      } catch (refusalError) {
        if (refusalError instanceof DocumentClaimLost && attempt === 0) continue;
        throw refusalError;
      }
    }
  }
}
