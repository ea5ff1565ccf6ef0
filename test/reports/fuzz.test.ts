/**
 * Mutated real samples and random bytes through extraction and every parser: whatever comes in,
 * the result is a report or a ReportError with a reason, never another exception, and memory
 * stays bounded. The mutations are seeded, so a failure can be replayed.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { prng as random } from '../../bench/synthetic.js';
import { extractBytes } from '../../src/reports/extract/index.js';
import { parseAggregate, parseAggregateStream } from '../../src/reports/parse/aggregate.js';
import { parseFailureReport } from '../../src/reports/parse/failure.js';
import { parseTlsReport } from '../../src/reports/parse/tlsrpt.js';
import { ReportError, type ExtractedDocument } from '../../src/reports/types.js';

const CORPUS = fileURLToPath(new URL('../fixtures/corpus/', import.meta.url));
const samples = readFileSync(path.join(CORPUS, 'MANIFEST.tsv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((line) => path.join(CORPUS, line.split('\t')[0]!))
  .filter((file) => statSync(file).size <= 256 * 1024)
  .map((file) => ({ name: path.basename(file), bytes: readFileSync(file) }));

const SPECIAL = [0x00, 0x0a, 0x0d, 0x22, 0x26, 0x3b, 0x3c, 0x3e, 0x2f, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c, 0x80, 0xc3, 0xef, 0xff];

function mutate(input: Uint8Array, next: () => number): Uint8Array {
  let bytes = Buffer.from(input);
  const at = () => Math.floor(next() * (bytes.length + 1));
  const mutations = 1 + Math.floor(next() * 4);
  for (let m = 0; m < mutations && bytes.length > 0; m++) {
    const i = at();
    const j = Math.min(bytes.length, i + 1 + Math.floor(next() * 64));
    switch (Math.floor(next() * 7)) {
      case 0: // flip bits
        if (i < bytes.length) bytes[i] = bytes[i]! ^ (1 << Math.floor(next() * 8));
        break;
      case 1: // a byte that means something to one of the formats
        if (i < bytes.length) bytes[i] = SPECIAL[Math.floor(next() * SPECIAL.length)]!;
        break;
      case 2: // cut out a run
        bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(j)]);
        break;
      case 3: // repeat a run
        bytes = Buffer.concat([bytes.subarray(0, j), bytes.subarray(i, j), bytes.subarray(j)]);
        break;
      case 4: // truncate
        bytes = bytes.subarray(0, i);
        break;
      case 5: // random bytes in the middle
        bytes = Buffer.concat([bytes.subarray(0, i), randomBytes(next, Math.floor(next() * 32)), bytes.subarray(i)]);
        break;
      default: // move a run elsewhere
        bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(j), bytes.subarray(i, j)]);
    }
  }
  return bytes;
}

function randomBytes(next: () => number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(next() * 256);
  return out;
}

async function contentOf(doc: ExtractedDocument): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of doc.content.open()) parts.push(part);
  return Buffer.concat(parts);
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function chunked(bytes: Uint8Array, next: () => number): Promise<unknown> {
  async function* pieces() {
    for (let off = 0; off < bytes.length; ) {
      const size = 1 + Math.floor(next() * 97);
      yield bytes.subarray(off, off + size);
      off += size;
    }
  }
  const events: unknown[] = [];
  for await (const event of parseAggregateStream(pieces(), { batchSize: 1 })) events.push(event);
  return events;
}

/** What reading a document gave: the parse or the refusal, as comparable data. */
async function outcome(read: () => Promise<unknown>): Promise<unknown> {
  try {
    return { ok: await read() };
  } catch (error) {
    if (!(error instanceof ReportError)) throw error;
    expect(error.message.length).toBeGreaterThan(10);
    return { refused: error.code, message: error.message };
  }
}

async function readEverything(bytes: Uint8Array, name: string): Promise<void> {
  const extracted = await extractBytes(bytes, name);
  for (const problem of extracted.problems) expect(problem.message.length).toBeGreaterThan(10);
  for (const doc of extracted.documents) {
    const content = await contentOf(doc);
    if (doc.format === 'xml') await outcome(() => parseAggregate(content));
    else if (doc.format === 'json') await outcome(async () => parseTlsReport(content));
    else await outcome(() => parseFailureReport(content));
  }
}

describe('fuzzing extraction and parsing', () => {
  it('has samples of every kind to start from', () => {
    expect(samples.length).toBeGreaterThan(100);
  });

  it('answers every mutated sample with a report or a reason', { timeout: 120_000 }, async () => {
    const next = random(0x5eed);
    const rssAtStart = process.memoryUsage.rss();
    let peak = rssAtStart;
    for (let i = 0; i < 1500; i++) {
      const sample = samples[Math.floor(next() * samples.length)]!;
      await readEverything(mutate(sample.bytes, next), `${sample.name} #${i}`);
      if (i % 50 === 0) peak = Math.max(peak, process.memoryUsage.rss());
    }
    expect(peak - rssAtStart).toBeLessThan(256 * 1024 * 1024);
  });

  it('answers random bytes, bare or behind the magic numbers of each format, with a reason', async () => {
    const next = random(0xb17e5);
    const heads = ['', '\x1f\x8b\x08\x00', 'PK\x03\x04', '<?xml version="1.0"?>', '<feedback>', '{"organization-name":', 'From x\n', 'Received: x\r\n'];
    for (let i = 0; i < 800; i++) {
      const head = Buffer.from(heads[i % heads.length]!, 'latin1');
      const bytes = Buffer.concat([head, randomBytes(next, Math.floor(next() * 4096))]);
      await readEverything(bytes, `random #${i}`);
    }
  });

  it('parses a mutated aggregate report the same way whatever the chunks it arrives in', { timeout: 120_000 }, async () => {
    const next = random(0xc4a7);
    const reports: Buffer[] = [];
    for (const sample of samples) {
      const extracted = await extractBytes(sample.bytes, sample.name);
      for (const doc of extracted.documents) if (doc.format === 'xml') reports.push(await contentOf(doc));
    }
    expect(reports.length).toBeGreaterThan(40);
    let parsed = 0;
    for (let i = 0; i < 600; i++) {
      const bytes = mutate(reports[Math.floor(next() * reports.length)]!, next);
      const whole = await outcome(async () => {
        const events: unknown[] = [];
        for await (const event of parseAggregateStream(once(bytes), { batchSize: 1 })) events.push(event);
        return events;
      });
      expect(await outcome(() => chunked(bytes, next))).toEqual(whole);
      if ('ok' in (whole as object)) parsed++;
    }
    // Some mutations leave a valid report (a changed value), so both paths are compared.
    expect(parsed).toBeGreaterThan(10);
  });
});
