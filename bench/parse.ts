/**
 * Aggregate parser throughput: ~50 synthetic reports of 2,000 records each, generated in memory
 * up front, then fed to parseAggregateStream in 64 KiB chunks (as they would come out of gunzip).
 * Only the parse is timed; a short warm-up run is not counted.
 */
import { parseAggregateStream } from '../src/reports/parse/aggregate.js';
import { generateAggregateXml } from './synthetic.js';

const REPORTS = 50;
const RECORDS_PER_REPORT = 2_000;
const WARM_UP_REPORTS = 10;
const CHUNK = 64 * 1024;

export interface ParseBenchResult {
  recordsPerSecond: number;
  mbPerSecond: number;
  peakRssMb: number;
}

async function* chunks(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < bytes.length; off += CHUNK) yield bytes.subarray(off, off + CHUNK);
}

async function parseOne(bytes: Uint8Array, onBatch: () => void): Promise<number> {
  let records = 0;
  for await (const event of parseAggregateStream(chunks(bytes))) {
    if (event.type === 'records') {
      records += event.records.length;
      onBatch();
    }
  }
  return records;
}

export async function benchParse(): Promise<ParseBenchResult> {
  const encoder = new TextEncoder();
  const reports: Uint8Array[] = [];
  for (let i = 0; i < REPORTS; i++) {
    const xml = generateAggregateXml({ records: RECORDS_PER_REPORT, seed: i + 1, reportId: `bench-${i + 1}` });
    reports.push(encoder.encode(xml));
  }

  let peakRss = process.memoryUsage.rss();
  const sample = () => {
    const rss = process.memoryUsage.rss();
    if (rss > peakRss) peakRss = rss;
  };

  for (let i = 0; i < WARM_UP_REPORTS; i++) await parseOne(reports[i % reports.length]!, sample);

  let records = 0;
  let bytes = 0;
  const started = process.hrtime.bigint();
  for (const report of reports) {
    records += await parseOne(report, sample);
    bytes += report.length;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  sample();

  return {
    recordsPerSecond: Math.round(records / seconds),
    mbPerSecond: Math.round((bytes / 1024 / 1024 / seconds) * 10) / 10,
    peakRssMb: Math.round(peakRss / 1024 / 1024),
  };
}
