/**
 * DMARC aggregate report parser (RFC 7489 Appendix C, RFC 9990), streaming: bytes go in as they
 * arrive, records come out in batches, and memory stays flat whatever the report's size.
 *
 * Safety: any <!DOCTYPE> is refused, only the predefined entities and character references are
 * expanded, and nesting is capped. Tolerance: see aggregate-sax.ts and aggregate-fields.ts.
 */
import { asReportError, ReportError, type AggregateEvent, type AggregateHeader, type AggregateRecord, type AggregateReport } from '../types.js';
import { AggregateCollector } from './aggregate-sax.js';
import { decodeXml, type DecodeReport } from './xml-decode.js';

export { MAX_RECORD_COUNT } from './aggregate-fields.js';

export interface AggregateParseOptions {
  /** Records per `records` event (default 1000). */
  batchSize?: number;
  /** Deepest element nesting accepted (default 64). */
  maxDepth?: number;
}

const DEFAULT_BATCH_SIZE = 1000;
const DEFAULT_MAX_DEPTH = 64;
/** Piece size when a whole document is handed over as one buffer. */
const SLICE = 256 * 1024;

/**
 * Parses an aggregate report as a stream of events: one `header`, then `records` batches, then
 * `end`. Records that appear before the report's metadata and policy are held back until the
 * header is known. Throws ReportError (`malformed_xml`, `dtd_refused`, `unsupported_encoding`,
 * `not_a_report`, `missing_identity`, `invalid_report`, `empty`); an error can come after some
 * batches were already produced, so a consumer must treat the report as a whole.
 */
export async function* parseAggregateStream(
  source: AsyncIterable<Uint8Array>,
  options: AggregateParseOptions = {},
): AsyncGenerator<AggregateEvent> {
  const batchSize = positiveInteger(options.batchSize, DEFAULT_BATCH_SIZE, 'batchSize');
  const maxDepth = positiveInteger(options.maxDepth, DEFAULT_MAX_DEPTH, 'maxDepth');
  try {
    const collector = new AggregateCollector({ batchSize, maxDepth });
    const decoded: DecodeReport = { encoding: null, replaced: 0, skippedLines: 0 };

    for await (const text of decodeXml(source, decoded)) {
      collector.lineOffset = decoded.skippedLines;
      collector.write(text);
      if (collector.queue.length > 0) {
        const events = collector.queue;
        collector.queue = [];
        for (const event of events) yield event;
      }
    }
    const notes: string[] = [];
    if (decoded.replaced > 0) {
      notes.push(
        `${decoded.replaced} ${decoded.replaced === 1 ? 'sequence of bytes was' : 'sequences of bytes were'} not valid ` +
          `${decoded.encoding === 'utf-8' ? 'UTF-8' : decoded.encoding?.toUpperCase()} and ` +
          `${decoded.replaced === 1 ? 'was' : 'were'} replaced by the character U+FFFD (�).`,
      );
    }
    collector.close(notes);
    for (const event of collector.queue) yield event;
    collector.queue = [];
  } catch (error) {
    throw asReportError(error);
  }
}

/** Parses a whole aggregate report into memory (the records of very large reports add up). */
export async function parseAggregate(bytes: Uint8Array | AsyncIterable<Uint8Array>): Promise<AggregateReport> {
  const source = bytes instanceof Uint8Array ? slices(bytes) : bytes;
  let header: AggregateHeader | null = null;
  const records: AggregateRecord[] = [];
  for await (const event of parseAggregateStream(source)) {
    switch (event.type) {
      case 'header':
        header = event.header;
        break;
      case 'records':
        for (const record of event.records) records.push(record);
        break;
      case 'end':
        if (header === null) throw new ReportError('invalid_report', 'The report has no header.');
        return { ...header, records, warnings: event.warnings, extensions: event.extensions };
    }
  }
  throw new ReportError('invalid_report', 'The report ended without being complete.');
}

async function* slices(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < bytes.length; off += SLICE) yield bytes.subarray(off, off + SLICE);
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}
