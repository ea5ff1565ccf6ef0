import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { drain, fromBuffer, readHead } from '../../../src/reports/extract/bytes.js';
import { gunzip } from '../../../src/reports/extract/gzip.js';
import { ReportError, type ByteSource } from '../../../src/reports/types.js';
import { collect } from './fixtures.js';

/** The same bytes delivered `size` bytes at a time, to cross every header and trailer boundary. */
function chunked(bytes: Buffer, size: number): ByteSource {
  return {
    async *open() {
      for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
    },
  };
}

const sources = (bytes: Buffer): [string, ByteSource][] => [
  ['one chunk', fromBuffer(bytes)],
  ['byte by byte', chunked(bytes, 1)],
  ['7-byte chunks', chunked(bytes, 7)],
];

async function inflate(source: ByteSource): Promise<string> {
  return (await collect(gunzip(source))).toString();
}

async function failure(source: ByteSource): Promise<ReportError> {
  try {
    await collect(gunzip(source));
  } catch (error) {
    if (error instanceof ReportError) return error;
    throw error;
  }
  throw new Error('expected the gzip data to be refused');
}

const abc = gzipSync('abc');
const def = gzipSync('def');

describe('gunzip', () => {
  it.each(sources(Buffer.concat([abc, def])))('reads every member of a multi-member stream (%s)', async (_, source) => {
    expect(await inflate(source)).toBe('abcdef');
  });

  it.each(sources(Buffer.concat([abc, def, Buffer.from('\r\n')])))('ignores a trailing CRLF (%s)', async (_, source) => {
    expect(await inflate(source)).toBe('abcdef');
  });

  it.each([
    ['zero padding', Buffer.alloc(512)],
    ['text', Buffer.from('--boundary--\r\n')],
    ['a gzip magic with a bad method', Buffer.from([0x1f, 0x8b, 0xff, 0xff, 0, 0])],
    ['a lone 0x1f', Buffer.from([0x1f])],
  ])('ignores trailing garbage: %s', async (_, garbage) => {
    for (const [, source] of sources(Buffer.concat([abc, garbage]))) expect(await inflate(source)).toBe('abc');
  });

  it('inflates gzip inside gzip when asked twice', async () => {
    expect(await inflate(gunzip(fromBuffer(gzipSync(gzipSync('twice')))))).toBe('twice');
  });

  it('skips the optional header fields (extra, name, comment, header CRC)', async () => {
    const body = gzipSync('fields').subarray(10);
    const header = Buffer.concat([
      Buffer.from([0x1f, 0x8b, 0x08, 0x02 | 0x04 | 0x08 | 0x10, 0, 0, 0, 0, 0, 0xff]),
      Buffer.from([4, 0, 1, 2, 3, 4]),
      Buffer.from('report.xml\0comment\0', 'latin1'),
      Buffer.from([0xaa, 0xbb]),
    ]);
    for (const [, source] of sources(Buffer.concat([header, body]))) expect(await inflate(source)).toBe('fields');
  });

  it.each([
    ['inside the deflate data', abc.subarray(0, abc.length - 10)],
    ['inside the trailer', abc.subarray(0, abc.length - 3)],
    ['inside the header', abc.subarray(0, 6)],
  ])('refuses a stream cut off %s', async (_, bytes) => {
    for (const [, source] of sources(bytes)) expect((await failure(source)).code).toBe('corrupt_gzip');
  });

  it('refuses a checksum mismatch and damaged deflate data', async () => {
    const badCrc = Buffer.from(abc);
    badCrc[badCrc.length - 8]! ^= 0xff;
    expect((await failure(fromBuffer(badCrc))).message).toContain('checksum');
    const badData = Buffer.from(gzipSync('x'.repeat(1000) + 'y'.repeat(1000)));
    badData[12] = 0xff;
    badData[13] = 0xff;
    expect((await failure(fromBuffer(badData))).code).toBe('corrupt_gzip');
  });

  it('refuses a second member that starts but is cut off', async () => {
    expect((await failure(fromBuffer(Buffer.concat([abc, def.subarray(0, 12)])))).code).toBe('corrupt_gzip');
  });

  it('can be abandoned after the first bytes and replayed', async () => {
    const big = gzipSync(Buffer.alloc(10 * 1024 * 1024, 'a'));
    const source = gunzip(fromBuffer(big));
    expect((await readHead(source, 16)).toString()).toBe('a'.repeat(16));
    const whole = await drain(source, { cap: Infinity, keep: false, tooLarge: '' });
    expect(whole.size).toBe(10 * 1024 * 1024);
  });

  it('stops inflating once the reader stops: a cap is reached without inflating the rest', async () => {
    const big = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    await expect(drain(gunzip(fromBuffer(big)), { cap: 1024 * 1024, keep: false, tooLarge: 'too big' })).rejects.toMatchObject({
      code: 'too_large',
    });
  });
});
