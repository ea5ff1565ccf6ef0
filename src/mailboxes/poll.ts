import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { ingestExtracted, mailVerdict } from '../ingest/ingest-extracted.js';
import { recordProblem } from '../ingest/documents.js';
import type { DocumentOutcome, IngestContext } from '../ingest/types.js';
import type { Keyring } from '../lib/crypto/index.js';
import type { Logger } from '../lib/logger.js';
import { extractBytes } from '../reports/extract/index.js';
import type { ExtractLimits } from '../reports/types.js';
import { mailboxAuth } from './credentials.js';
import { ImapSession } from './imap/index.js';
import { MailConnectionError } from './mail-server.js';
import { mailServerSettings, type MailboxRow } from './manage.js';
import { OAuthError } from './oauth2.js';
import { Pop3Session } from './pop3/index.js';
import { renewClaim } from './claim.js';

export interface PollDeps {
  db: Kysely<DB>;
  keyring: Keyring;
  logger: Logger;
  limits: ExtractLimits;
  keepFailureHeaders: boolean;
  holder: string;
  claimTtlMs: number;
  batchSize?: number;
  fetchImpl?: typeof fetch;
  connectTimeoutMs?: number;
  socketTimeoutMs?: number;
}

export interface PollResult {
  outcome: 'ok' | 'error' | 'abandoned';
  messages: number;
  processed: number;
  invalid: number;
  documents: number;
  reportsStored: number;
  refused: number;
  errorCode?: string;
  error?: string;
}

const MAX_BACKOFF_SECONDS = 6 * 3600;
const MESSAGE_CONCURRENCY = 6;

class Tally {
  messages = 0;
  processed = 0;
  invalid = 0;
  documents = 0;
  reportsStored = 0;
  refused = 0;

  add(verdict: 'processed' | 'invalid', outcomes: DocumentOutcome[]): void {
    this.messages += 1;
    this[verdict] += 1;
    this.documents += outcomes.length;
    this.reportsStored += outcomes.filter((o) => o.outcome === 'stored').length;
    this.refused += outcomes.filter((o) => o.outcome === 'refused' || o.outcome === 'not_a_report').length;
  }
}

/** Runs one fetched mail through the pipeline; a mail over the size cap is logged without its bytes. */
async function ingestMail(
  deps: PollDeps,
  row: MailboxRow,
  source: string,
  label: string,
  raw: Buffer | null,
): Promise<{ verdict: 'processed' | 'invalid'; outcomes: DocumentOutcome[] }> {
  const ctx: IngestContext = {
    db: deps.db,
    orgId: row.org_id,
    source,
    limits: deps.limits,
    keepFailureHeaders: deps.keepFailureHeaders,
    logger: deps.logger,
  };
  if (raw === null) {
    const outcome = await recordProblem(ctx, {
      code: 'too_large',
      name: label,
      message: `the message is larger than the ${Math.round(deps.limits.maxMailBytes / 1048576)} MiB mail limit (DMARCWATCH_MAX_MAIL_SIZE); it was not downloaded`,
    });
    return { verdict: 'invalid', outcomes: [outcome] };
  }
  const outcomes = await ingestExtracted(ctx, await extractBytes(raw, label, deps.limits));
  return { verdict: mailVerdict(outcomes), outcomes };
}

async function pollImap(deps: PollDeps, row: MailboxRow, signal: AbortSignal, tally: Tally): Promise<'ok' | 'abandoned'> {
  const auth = await mailboxAuth(deps.db, deps.keyring, row, { fetchImpl: deps.fetchImpl });
  const session = await ImapSession.open(mailServerSettings(row, deps), auth);
  try {
    const folder = await session.selectFolder(row.folder);
    const sameFolder = row.uid_validity !== null && row.uid_validity === folder.uidValidity && row.last_uid !== null;
    if (row.uid_validity !== null && row.uid_validity !== folder.uidValidity) {
      deps.logger.warn('mailbox UIDVALIDITY changed; reading the whole folder again (known reports are skipped)', {
        mailbox: row.id,
        before: row.uid_validity,
        now: folder.uidValidity,
      });
    }
    const cursor = sameFolder ? { uidValidity: folder.uidValidity, lastUid: row.last_uid! } : null;
    for await (const batch of session.fetchNew(cursor, { batchSize: deps.batchSize ?? 200, maxBytes: deps.limits.maxMailBytes })) {
      const processed: number[] = [];
      const invalid: number[] = [];
      // Messages are independent: a few at a time keep the database busy while mail is unwrapped.
      let next = 0;
      const worker = async () => {
        while (next < batch.length) {
          const message = batch[next++]!;
          const source = `imap:${row.id}:${folder.uidValidity}:${message.uid}`;
          const { verdict, outcomes } = await ingestMail(deps, row, source, `${row.folder} uid ${message.uid}`, message.raw);
          (verdict === 'processed' ? processed : invalid).push(message.uid);
          tally.add(verdict, outcomes);
        }
      };
      await Promise.all(Array.from({ length: MESSAGE_CONCURRENCY }, worker));
      // Only now, with the batch's data committed, is the mail touched.
      await settleImapBatch(session, row, processed, invalid);
      const lastUid = Math.max(...batch.map((m) => m.uid));
      await deps.db
        .updateTable('mailbox')
        .set({ uid_validity: folder.uidValidity, last_uid: lastUid })
        .where('id', '=', row.id)
        .execute();
      await renewClaim(deps.db, row.id, deps.holder, deps.claimTtlMs);
      if (signal.aborted) return 'abandoned';
    }
    if (!sameFolder) {
      await deps.db
        .updateTable('mailbox')
        .set({ uid_validity: folder.uidValidity, last_uid: sql<number>`coalesce(last_uid, 0)` })
        .where('id', '=', row.id)
        .execute();
    }
    return 'ok';
  } finally {
    await session.close();
  }
}

async function settleImapBatch(session: ImapSession, row: MailboxRow, processed: number[], invalid: number[]): Promise<void> {
  if (invalid.length) await session.moveTo(invalid, row.invalid_folder);
  if (!processed.length) return;
  switch (row.after_processing) {
    case 'move':
      await session.moveTo(processed, row.processed_folder);
      break;
    case 'seen':
      await session.markSeen(processed);
      break;
    case 'delete':
      await session.deleteMessages(processed);
      break;
    case 'none':
      break;
  }
}

async function pollPop3(deps: PollDeps, row: MailboxRow, signal: AbortSignal, tally: Tally): Promise<'ok' | 'abandoned'> {
  const auth = await mailboxAuth(deps.db, deps.keyring, row, { fetchImpl: deps.fetchImpl });
  const session = await Pop3Session.open(mailServerSettings(row, deps), auth);
  let committed = false;
  try {
    const listing = await session.list();
    const seenRows = await deps.db.selectFrom('pop3_seen').select('uidl').where('mailbox_id', '=', row.id).execute();
    const seen = new Set(seenRows.map((r) => r.uidl));
    let abandoned = false;
    for (const entry of listing) {
      if (seen.has(entry.uidl)) continue;
      if (signal.aborted) {
        abandoned = true;
        break;
      }
      const raw = await session.retrieve(entry.number, deps.limits.maxMailBytes);
      const { verdict, outcomes } = await ingestMail(deps, row, `pop3:${row.id}:${entry.uidl}`, `message ${entry.uidl}`, raw);
      tally.add(verdict, outcomes);
      await deps.db
        .insertInto('pop3_seen')
        .values({ mailbox_id: row.id, uidl: entry.uidl, org_id: row.org_id, outcome: verdict })
        .onConflict((oc) => oc.doNothing())
        .execute();
      // Marked for deletion only; the server deletes at QUIT, after everything above is committed.
      if (verdict === 'processed' && row.after_processing === 'delete') await session.delete(entry.number);
      await renewClaim(deps.db, row.id, deps.holder, deps.claimTtlMs);
    }
    await session.quit();
    committed = true;
    if (!abandoned && row.after_processing !== 'delete') {
      // Forget UIDLs no longer on the server so the table stays as small as the mailbox.
      const present = listing.map((e) => e.uidl);
      let forget = deps.db.deleteFrom('pop3_seen').where('mailbox_id', '=', row.id);
      if (present.length) forget = forget.where('uidl', 'not in', present);
      await forget.execute();
    }
    return abandoned ? 'abandoned' : 'ok';
  } finally {
    if (!committed) session.close();
  }
}

function describeFailure(error: unknown): { code: string; message: string; reauth: boolean } {
  if (error instanceof MailConnectionError) {
    return { code: error.code, message: error.message, reauth: error.code === 'oauth_expired' };
  }
  if (error instanceof OAuthError) {
    return { code: `oauth_${error.code}`, message: error.message, reauth: error.code === 'invalid_grant' || error.code === 'invalid_client' };
  }
  return { code: 'internal', message: `Unexpected error while polling: ${error instanceof Error ? error.message : String(error)}`, reauth: false };
}

/**
 * Polls one claimed mailbox: fetches new mail, stores its reports, settles each mail after its data
 * is committed, and records the run and the mailbox's state. Never throws for mailbox problems.
 */
export async function pollMailbox(deps: PollDeps, row: MailboxRow, signal: AbortSignal): Promise<PollResult> {
  const run = await deps.db
    .insertInto('job_run')
    .values({ job: 'mailbox-poll', org_id: row.org_id, mailbox_id: row.id, holder: deps.holder })
    .returning('id')
    .executeTakeFirstOrThrow();
  const tally = new Tally();
  let result: PollResult;
  try {
    const outcome = row.protocol === 'pop3' ? await pollPop3(deps, row, signal, tally) : await pollImap(deps, row, signal, tally);
    result = { outcome, ...tally };
  } catch (error) {
    const failure = describeFailure(error);
    if (failure.code === 'internal') deps.logger.error('mailbox poll failed', { mailbox: row.id, error });
    else deps.logger.warn('mailbox poll failed', { mailbox: row.id, code: failure.code, error: failure.message });
    result = { outcome: 'error', ...tally, errorCode: failure.code, error: failure.message };
    await deps.db
      .updateTable('mailbox')
      .set({
        last_outcome: 'error',
        last_error_code: failure.code,
        last_error: failure.message,
        consecutive_failures: sql<number>`consecutive_failures + 1`,
        needs_reauth: failure.reauth ? true : sql<boolean>`needs_reauth`,
        // Back off: interval × 2^failures, at most six hours.
        next_poll_at: sql<Date>`now() + least(poll_interval_seconds * power(2, least(consecutive_failures, 10)), ${MAX_BACKOFF_SECONDS}) * interval '1 second'`,
      })
      .where('id', '=', row.id)
      .execute();
  }
  const counters = {
    messages_processed: sql<number>`messages_processed + ${tally.processed}`,
    messages_invalid: sql<number>`messages_invalid + ${tally.invalid}`,
    reports_stored: sql<number>`reports_stored + ${tally.reportsStored}`,
  };
  await deps.db
    .updateTable('mailbox')
    .set({
      ...counters,
      last_poll_finished_at: sql<Date>`now()`,
      claimed_by: null,
      claimed_until: null,
      ...(result.outcome !== 'error' && {
        last_outcome: 'ok',
        last_error_code: null,
        last_error: null,
        consecutive_failures: 0,
        next_poll_at: result.outcome === 'ok' ? sql<Date>`now() + poll_interval_seconds * interval '1 second'` : sql<Date>`now()`,
      }),
    })
    .where('id', '=', row.id)
    .execute();
  await deps.db
    .updateTable('job_run')
    .set({
      finished_at: sql<Date>`now()`,
      outcome: result.outcome,
      messages: tally.messages,
      documents: tally.documents,
      reports_stored: tally.reportsStored,
      refused: tally.refused,
      error: result.error ?? null,
    })
    .where('id', '=', run.id)
    .execute();
  return result;
}
