import { assembleParts, PARTIAL_FETCH_THRESHOLD, reportParts } from './report-parts.js';
import { ImapFlow, type FetchMessageObject, type ImapFlowOptions, type MailboxLockObject } from 'imapflow';
import {
  checkSettings,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_SOCKET_TIMEOUT_MS,
  dialHost,
  MailConnectionError,
  serverAddress,
  timeoutError,
  tlsOptions,
  type MailAuth,
  type MailServerSettings,
} from '../mail-server.js';
import { describeImapFailure, type ImapFlowErrorLike } from './errors.js';

export interface ImapCursor {
  uidValidity: number;
  lastUid: number;
}

export interface FetchedMessage {
  uid: number;
  /** RFC822.SIZE as the server reported it. */
  size: number;
  /** The whole message; null when it is larger than maxBytes and was not downloaded. */
  raw: Buffer | null;
  tooLarge: boolean;
}

export interface FetchNewOptions {
  batchSize: number;
  /** Larger messages are yielded with raw=null and tooLarge=true, without being downloaded. */
  maxBytes: number;
  /** Ends a batch early once its downloaded bytes would pass this; default 64 MiB (at least maxBytes). */
  maxBatchBytes?: number;
}

export interface SelectedFolder {
  uidValidity: number;
  uidNext: number;
  exists: number;
}

const DEFAULT_MAX_BATCH_BYTES = 64 * 1024 * 1024;
const LOGOUT_TIMEOUT_MS = 5_000;
const MAX_UID = 0xffffffff;

/** Quiet stand-in for imapflow's pino logger that keeps the last failed command's error for messages. */
class CommandLog {
  lastError: ImapFlowErrorLike | null = null;
  private record = (entry: unknown): void => {
    const err = (entry as { err?: unknown } | null)?.err;
    if (err && typeof err === 'object') this.lastError = err as ImapFlowErrorLike;
  };
  trace = (): void => {};
  debug = (): void => {};
  info = (): void => {};
  warn = this.record;
  error = this.record;
  fatal = this.record;
}

function uidSet(uids: number[]): string {
  const sorted = [...new Set(uids)].filter((uid) => Number.isSafeInteger(uid) && uid > 0 && uid <= MAX_UID).sort((a, b) => a - b);
  const parts: string[] = [];
  let start = sorted[0];
  let end = start;
  for (const uid of sorted.slice(1)) {
    if (uid === end! + 1) {
      end = uid;
      continue;
    }
    parts.push(start === end ? `${start}` : `${start}:${end}`);
    start = uid;
    end = uid;
  }
  if (start !== undefined) parts.push(start === end ? `${start}` : `${start}:${end}`);
  return parts.join(',');
}

async function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => MailConnectionError): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One IMAP connection over verified TLS. A session is used once: after close() or a connection
 * failure, open a new one.
 */
export class ImapSession {
  private readonly log: CommandLog;
  private connectionFailure: unknown = null;
  private lock: MailboxLockObject | null = null;
  private selected: SelectedFolder | null = null;
  private readonly knownFolders = new Set<string>();
  private closed = false;

  private constructor(
    private readonly client: ImapFlow,
    log: CommandLog,
    private readonly settings: MailServerSettings,
    private readonly auth: MailAuth,
  ) {
    this.log = log;
    // imapflow emits 'error' for failures outside a command (socket timeout, TLS alert); without a
    // listener that would crash the process.
    client.on('error', (error: unknown) => {
      this.connectionFailure ??= error;
    });
  }

  static async open(settings: MailServerSettings, auth: MailAuth): Promise<ImapSession> {
    checkSettings(settings, 'IMAP');
    const connectTimeoutMs = settings.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const socketTimeoutMs = settings.socketTimeoutMs ?? DEFAULT_SOCKET_TIMEOUT_MS;
    const log = new CommandLog();
    const options: ImapFlowOptions = {
      host: dialHost(settings),
      port: settings.port,
      secure: settings.tls === 'implicit',
      // STARTTLS is required, not opportunistic: without it imapflow would log in over plaintext.
      ...(settings.tls === 'starttls' ? { doSTARTTLS: true } : {}),
      tls: tlsOptions(settings),
      auth: auth.method === 'oauth2' ? { user: auth.username, accessToken: auth.accessToken } : { user: auth.username, pass: auth.password },
      clientInfo: { name: 'DMARC Watch', vendor: 'DMARC Watch' },
      logger: log,
      disableAutoIdle: true,
      disableCompression: true,
      connectionTimeout: connectTimeoutMs,
      greetingTimeout: connectTimeoutMs,
      socketTimeout: socketTimeoutMs,
      maxLockHoldTime: false,
    };
    const client = new ImapFlow(options);
    const session = new ImapSession(client, log, settings, auth);
    try {
      // imapflow's own timers stop at the greeting; this one also covers STARTTLS and login.
      await withDeadline(client.connect(), connectTimeoutMs, () => timeoutError(settings, 'IMAP', connectTimeoutMs, 'while connecting and logging in'));
    } catch (error) {
      client.close();
      throw session.describe(error);
    }
    return session;
  }

  get serverGreeting(): string | undefined {
    return this.client.greeting || undefined;
  }

  private describe(error: unknown): MailConnectionError {
    return describeImapFailure(error, {
      settings: this.settings,
      auth: this.auth.method,
      username: this.auth.username,
      connectionFailure: this.connectionFailure,
    });
  }

  private assertUsable(): void {
    if (this.closed) throw new MailConnectionError('protocol', 'This IMAP session has been closed; open a new one.');
    if (this.client.isClosed || !this.client.usable) throw this.describe(this.connectionFailure ?? { code: 'NoConnection' });
  }

  private async command<T>(work: () => Promise<T>): Promise<T> {
    this.assertUsable();
    this.log.lastError = null;
    try {
      return await work();
    } catch (error) {
      throw this.describe(error);
    }
  }

  /** imapflow reports a refused STORE/MOVE/EXPUNGE as `false`; turn that into an error with the server's words. */
  private refused(action: string): MailConnectionError {
    if (this.client.isClosed || !this.client.usable) return this.describe(this.connectionFailure ?? { code: 'NoConnection' });
    const last = this.log.lastError;
    if (last && (last.code === 'NoConnection' || last.code === 'EConnectionClosed')) return this.describe(last);
    const said = last?.responseText ? ` (the server said: "${last.responseText.slice(0, 300)}")` : '';
    return new MailConnectionError('protocol', `The IMAP server ${serverAddress(this.settings)} refused to ${action}${said}.`);
  }

  private requireSelected(): SelectedFolder {
    if (!this.selected) throw new MailConnectionError('protocol', 'No folder is selected; call selectFolder() first.');
    return this.selected;
  }

  /**
   * Selects the folder read-write. The session holds imapflow's mailbox lock while it is selected,
   * which makes imapflow answer a quiet socket with a keep-alive NOOP instead of dropping the
   * connection while the caller is busy between commands.
   */
  async selectFolder(folder: string, options: { readOnly?: boolean } = {}): Promise<SelectedFolder> {
    this.assertUsable();
    this.lock?.release();
    this.lock = null;
    this.selected = null;
    try {
      this.lock = await this.client.getMailboxLock(folder, { readOnly: !!options.readOnly });
    } catch (error) {
      const e = error as ImapFlowErrorLike;
      if (e.mailboxMissing || e.serverResponseCode === 'NONEXISTENT') {
        throw new MailConnectionError(
          'folder_missing',
          `The folder "${folder}" does not exist on the IMAP server ${serverAddress(this.settings)}. ` +
            'Check the folder name (names are case-sensitive except INBOX, and sub-folders use the server\'s separator).',
        );
      }
      throw this.describe(error);
    }
    const mailbox = this.client.mailbox;
    if (!mailbox) throw this.describe(this.connectionFailure ?? { code: 'NoConnection' });
    this.knownFolders.add(folder);
    // UIDNEXT is missing from some servers' SELECT answers; 0 stands for unknown.
    this.selected = { uidValidity: Number(mailbox.uidValidity), uidNext: mailbox.uidNext || 0, exists: mailbox.exists };
    return { ...this.selected };
  }

  /**
   * Yields the messages after the cursor (all of them when there is no cursor or UIDVALIDITY
   * changed) in UID order, in batches. Sizes are listed first and only messages within maxBytes
   * are downloaded, each batch with one FETCH, so no IMAP command runs inside a FETCH and the
   * caller may move or flag a batch before asking for the next.
   */
  async *fetchNew(cursor: ImapCursor | null, options: FetchNewOptions): AsyncGenerator<FetchedMessage[]> {
    const folder = this.requireSelected();
    const batchSize = Math.max(1, Math.floor(options.batchSize));
    const maxBytes = Math.max(0, Math.floor(options.maxBytes));
    const maxBatchBytes = Math.max(options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES, maxBytes);
    const from = cursor && cursor.uidValidity === folder.uidValidity ? cursor.lastUid + 1 : 1;
    if (folder.exists === 0 || from > MAX_UID || (folder.uidNext > 0 && from >= folder.uidNext)) return;

    const listed = await this.command(() => this.client.fetchAll(`${from}:*`, { uid: true, size: true }, { uid: true }));
    // "n:*" always includes the highest UID, even when it is below n.
    const entries = listed
      .filter((m): m is FetchMessageObject & { uid: number } => typeof m.uid === 'number' && m.uid >= from)
      .map((m) => ({ uid: m.uid, size: m.size ?? 0 }))
      .sort((a, b) => a.uid - b.uid);

    let batch: { uid: number; size: number }[] = [];
    let batchBytes = 0;
    for (const entry of entries) {
      const downloads = entry.size <= maxBytes;
      if (batch.length && (batch.length >= batchSize || (downloads && batchBytes + entry.size > maxBatchBytes))) {
        yield await this.download(batch, maxBytes);
        batch = [];
        batchBytes = 0;
      }
      batch.push(entry);
      if (downloads) batchBytes += entry.size;
    }
    if (batch.length) yield await this.download(batch, maxBytes);
  }

  /**
   * A large multipart message without the parts that cannot carry a report (pictures, inline
   * bodies); null when it is not multipart or has nothing to skip, so the whole source is fetched.
   */
  private async downloadReportParts(uid: number, maxBytes: number): Promise<Buffer | null> {
    const [row] = await this.command(() => this.client.fetchAll(String(uid), { uid: true, bodyStructure: true }, { uid: true }));
    const structure = row?.bodyStructure;
    if (!structure?.childNodes?.length) return null;
    const parts = reportParts(structure);
    const wantedBytes = parts.reduce((sum, p) => sum + (p.size ?? 0), 0);
    if (wantedBytes > maxBytes) return null;
    const names = parts.flatMap((p) => [`${p.part}.mime`, p.part!]);
    const [fetched] = await this.command(() =>
      this.client.fetchAll(String(uid), { uid: true, headers: true, ...(names.length ? { bodyParts: names } : {}) }, { uid: true }),
    );
    if (!fetched?.headers) return null;
    const bodies = fetched.bodyParts ?? new Map<string, Buffer>();
    return assembleParts(
      fetched.headers,
      parts.map((p) => ({ mime: bodies.get(`${p.part}.mime`) ?? Buffer.alloc(0), body: bodies.get(p.part!) ?? Buffer.alloc(0) })),
    );
  }

  private async download(entries: { uid: number; size: number }[], maxBytes: number): Promise<FetchedMessage[]> {
    const partial = new Map<number, Buffer>();
    for (const entry of entries) {
      if (entry.size <= PARTIAL_FETCH_THRESHOLD || entry.size > maxBytes) continue;
      const assembled = await this.downloadReportParts(entry.uid, maxBytes);
      if (assembled) partial.set(entry.uid, assembled);
    }
    const wanted = entries.filter((e) => e.size <= maxBytes && !partial.has(e.uid)).map((e) => e.uid);
    const sources = new Map<number, Buffer>(partial);
    if (wanted.length) {
      // The partial fetch bounds what a server that under-reports sizes can send: one byte over
      // maxBytes shows the message is too large.
      const rows = await this.command(() =>
        this.client.fetchAll(uidSet(wanted), { uid: true, source: { start: 0, maxLength: maxBytes + 1 } }, { uid: true }),
      );
      for (const row of rows) if (row.uid && row.source) sources.set(row.uid, row.source);
    }
    const messages: FetchedMessage[] = [];
    for (const { uid, size } of entries) {
      if (size > maxBytes) {
        messages.push({ uid, size, raw: null, tooLarge: true });
        continue;
      }
      const raw = sources.get(uid);
      // Expunged by someone else between listing and download.
      if (!raw) continue;
      messages.push(raw.length > maxBytes && !partial.has(uid) ? { uid, size, raw: null, tooLarge: true } : { uid, size, raw, tooLarge: false });
    }
    return messages;
  }

  async markSeen(uids: number[]): Promise<void> {
    this.requireSelected();
    if (!uids.length) return;
    const done = await this.command(() => this.client.messageFlagsAdd(uidSet(uids), ['\\Seen'], { uid: true }));
    if (!done) throw this.refused('mark messages as seen');
  }

  /** Moves messages to the folder, creating it first if it does not exist. */
  async moveTo(uids: number[], folder: string): Promise<void> {
    this.requireSelected();
    if (!uids.length) return;
    await this.ensureFolder(folder);
    const moved = await this.command(() => this.client.messageMove(uidSet(uids), folder, { uid: true }));
    if (!moved) throw this.refused(`move messages to "${folder}"`);
  }

  private async ensureFolder(folder: string): Promise<void> {
    if (this.knownFolders.has(folder)) return;
    try {
      await this.command(() => this.client.mailboxCreate(folder));
    } catch (error) {
      if (error instanceof MailConnectionError && error.code === 'protocol') {
        throw new MailConnectionError('protocol', `The folder "${folder}" could not be created: ${error.message}`);
      }
      throw error;
    }
    this.knownFolders.add(folder);
  }

  /** Flags the messages \Deleted and expunges them (only them when the server has UIDPLUS). */
  async deleteMessages(uids: number[]): Promise<void> {
    this.requireSelected();
    if (!uids.length) return;
    const deleted = await this.command(() => this.client.messageDelete(uidSet(uids), { uid: true }));
    if (!deleted) throw this.refused('delete messages');
  }

  /** Logs out politely when the connection still works, then closes it. Never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.lock?.release();
    this.lock = null;
    if (this.client.usable && !this.client.isClosed) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.client.logout().catch(() => undefined),
        new Promise((resolve) => {
          timer = setTimeout(resolve, LOGOUT_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timer);
    }
    this.client.close();
  }
}

/** Checks TLS, login and the folder (opened read-only); fetches and changes nothing. */
export async function testImap(
  settings: MailServerSettings,
  auth: MailAuth,
  folder: string,
): Promise<{ folder: string; messages: number; uidValidity: number; serverGreeting?: string }> {
  const session = await ImapSession.open(settings, auth);
  try {
    const selected = await session.selectFolder(folder, { readOnly: true });
    return { folder, messages: selected.exists, uidValidity: selected.uidValidity, serverGreeting: session.serverGreeting };
  } finally {
    await session.close();
  }
}
