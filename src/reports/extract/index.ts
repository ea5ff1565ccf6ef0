import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  DEFAULT_LIMITS,
  ReportError,
  type ByteSource,
  type DocumentFormat,
  type ExtractLimits,
  type ExtractResult,
  type ProblemCode,
} from '../types.js';
import { asBuffer, Budget, drain, fromBuffer, fromFile, mib, readHead, sha256Hex, withExactSize } from './bytes.js';
import { gunzip } from './gzip.js';
import { declaredKind, isFeedbackReport, normalizeLineEndings, parseMail, type MailPart } from './mail.js';
import { splitMbox } from './mbox.js';
import { describeUnknown, sniff, SNIFF_BYTES } from './sniff.js';
import { readZip } from './zip.js';

export { listImportFiles } from './walk.js';

/** A zip inside a zip is opened; a third level is refused. */
const MAX_ZIP_NESTING = 2;

/** One run of bytes on its way through the wrappers. */
interface Layer {
  /** Path through the wrappers, joined with ' › '. */
  name: string;
  source: ByteSource;
  /** The same bytes when they are already in memory. */
  bytes: Buffer | null;
  /** Documents found here keep their bytes in memory; otherwise they replay `source` (a file, re-gunzipped). */
  inMemory: boolean;
  /** `source` inflates data, so holding it in memory is charged to the budget. */
  decompressed: boolean;
  /** Wrappers opened so far. */
  depth: number;
  zipDepth: number;
  /** Somewhere inside a mail: a mail found here is a forwarded one. */
  inMail: boolean;
  /** Set when these bytes are a part of a mail, as the mail declared it. */
  part: MailPart | null;
}

interface Context {
  limits: ExtractLimits;
  budget: Budget;
  result: ExtractResult;
}

/** Extract from bytes already in memory (a mail from IMAP, an upload, a small file). */
export async function extractBytes(bytes: Uint8Array, name: string, limits: ExtractLimits = DEFAULT_LIMITS): Promise<ExtractResult> {
  const buffer = asBuffer(bytes);
  const ctx = newContext(limits);
  await handle(
    {
      name,
      source: fromBuffer(buffer),
      bytes: buffer,
      inMemory: true,
      decompressed: false,
      depth: 0,
      zipDepth: 0,
      inMail: false,
      part: null,
    },
    ctx,
  );
  return ctx.result;
}

/**
 * Extract from a file on disk. A plain or gzip file is streamed, never held whole in memory,
 * and its documents re-read the file on each `open()`. A zip or a mail is read into memory
 * within its cap; an mbox is split as it streams, one message in memory at a time.
 * Throws only when the path cannot be read.
 */
export async function extractFile(filePath: string, limits: ExtractLimits = DEFAULT_LIMITS): Promise<ExtractResult> {
  const stat = await fs.stat(filePath);
  if (!stat.isFile()) throw new Error(`${filePath} is not a regular file`);
  const ctx = newContext(limits);
  await handle(
    {
      name: path.basename(filePath),
      source: fromFile(filePath, stat.size),
      bytes: null,
      inMemory: false,
      decompressed: false,
      depth: 0,
      zipDepth: 0,
      inMail: false,
      part: null,
    },
    ctx,
  );
  return ctx.result;
}

function newContext(limits: ExtractLimits): Context {
  return { limits, budget: newBudget(limits), result: { documents: [], problems: [], messages: 0 } };
}

function newBudget(limits: ExtractLimits): Budget {
  return new Budget(Math.max(limits.maxMailBytes, limits.maxDocumentBytes));
}

function addProblem(ctx: Context, name: string, code: ProblemCode, message: string): void {
  ctx.result.problems.push({ code, message, name });
}

/** Any refusal inside one layer becomes a problem of that layer; the caller carries on with its siblings. */
async function handle(layer: Layer, ctx: Context): Promise<void> {
  try {
    await dispatch(layer, ctx);
  } catch (error) {
    if (!(error instanceof ReportError)) throw error;
    addProblem(ctx, layer.name, error.code, error.message);
  }
}

async function dispatch(layer: Layer, ctx: Context): Promise<void> {
  const head = layer.bytes ? layer.bytes.subarray(0, SNIFF_BYTES) : await readHead(layer.source, SNIFF_BYTES);
  const kind = sniff(head);
  switch (kind) {
    case 'empty':
      if (layer.part && declaredKind(layer.part) === null) return;
      throw new ReportError(
        'empty',
        layer.decompressed ? 'it decompresses to nothing' : layer.depth === 0 ? 'there are no bytes to read' : 'this part is empty',
      );
    case 'unknown':
      return unrecognised(layer, head);
    case 'xml':
    case 'json':
      return addDocument(layer, kind, ctx);
    case 'gzip':
      enter(layer, ctx, 'gzip data');
      return handle({ ...nested(layer), source: gunzip(layer.source), bytes: null, decompressed: true }, ctx);
    case 'zip':
      return openZip(layer, ctx);
    case 'mail': {
      if (!layer.inMail) ctx.result.messages += 1;
      const raw = await materialize(layer, ctx.limits.maxMailBytes, mailTooLarge(ctx.limits), ctx);
      return openMail(raw, layer, ctx);
    }
    case 'mbox':
      return openMbox(layer, ctx);
  }
}

/** The bytes one wrapper further in, with the source still to be set. */
function nested(layer: Layer): Layer {
  return { ...layer, depth: layer.depth + 1, part: null };
}

function enter(layer: Layer, ctx: Context, what: string): void {
  if (layer.depth >= ctx.limits.maxDepth) {
    throw new ReportError(
      'too_deep',
      `${what} nested more than ${ctx.limits.maxDepth} wrappers deep is not opened (DMARCWATCH_MAX_NESTING)`,
    );
  }
}

function unrecognised(layer: Layer, head: Buffer): void {
  const { what, compression } = describeUnknown(head);
  if (layer.part && !compression) {
    const declared = declaredKind(layer.part);
    // unrelated attachments (logos, signatures, documents) are not reports and not problems
    if (declared === null) return;
    if (declared === 'zip' || declared === 'gzip') {
      throw new ReportError(
        declared === 'zip' ? 'corrupt_zip' : 'corrupt_gzip',
        `the attachment is declared as ${declared} data but its bytes are not (${what}); ask the sender for a new copy`,
      );
    }
  }
  if (compression) throw new ReportError('unsupported_compression', `the content is ${what}; only gzip and zip are supported`);
  throw new ReportError('not_a_report', `not a report: the content is ${what}`);
}

/** The layer's bytes in memory, within `cap`. */
async function materialize(layer: Layer, cap: number, tooLarge: string, ctx: Context): Promise<Buffer> {
  if (layer.bytes) {
    if (layer.bytes.length > cap) throw new ReportError('too_large', tooLarge);
    return layer.bytes;
  }
  const drained = await drain(layer.source, { cap, tooLarge, keep: true, budget: layer.decompressed ? ctx.budget : undefined });
  return drained.bytes!;
}

function mailTooLarge(limits: ExtractLimits): string {
  return `the message is larger than ${mib(limits.maxMailBytes)} (DMARCWATCH_MAX_MAIL_SIZE)`;
}

async function addDocument(layer: Layer, format: DocumentFormat, ctx: Context): Promise<void> {
  const cap = ctx.limits.maxDocumentBytes;
  const tooLarge = `the report is larger than ${mib(cap)} (DMARCWATCH_MAX_DOCUMENT_SIZE)`;
  if (layer.bytes || layer.inMemory) {
    const bytes = await materialize(layer, cap, tooLarge, ctx);
    pushDocument(ctx, layer.name, format, bytes);
    return;
  }
  const drained = await drain(layer.source, { cap, tooLarge, keep: false });
  ctx.result.documents.push({
    name: layer.name,
    format,
    size: drained.size,
    sha256: drained.sha256,
    content: withExactSize(layer.source, drained.size),
  });
}

function pushDocument(ctx: Context, name: string, format: DocumentFormat, bytes: Buffer): void {
  ctx.result.documents.push({ name, format, size: bytes.length, sha256: sha256Hex(bytes), content: fromBuffer(bytes) });
}

async function openZip(layer: Layer, ctx: Context): Promise<void> {
  if (layer.zipDepth >= MAX_ZIP_NESTING) {
    throw new ReportError('too_deep', `a zip archive inside a zip archive inside a zip archive is not opened`);
  }
  enter(layer, ctx, 'a zip archive');
  const cap = Math.max(ctx.limits.maxMailBytes, ctx.limits.maxDocumentBytes);
  const archive = await materialize(layer, cap, `the zip archive is larger than ${mib(cap)}`, ctx);
  const limits = { maxEntries: ctx.limits.maxZipEntries, maxEntryBytes: ctx.limits.maxDocumentBytes, budget: ctx.budget };
  for await (const item of readZip(archive, limits)) {
    const name = item.entry === null ? layer.name : `${layer.name} › ${item.entry}`;
    if (item.kind === 'problem') {
      addProblem(ctx, name, item.code, item.message);
      continue;
    }
    await handle(
      {
        ...nested(layer),
        name,
        source: fromBuffer(item.bytes),
        bytes: item.bytes,
        inMemory: true,
        decompressed: false,
        zipDepth: layer.zipDepth + 1,
      },
      ctx,
    );
  }
}

/**
 * A mail yields the reports in its parts. An ARF message, or a top-level mail with no report
 * part at all, is itself one `arf` document (the failure parser tells failure reports from
 * feedback loops and ordinary mail). A mail whose parts were refused reports those problems
 * instead. A forwarded mail without reports adds nothing: the mail around it is the candidate.
 */
async function openMail(raw: Buffer, layer: Layer, ctx: Context): Promise<void> {
  enter(layer, ctx, 'a mail message');
  const message = normalizeLineEndings(raw);
  const mail = await parseMail(message);
  if (isFeedbackReport(mail)) {
    pushDocument(ctx, layer.name, 'arf', message);
    return;
  }
  const decoded = mail.parts.reduce((total, part) => total + part.content.length, 0);
  if (decoded > ctx.limits.maxMailBytes) {
    throw new ReportError('too_large', `the attachments of the message are larger than ${mib(ctx.limits.maxMailBytes)} once decoded`);
  }
  const before = ctx.result.documents.length + ctx.result.problems.length;
  for (const part of mail.parts) {
    await handle(
      {
        ...nested(layer),
        name: `${layer.name} › ${part.label}`,
        source: fromBuffer(part.content),
        bytes: part.content,
        inMemory: true,
        decompressed: false,
        inMail: true,
        part,
      },
      ctx,
    );
  }
  const found = ctx.result.documents.length + ctx.result.problems.length > before;
  if (!found && !layer.inMail) pushDocument(ctx, layer.name, 'arf', message);
}

async function openMbox(layer: Layer, ctx: Context): Promise<void> {
  for await (const message of splitMbox(layer.source.open(), ctx.limits.maxMailBytes)) {
    if (!layer.inMail) ctx.result.messages += 1;
    const name = `${layer.name} › message ${message.index}`;
    if (message.bytes === null) {
      addProblem(ctx, name, 'too_large', mailTooLarge(ctx.limits));
      continue;
    }
    const messageLayer: Layer = {
      ...layer,
      name,
      source: fromBuffer(message.bytes),
      bytes: message.bytes,
      inMemory: true,
      decompressed: false,
      part: null,
    };
    // each message of an mbox is a unit of its own, with its own allowance of decompressed bytes
    const messageCtx: Context = { ...ctx, budget: newBudget(ctx.limits) };
    try {
      await openMail(message.bytes, messageLayer, messageCtx);
    } catch (error) {
      if (!(error instanceof ReportError)) throw error;
      addProblem(ctx, name, error.code, error.message);
    }
  }
}
