import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createDeflateRaw, crc32, gzipSync } from 'node:zlib';
import { afterAll } from 'vitest';
import type { ByteSource, ExtractResult } from '../../../src/reports/types.js';

export const SAMPLE_XML = `<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>reporter.example</org_name>
    <email>noreply-dmarc@reporter.example</email>
    <report_id>1234567890</report_id>
    <date_range><begin>1728777600</begin><end>1728863999</end></date_range>
  </report_metadata>
  <policy_published><domain>example.com</domain><p>none</p></policy_published>
  <record>
    <row><source_ip>192.0.2.1</source_ip><count>2</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
    <identifiers><header_from>example.com</header_from></identifiers>
    <auth_results><spf><domain>example.com</domain><result>pass</result></spf></auth_results>
  </record>
</feedback>
`;

export const SAMPLE_JSON = JSON.stringify({
  'organization-name': 'Reporter',
  'date-range': { 'start-datetime': '2024-10-13T00:00:00Z', 'end-datetime': '2024-10-13T23:59:59Z' },
  'contact-info': 'tlsrpt@reporter.example',
  'report-id': 'r-1',
  policies: [],
});

export const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a5d8b9a90000000049454e44ae426082', 'hex');

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export const gz = (bytes: Uint8Array | string): Buffer => gzipSync(bytes);

export async function collect(source: ByteSource): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of source.open()) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/** A short summary of an extraction, for readable assertions. */
export function summary(result: ExtractResult) {
  return {
    documents: result.documents.map((d) => `${d.format} ${d.name}`),
    problems: result.problems.map((p) => `${p.code} ${p.name}`),
    messages: result.messages,
  };
}

/** A temporary directory removed after the test file. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dmarcwatch-extract-'));
  afterAll(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A raw deflate stream of `prefix` followed by zero bytes up to `total` bytes, built without
 * holding them: about total/1000 bytes. The prefix makes the start look like a report.
 */
export async function deflatedZeros(total: number, prefix = '<?xml version="1.0"?><feedback>'): Promise<{ bytes: Buffer; crc: number; size: number }> {
  const deflater = createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  deflater.on('data', (chunk: Buffer) => out.push(chunk));
  deflater.write(prefix);
  let crc = crc32(prefix);
  const chunk = Buffer.alloc(1 << 20);
  for (let written = Buffer.byteLength(prefix); written < total; written += chunk.length) {
    const piece = chunk.subarray(0, Math.min(chunk.length, total - written));
    crc = crc32(piece, crc);
    if (!deflater.write(piece)) await once(deflater, 'drain');
  }
  deflater.end();
  await once(deflater, 'end');
  return { bytes: Buffer.concat(out), crc, size: total };
}

/** A single-member gzip file around a raw deflate stream. */
export function gzipAround(deflated: { bytes: Buffer; crc: number; size: number }): Buffer {
  const header = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x02, 0xff]);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(deflated.crc >>> 0, 0);
  trailer.writeUInt32LE(deflated.size % 2 ** 32, 4);
  return Buffer.concat([header, deflated.bytes, trailer]);
}

/** Samples the peak resident set size while `work` runs; returns its growth in bytes. */
export async function peakRssGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growth: number; ms: number }> {
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  const began = Date.now();
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, growth: peak - start, ms: Date.now() - began };
  } finally {
    clearInterval(timer);
  }
}
