import { crc32 } from 'node:zlib';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { ReportError, type ProblemCode } from '../types.js';
import { mib, type Budget } from './bytes.js';

export interface ZipLimits {
  maxEntries: number;
  /** Max decompressed bytes of one entry. */
  maxEntryBytes: number;
  /** Shared cap on everything decompressed in memory. */
  budget: Budget;
}

/** One file taken from an archive, or a problem with one entry (`entry` set) or with the whole archive. */
export type ZipItem =
  | { kind: 'file'; entry: string; bytes: Buffer }
  | { kind: 'problem'; entry: string | null; code: ProblemCode; message: string };

const STORED = 0;
const DEFLATE = 8;

/**
 * Reads the files of a zip archive held in memory, one at a time. Entry names are only
 * labels: nothing is ever written to disk. Declared sizes are not trusted: every entry is
 * counted while it inflates and abandoned as soon as it passes the cap.
 */
export async function* readZip(archive: Buffer, limits: ZipLimits): AsyncGenerator<ZipItem> {
  let zipfile: ZipFile;
  try {
    zipfile = await yauzl.fromBufferPromise(archive, {
      lazyEntries: true,
      // names are decoded below without yauzl's path validation, which rejects `../x`
      decodeStrings: false,
      validateEntrySizes: false,
      strictFileNames: false,
    });
  } catch (error) {
    yield archiveProblem('corrupt_zip', `the zip archive cannot be read (${(error as Error).message}); ask the sender for a new copy`);
    return;
  }
  try {
    if (zipfile.entryCount > limits.maxEntries) {
      yield archiveProblem(
        'too_many_entries',
        `the zip archive lists ${zipfile.entryCount} entries, more than the ${limits.maxEntries} allowed (DMARCWATCH_MAX_ZIP_ENTRIES)`,
      );
      return;
    }
    let files = 0;
    let index = 0;
    try {
      for await (const entry of zipfile.eachEntry()) {
        index += 1;
        const name = entryName(entry) || `(unnamed entry ${index})`;
        // directories, and the resource forks macOS adds beside every file
        if (name.endsWith('/') || name.startsWith('__MACOSX/')) continue;
        files += 1;
        let item: ZipItem;
        try {
          item = await readEntry(zipfile, entry, name, limits);
        } catch (error) {
          if (!(error instanceof ReportError)) throw error;
          yield { kind: 'problem', entry: name, code: error.code, message: `${error.message}; the rest of the archive was not read` };
          return;
        }
        yield item;
      }
    } catch (error) {
      yield archiveProblem('corrupt_zip', `the zip archive is damaged (${(error as Error).message}); ask the sender for a new copy`);
      return;
    }
    if (files === 0) yield archiveProblem('empty', 'the zip archive holds no files');
  } finally {
    zipfile.close();
  }
}

function archiveProblem(code: ProblemCode, message: string): ZipItem {
  return { kind: 'problem', entry: null, code, message };
}

function entryName(entry: Entry): string {
  return yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);
}

async function readEntry(zipfile: ZipFile, entry: Entry, name: string, limits: ZipLimits): Promise<ZipItem> {
  const problem = (code: ProblemCode, message: string): ZipItem => ({ kind: 'problem', entry: name, code, message });
  if (entry.isEncrypted()) return problem('unsupported_compression', 'the zip entry is encrypted; ask the sender for an unencrypted report');
  if (entry.compressionMethod !== STORED && entry.compressionMethod !== DEFLATE) {
    return problem(
      'unsupported_compression',
      `the zip entry uses compression method ${entry.compressionMethod}; only stored and deflate entries are supported`,
    );
  }
  const tooLarge = `the zip entry is larger than ${mib(limits.maxEntryBytes)} once decompressed (DMARCWATCH_MAX_DOCUMENT_SIZE)`;
  // an honest size over the cap is refused without inflating; a false one is caught while reading
  if (entry.uncompressedSize > limits.maxEntryBytes) return problem('too_large', tooLarge);

  const parts: Buffer[] = [];
  let size = 0;
  let crc = 0;
  try {
    const stream = await zipfile.openReadStreamPromise(entry);
    try {
      for await (const chunk of stream) {
        const bytes = chunk as Buffer;
        size += bytes.length;
        if (size > limits.maxEntryBytes) return problem('too_large', tooLarge);
        limits.budget.take(bytes.length);
        crc = crc32(bytes, crc);
        parts.push(bytes);
      }
    } finally {
      stream.destroy();
    }
  } catch (error) {
    if (error instanceof ReportError) throw error;
    return problem('corrupt_zip', `the zip entry is damaged (${(error as Error).message}); ask the sender for a new copy`);
  }
  // some writers leave the checksum at zero; anything else must match
  if (entry.crc32 !== 0 && crc >>> 0 !== entry.crc32 >>> 0) {
    return problem('corrupt_zip', 'the zip entry is damaged (checksum mismatch); ask the sender for a new copy');
  }
  return { kind: 'file', entry: name, bytes: Buffer.concat(parts, size) };
}
