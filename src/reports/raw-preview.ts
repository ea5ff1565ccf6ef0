import zlib from 'node:zlib';

/** Most bytes of an original document shown on a page; the download has all of it. */
export const RAW_PREVIEW_BYTES = 1024 * 1024;

export interface RawPreview {
  text: string;
  /** Whether the text stops before the end of the document. */
  truncated: boolean;
}

/**
 * The beginning of an archived (gzip-compressed) document as text, at most `maxBytes` of it:
 * decompressed as a stream and stopped there, so a large report costs no more than the preview.
 * Bytes that are not UTF-8 show as U+FFFD; the page escapes the text like any other.
 */
export function rawPreview(contentGzip: Uint8Array, size: number, maxBytes = RAW_PREVIEW_BYTES): Promise<RawPreview> {
  return new Promise((resolve, reject) => {
    const gunzip = zlib.createGunzip();
    const chunks: Buffer[] = [];
    let length = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      const bytes = Buffer.concat(chunks).subarray(0, maxBytes);
      const truncated = size > maxBytes || length > maxBytes;
      // Cut at a character boundary rather than show half a character at the end.
      const text = new TextDecoder('utf-8', { fatal: false }).decode(truncated ? trimPartialCharacter(bytes) : bytes);
      resolve({ text, truncated });
    };
    gunzip.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= maxBytes) {
        finish();
        gunzip.destroy();
      }
    });
    gunzip.on('end', finish);
    gunzip.on('error', (error) => {
      if (!done) reject(error);
    });
    gunzip.end(contentGzip);
  });
}

/** The bytes without an incomplete UTF-8 sequence at their end. */
function trimPartialCharacter(bytes: Buffer): Buffer {
  let end = bytes.length;
  let back = 0;
  while (end - back - 1 >= 0 && back < 4 && (bytes[end - back - 1]! & 0xc0) === 0x80) back += 1;
  const lead = bytes[end - back - 1];
  if (lead === undefined || lead < 0xc0) return bytes;
  const needed = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
  if (back + 1 < needed) end = end - back - 1;
  return bytes.subarray(0, end);
}
