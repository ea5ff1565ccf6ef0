import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import { connectionFailure, MailConnectionError, type MailAuth, type MailServerSettings } from '../mail-server.js';

export interface ImapCursor {
  uidValidity: number;
  lastUid: number;
}

export interface FetchedMessage {
  uid: number;
  size: number;
  /** null when the message is larger than the caller's limit: it was not downloaded. */
  raw: Buffer | null;
}

export interface FolderState {
  uidValidity: number;
  uidNext: number;
  exists: number;
}

/** Bytes fetched in one round trip at most; larger messages come one by one. */
const BATCH_BYTES = 32 * 1024 * 1024;

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function clientOptions(settings: MailServerSettings, auth: MailAuth): ImapFlowOptions {
  return {
    host: settings.host,
    port: settings.port,
    secure: settings.tls === 'implicit',
    doSTARTTLS: settings.tls === 'starttls' ? true : undefined,
    servername: settings.host,
    auth: auth.method === 'password' ? { user: auth.username, pass: auth.password } : { user: auth.username, accessToken: auth.accessToken },
    tls: { rejectUnauthorized: true, servername: settings.host, minVersion: 'TLSv1.2', ...(settings.caPem ? { ca: [settings.caPem] } : {}) },
    logger: silent,
    disableAutoIdle: true,
    connectionTimeout: settings.connectTimeoutMs ?? 30_000,
    greetingTimeout: settings.connectTimeoutMs ?? 30_000,
    socketTimeout: settings.socketTimeoutMs ?? 120_000,
  } as ImapFlowOptions;
}

function describe(error: unknown, settings: MailServerSettings, auth: MailAuth): MailConnectionError {
  const e = error as { authenticationFailed?: boolean; tlsFailed?: boolean; responseText?: string; message?: string; code?: string };
  if (e?.authenticationFailed) {
    if (auth.method === 'oauth2') {
      return new MailConnectionError(
        'oauth_expired',
        `The IMAP server refused the OAuth access token for ${auth.username}${e.responseText ? ` (${e.responseText})` : ''}. Re-authorise the mailbox.`,
      );
    }
    return new MailConnectionError(
      'auth_failed',
      `The IMAP server refused the login for ${auth.username}${e.responseText ? ` (${e.responseText})` : ''}. Check the user name and password (some providers need an app password or OAuth2).`,
    );
  }
  if (e?.tlsFailed && /does not support STARTTLS/i.test(e.message ?? '')) {
    return new MailConnectionError(
      'tls_required',
      `The IMAP server ${settings.host}:${settings.port} does not offer STARTTLS, so the connection would not be encrypted; nothing was sent. Use the server's TLS port (usually 993).`,
    );
  }
  if (e?.code === 'NoConnection' || /Connection not available/i.test(e?.message ?? '')) {
    return new MailConnectionError('connect_failed', `The connection to ${settings.host}:${settings.port} was lost; it will be retried.`);
  }
  return connectionFailure(error, settings, 'IMAP');
}

/**
 * One IMAP connection. Never reused after close; every imapflow error event is captured, and no
 * command is issued while a FETCH is being iterated (UIDs and sizes are read first).
 */
export class ImapSession {
  private failure: unknown = null;
  private folder: string | null = null;
  /** Rejects when the connection drops, so no command waits on a dead socket. */
  private readonly closed: Promise<never>;
  private rejectClosed: (error: unknown) => void = () => {};

  private constructor(
    private readonly client: ImapFlow,
    private readonly settings: MailServerSettings,
    private readonly auth: MailAuth,
  ) {
    this.closed = new Promise<never>((_resolve, reject) => {
      this.rejectClosed = reject;
    });
    this.closed.catch(() => {});
  }

  static async open(settings: MailServerSettings, auth: MailAuth): Promise<ImapSession> {
    const client = new ImapFlow(clientOptions(settings, auth));
    const session = new ImapSession(client, settings, auth);
    client.on('error', (error: unknown) => {
      session.failure = error;
      session.rejectClosed(error);
    });
    client.on('close', () => {
      session.rejectClosed(session.failure ?? Object.assign(new Error('connection closed'), { code: 'ECONNRESET' }));
    });
    try {
      await client.connect();
    } catch (error) {
      client.close();
      throw describe(session.failure ?? error, settings, auth);
    }
    return session;
  }

  private async run<T>(action: () => Promise<T>): Promise<T> {
    try {
      return await Promise.race([action(), this.closed]);
    } catch (error) {
      throw describe(this.failure ?? error, this.settings, this.auth);
    }
  }

  async selectFolder(folder: string): Promise<FolderState> {
    return this.run(async () => {
      try {
        const mailbox = await this.client.mailboxOpen(folder);
        this.folder = folder;
        return { uidValidity: Number(mailbox.uidValidity), uidNext: Number(mailbox.uidNext), exists: mailbox.exists };
      } catch (error) {
        const e = error as { responseText?: string; responseStatus?: string };
        if (e.responseStatus === 'NO') {
          throw new MailConnectionError('folder_missing', `The folder "${folder}" does not exist on the server (${e.responseText ?? 'NO'}). Check the folder name.`);
        }
        throw error;
      }
    });
  }

  /**
   * New messages of the selected folder in UID order: after the cursor when its UIDVALIDITY still
   * holds, else all of them. Batches hold at most `batchSize` messages and about 32 MiB.
   */
  async *fetchNew(cursor: ImapCursor | null, options: { batchSize: number; maxBytes: number }): AsyncGenerator<FetchedMessage[]> {
    if (!this.folder) throw new Error('selectFolder first');
    const after = cursor?.lastUid ?? 0;
    const uids = await this.run(async () => {
      const found = await this.client.search(after > 0 ? { uid: `${after + 1}:*` } : { all: true }, { uid: true });
      return (found || []).filter((uid) => uid > after).sort((a, b) => a - b);
    });
    for (let i = 0; i < uids.length; i += options.batchSize) {
      const slice = uids.slice(i, i + options.batchSize);
      const sizes = await this.run(() => this.client.fetchAll(slice.join(','), { uid: true, size: true }, { uid: true }));
      const sizeOf = new Map(sizes.map((m) => [m.uid, m.size ?? 0]));
      const wanted = slice.filter((uid) => sizeOf.has(uid));
      let group: number[] = [];
      let groupBytes = 0;
      const batch: FetchedMessage[] = [];
      const flush = async () => {
        if (!group.length) return;
        const messages = await this.run(() => this.client.fetchAll(group.join(','), { uid: true, source: true }, { uid: true }));
        const byUid = new Map(messages.map((m) => [m.uid, m.source ?? null]));
        for (const uid of group) {
          const raw = byUid.get(uid);
          if (raw) batch.push({ uid, size: sizeOf.get(uid)!, raw: Buffer.from(raw) });
        }
        group = [];
        groupBytes = 0;
      };
      for (const uid of wanted) {
        const size = sizeOf.get(uid)!;
        if (size > options.maxBytes) {
          batch.push({ uid, size, raw: null });
          continue;
        }
        if (groupBytes + size > BATCH_BYTES) await flush();
        group.push(uid);
        groupBytes += size;
      }
      await flush();
      batch.sort((a, b) => a.uid - b.uid);
      if (batch.length) yield batch;
    }
  }

  private async ensureFolder(folder: string): Promise<string> {
    return this.run(async () => {
      try {
        const created = await this.client.mailboxCreate(folder.split('/'));
        return created.path;
      } catch (error) {
        const e = error as { serverResponseCode?: string; responseText?: string };
        if (e.serverResponseCode === 'ALREADYEXISTS' || /already exists/i.test(e.responseText ?? '')) {
          const list = await this.client.list();
          const wantedParts = folder.split('/');
          const match = list.find((m) => m.path.split(m.delimiter || '/').join('/') === wantedParts.join('/'));
          return match?.path ?? folder;
        }
        throw error;
      }
    });
  }

  async moveTo(uids: number[], folder: string): Promise<void> {
    if (!uids.length) return;
    const target = await this.ensureFolder(folder);
    await this.run(() => this.client.messageMove(uids.join(','), target, { uid: true }));
  }

  async markSeen(uids: number[]): Promise<void> {
    if (!uids.length) return;
    await this.run(() => this.client.messageFlagsAdd(uids.join(','), ['\\Seen'], { uid: true }));
  }

  async deleteMessages(uids: number[]): Promise<void> {
    if (!uids.length) return;
    await this.run(() => this.client.messageDelete(uids.join(','), { uid: true }));
  }

  async close(): Promise<void> {
    if (this.failure || !this.client.usable) {
      this.client.close();
      return;
    }
    try {
      await this.client.logout();
    } catch {
      this.client.close();
    }
  }
}

/** Checks TLS, login and the folder without fetching anything. */
export async function testImap(settings: MailServerSettings, auth: MailAuth, folder: string): Promise<{ folder: string; messages: number; uidValidity: number }> {
  const session = await ImapSession.open(settings, auth);
  try {
    const state = await session.selectFolder(folder);
    return { folder, messages: state.exists, uidValidity: state.uidValidity };
  } finally {
    await session.close();
  }
}
