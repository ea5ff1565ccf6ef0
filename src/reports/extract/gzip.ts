import { createInflateRaw, crc32, type InflateRaw } from 'node:zlib';
import { ReportError, type ByteSource } from '../types.js';
import { ChunkReader } from './bytes.js';

/*
 * Gzip is unwrapped here rather than with zlib.createGunzip because Node's gunzip fails
 * ("incorrect header check") on any non-zero bytes after the last member and then drops the
 * output of the chunk that held them; some senders (Mimecast) append a CRLF. Members are
 * parsed by hand (RFC 1952) and each deflate body goes through inflateRaw, whose
 * `bytesWritten` tells exactly where the body ended. Bytes after a complete member that do
 * not start another member are ignored.
 */

const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;
const RESERVED = 0xe0;
const MAX_HEADER_FIELD = 64 * 1024;

function corrupt(detail: string): ReportError {
  return new ReportError('corrupt_gzip', `the gzip data is damaged (${detail}); ask the sender for a new copy`);
}

/** The decompressed bytes of a gzip source: multi-member, CRC-checked, trailing garbage ignored. */
export function gunzip(source: ByteSource): ByteSource {
  return { open: () => gunzipChunks(source) };
}

async function* gunzipChunks(source: ByteSource): AsyncGenerator<Uint8Array> {
  const reader = new ChunkReader(source.open()[Symbol.asyncIterator]());
  try {
    for (let member = 0; ; member++) {
      if (!(await readMemberHeader(reader, member === 0))) return;
      let crc = 0;
      let size = 0;
      for await (const chunk of inflateMember(reader)) {
        crc = crc32(chunk, crc);
        size += chunk.length;
        yield chunk;
      }
      const trailer = await reader.read(8);
      if (trailer.length < 8) throw corrupt('the file is cut off before the end of the compressed data');
      if (trailer.readUInt32LE(0) !== crc >>> 0) throw corrupt('checksum mismatch');
      if (trailer.readUInt32LE(4) !== size % 2 ** 32) throw corrupt('length mismatch');
    }
  } finally {
    await reader.close();
  }
}

/**
 * Consumes one member header. Returns false when the input holds no further member: at its
 * end, or when the bytes after a complete member are not a gzip header (trailing garbage).
 */
async function readMemberHeader(reader: ChunkReader, first: boolean): Promise<boolean> {
  const fixed = await reader.read(10);
  const looksLikeMember = fixed.length >= 3 && fixed[0] === 0x1f && fixed[1] === 0x8b && fixed[2] === 8;
  if (!looksLikeMember || (fixed.length === 10 && (fixed[3]! & RESERVED) !== 0)) {
    if (first) throw corrupt(fixed[0] === 0x1f && fixed[1] === 0x8b ? 'unknown compression method' : 'no gzip header');
    return false;
  }
  if (fixed.length < 10) throw corrupt('the file is cut off inside a header');
  const flags = fixed[3]!;
  if (flags & FEXTRA) {
    const lengthBytes = await reader.read(2);
    if (lengthBytes.length < 2) throw corrupt('the file is cut off inside a header');
    const extra = await reader.read(lengthBytes.readUInt16LE(0));
    if (extra.length < lengthBytes.readUInt16LE(0)) throw corrupt('the file is cut off inside a header');
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (!(flags & flag)) continue;
    const skipped = await reader.skipPastZero(MAX_HEADER_FIELD);
    if (skipped < 0) throw corrupt('the file is cut off inside a header');
    if (skipped > MAX_HEADER_FIELD) throw corrupt('oversized header field');
  }
  if (flags & FHCRC && (await reader.read(2)).length < 2) throw corrupt('the file is cut off inside a header');
  return true;
}

/**
 * Inflates one deflate body from the reader and pushes back the bytes that follow it.
 * Input is fed concurrently with reading the output so that both sides stay backpressured.
 */
async function* inflateMember(reader: ChunkReader): AsyncGenerator<Buffer> {
  const inflater = createInflateRaw();
  // chunks handed to the inflater that it may not have consumed entirely
  const fed: Buffer[] = [];
  let fedStart = 0;
  let stopped = false;
  let feedError: unknown = null;

  const feeding = (async () => {
    try {
      while (!stopped) {
        const chunk = await reader.next();
        if (chunk === null) {
          if (!stopped) inflater.end();
          return;
        }
        fed.push(chunk);
        if (stopped) return;
        while (fed.length > 0 && fedStart + fed[0]!.length <= inflater.bytesWritten) fedStart += fed.shift()!.length;
        if (!inflater.write(chunk)) await drained(inflater);
      }
    } catch (error) {
      feedError = error;
      inflater.destroy(error as Error);
    }
  })();

  let consumed: number;
  try {
    for await (const chunk of inflater) yield chunk as Buffer;
  } catch (error) {
    if (feedError !== null) throw feedError;
    const message = (error as Error).message;
    throw corrupt(message === 'unexpected end of file' ? 'the file is cut off before the end of the compressed data' : message);
  } finally {
    stopped = true;
    consumed = inflater.bytesWritten;
    inflater.destroy();
    await feeding;
  }
  if (feedError !== null) throw feedError;
  reader.unshift(Buffer.concat(fed).subarray(consumed - fedStart));
}

function drained(stream: InflateRaw): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}
