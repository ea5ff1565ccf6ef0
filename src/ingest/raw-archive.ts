import zlib from 'node:zlib';

/**
 * Compresses a document on its way to the parser, so the raw archive costs no second read.
 * zlib runs on libuv's thread pool, beside the parser rather than in its way.
 */
export class ArchiveWriter {
  private readonly gzip = zlib.createGzip({ level: 1 });
  private readonly chunks: Buffer[] = [];
  private readonly done: Promise<void>;

  constructor() {
    this.gzip.on('data', (chunk: Buffer) => this.chunks.push(chunk));
    this.done = new Promise((resolve, reject) => {
      this.gzip.once('end', resolve);
      this.gzip.once('error', reject);
    });
  }

  async *tee(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      this.gzip.write(chunk);
      yield chunk;
    }
  }

  async finish(): Promise<Buffer> {
    this.gzip.end();
    await this.done;
    return Buffer.concat(this.chunks);
  }

  abort(): void {
    if (!this.gzip.destroyed) this.gzip.destroy();
  }
}

/** The whole document compressed (for documents not streamed through a parser). */
export async function compressDocument(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const writer = new ArchiveWriter();
  try {
    for await (const _chunk of writer.tee(source)) {
      // drained for the archive only
    }
    return await writer.finish();
  } finally {
    writer.abort();
  }
}

export async function collectBytes(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return Buffer.concat(chunks);
}
