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

/**
 * Imports files, directories, mbox files and maildirs through extract → parse → store. Files are
 * ingested `concurrency` at a time (the parser works while the database writes); outcomes are
 * still those of a run in file order, because a document identical to an earlier one waits for it.
 */
export async function importPaths(
  ctx: FileIngestContext,
  paths: string[],
  onProgress?: (progress: ImportProgress) => void,
  options: { concurrency?: number } = {},
): Promise<IngestSummary> {
  const summary = emptySummary();
  const files = await collectFiles(paths, summary.unreadable);
  const inFlight = new Map<string, Promise<unknown>>();
  // Files are extracted one at a time, in file order, so a document always registers before any
  // identical one in a later file; storing then runs concurrently.
  let extraction: Promise<unknown> = Promise.resolve();
  let next = 0;
  let done = 0;
  const ingestFile = async (file: string) => {
    const fileCtx: IngestContext = { ...ctx, source: `file:${file}` };
    const step = extraction.then(async () => {
      const extracted = await extractFile(file, ctx.limits);
      const earlier = extracted.documents.map((d) => inFlight.get(d.sha256)).filter((p) => p !== undefined);
      const stored = (async () => {
        await Promise.allSettled(earlier);
        return ingestExtracted(fileCtx, extracted);
      })();
      for (const d of extracted.documents) inFlight.set(d.sha256, stored);
      return { extracted, stored };
    });
    extraction = step.catch(() => undefined);
    let result;
    try {
      result = await step;
    } catch (error) {
      summary.unreadable.push({ path: file, reason: error instanceof Error ? error.message : String(error) });
      return;
    }
    const { extracted, stored } = result;
    summary.files += 1;
    summary.messages += extracted.messages;
    for (const outcome of await stored) addOutcome(summary, outcome);
    for (const d of extracted.documents) if (inFlight.get(d.sha256) === stored) inFlight.delete(d.sha256);
  };
  const worker = async () => {
    while (next < files.length) {
      const file = files[next++]!;
      onProgress?.({ filesDone: done, filesTotal: files.length, current: file });
      await ingestFile(file);
      done += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 2) }, worker));
  onProgress?.({ filesDone: files.length, filesTotal: files.length, current: '' });
  return summary;
}
