import { describe, expect, it } from 'vitest';
import { parseAggregateStream } from '../../../src/reports/parse/aggregate.js';
import { ReportError } from '../../../src/reports/types.js';

/** A source that gives some valid bytes, then fails the way a bug would (not with a ReportError). */
async function* failingSource(): AsyncGenerator<Uint8Array> {
  yield Buffer.from('<?xml version="1.0"?><feedback><report_metadata><org_name>x</org_name>');
  throw new TypeError("Cannot read properties of undefined (reading 'length')");
}

describe('an unexpected failure while reading a document', () => {
  it('refuses that document as invalid_report with the reason, instead of escaping as a crash', async () => {
    const read = async () => {
      for await (const _event of parseAggregateStream(failingSource())) {
        // consume
      }
    };
    const error = await read().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ReportError);
    expect((error as ReportError).code).toBe('invalid_report');
    expect((error as ReportError).message).toContain("reading 'length'");
    expect((error as ReportError).cause).toBeInstanceOf(TypeError);
  });

  it('still reports a wrong option as the programming error it is', async () => {
    const start = parseAggregateStream(failingSource(), { batchSize: -1 });
    await expect(start.next()).rejects.toBeInstanceOf(RangeError);
  });
});
