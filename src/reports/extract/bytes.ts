import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { ReportError, type ByteSource } from '../types.js';

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A source that yields the given bytes as one chunk. */
export function fromBuffer(bytes: Uint8Array): ByteSource {
  const buffer = asBuffer(bytes);
  return {
    async *open() {
      if (buffer.length > 0) yield buffer;
    },
  };
}

/** The first `length` bytes of a file, read again on every `open()`. */
export function fromFile(path: string, length: number): ByteSource {
  return {
    async *open() {
      if (length === 0) return;
      const stream = createReadStream(path, { start: 0, end: length - 1 });
      try {
        for await (const chunk of stream) yield chunk as Buffer;
      } finally {
        stream.destroy();
      }
    },
  };
}

/**
 * Replays `source` and fails if it no longer yields exactly `size` bytes (the file changed
 * since it was measured), so a document never grows past the caps it was checked against.
 */
export function withExactSize(source: ByteSource, size: number): ByteSource {
  return {
    async *open() {
      let seen = 0;
      for await (const chunk of source.open()) {
        seen += chunk.length;
        if (seen > size) throw new Error(`the content changed since it was read: more than ${size} bytes`);
        yield chunk;
      }
      if (seen !== size) throw new Error(`the content changed since it was read: ${seen} bytes instead of ${size}`);
    },
  };
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function mib(bytes: number): string {
  const value = bytes / (1024 * 1024);
  return `${Number.isInteger(value) ? value : value.toFixed(1)} MiB`;
}

/**
 * How many decompressed bytes one extraction unit (a file, an uploaded or fetched message,
 * one message of an mbox) may hold in memory at once, across all its zip entries and gzip layers.
 */
export class Budget {
  private used = 0;
  constructor(readonly total: number) {}

  take(bytes: number): void {
    this.used += bytes;
    if (this.used > this.total) {
      throw new ReportError(
        'too_large',
        `together the decompressed contents exceed ${mib(this.total)}; split the archive or raise DMARCWATCH_MAX_MAIL_SIZE`,
      );
    }
  }
}

export interface Drained {
  size: number;
  sha256: string;
  /** The bytes, when asked to keep them. */
  bytes: Buffer | null;
}

export interface DrainOptions {
  /** Stop with `too_large` as soon as more than this many bytes arrive. */
  cap: number;
  tooLarge: string;
  /** Keep the bytes in memory (charged to the budget when one is given). */
  keep: boolean;
  budget?: Budget | undefined;
}

/** Reads a source once: counts, hashes and optionally keeps it, never past the cap. */
export async function drain(source: ByteSource, options: DrainOptions): Promise<Drained> {
  const hash = createHash('sha256');
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of source.open()) {
    size += chunk.length;
    if (size > options.cap) throw new ReportError('too_large', options.tooLarge);
    if (options.keep) {
      options.budget?.take(chunk.length);
      parts.push(asBuffer(chunk));
    }
    hash.update(chunk);
  }
  return { size, sha256: hash.digest('hex'), bytes: options.keep ? Buffer.concat(parts, size) : null };
}

/** The first `length` bytes of a source (fewer when it is shorter); stops reading there. */
export async function readHead(source: ByteSource, length: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of source.open()) {
    parts.push(asBuffer(chunk));
    size += chunk.length;
    if (size >= length) break;
  }
  return Buffer.concat(parts, size).subarray(0, length);
}

/** Pull-based reader over a chunk iterator, with push-back of unread bytes. */
export class ChunkReader {
  private readonly pushedBack: Buffer[] = [];

  constructor(private readonly iterator: AsyncIterator<Uint8Array>) {}

  async next(): Promise<Buffer | null> {
    const back = this.pushedBack.pop();
    if (back) return back;
    for (;;) {
      const result = await this.iterator.next();
      if (result.done) return null;
      if (result.value.length > 0) return asBuffer(result.value);
    }
  }

  unshift(bytes: Buffer): void {
    if (bytes.length > 0) this.pushedBack.push(bytes);
  }

  /** Up to `length` bytes; fewer only at the end of the input. */
  async read(length: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let size = 0;
    while (size < length) {
      const chunk = await this.next();
      if (chunk === null) break;
      const wanted = length - size;
      if (chunk.length > wanted) {
        this.unshift(chunk.subarray(wanted));
        parts.push(chunk.subarray(0, wanted));
        size += wanted;
      } else {
        parts.push(chunk);
        size += chunk.length;
      }
    }
    return Buffer.concat(parts, size);
  }

  /** Skips up to and including the next zero byte; returns how many bytes were skipped, or -1 at the end of the input. */
  async skipPastZero(limit: number): Promise<number> {
    let skipped = 0;
    while (skipped <= limit) {
      const chunk = await this.next();
      if (chunk === null) return -1;
      const zero = chunk.indexOf(0);
      if (zero >= 0) {
        this.unshift(chunk.subarray(zero + 1));
        return skipped + zero + 1;
      }
      skipped += chunk.length;
    }
    return skipped;
  }

  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}
