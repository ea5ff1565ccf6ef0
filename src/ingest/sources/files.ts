import fs from 'node:fs/promises';
import path from 'node:path';
import { extractFile, listImportFiles } from '../../reports/extract/index.js';
import { ingestExtracted } from '../ingest-extracted.js';
import { emptySummary, addOutcome, type IngestSummary } from '../summary.js';
import type { IngestContext } from '../types.js';

export type FileIngestContext = Omit<IngestContext, 'source'>;

export interface ImportProgress {
  filesDone: number;
  filesTotal: number;
  current: string;
}

/** Every file to import under the given paths (files as given; directories and maildirs walked). */
async function collectFiles(paths: string[], unreadable: { path: string; reason: string }[]): Promise<string[]> {
  const files: string[] = [];
  for (const input of paths) {
    const absolute = path.resolve(input);
    try {
      const stat = await fs.stat(absolute);
      if (stat.isDirectory()) {
        for await (const file of listImportFiles(absolute)) files.push(file);
      } else {
        files.push(absolute);
      }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : String(error);
      unreadable.push({ path: input, reason });
    }
  }
  return files;
}

/** Imports files, directories, mbox files and maildirs through extract → parse → store. */
export async function importPaths(
  ctx: FileIngestContext,
  paths: string[],
  onProgress?: (progress: ImportProgress) => void,
): Promise<IngestSummary> {
  const summary = emptySummary();
  const files = await collectFiles(paths, summary.unreadable);
  for (const [index, file] of files.entries()) {
    onProgress?.({ filesDone: index, filesTotal: files.length, current: file });
    const fileCtx: IngestContext = { ...ctx, source: `file:${file}` };
    let extracted;
    try {
      extracted = await extractFile(file, ctx.limits);
    } catch (error) {
      summary.unreadable.push({ path: file, reason: error instanceof Error ? error.message : String(error) });
      continue;
    }
    summary.files += 1;
    summary.messages += extracted.messages;
    for (const outcome of await ingestExtracted(fileCtx, extracted)) addOutcome(summary, outcome);
  }
  onProgress?.({ filesDone: files.length, filesTotal: files.length, current: '' });
  return summary;
}
