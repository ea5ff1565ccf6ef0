import net from 'node:net';
import tls from 'node:tls';
import { connectionFailure, MailConnectionError, type MailAuth, type MailServerSettings } from '../mail-server.js';

const MAX_LINE = 64 * 1024;
const CRLF = Buffer.from('\r\n');
const TERMINATOR = Buffer.from('\r\n.\r\n');

interface Pending {
  multiline: boolean;
  limit: number;
  /** Set once the status line of a multi-line response has been read. */
  status: string | null;
  tooLarge: boolean;
  resolve: (value: { status: string; body: Buffer | null; tooLarge: boolean }) => void;
  reject: (error: Error) => void;
}

/**
 * Line protocol over a socket, binary-safe: responses are collected as bytes, multi-line bodies
 * end at CRLF.CRLF and are dot-unstuffed. One command at a time. A body over its limit is read
 * to its end but not kept.
 */
class Pop3Connection {
  private buffer: Buffer = Buffer.alloc(0);
  private pending: Pending | null = null;
  private failure: Error | null = null;

  constructor(
    public socket: net.Socket,
    private readonly timeoutMs: number,
  ) {
    this.attach(socket);
  }

  attach(socket: net.Socket): void {
    this.socket = socket;
    socket.setTimeout(this.timeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('timeout', () => this.fail(Object.assign(new Error('POP3 server timed out'), { code: 'ETIMEDOUT' })));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(Object.assign(new Error('connection closed'), { code: 'ECONNRESET' })));
  }

  detach(): void {
    for (const event of ['data', 'timeout', 'error', 'close']) this.socket.removeAllListeners(event);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    const pending = this.pending;
    this.pending = null;
    pending?.reject(error);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    this.process();
  }

  private process(): void {
    const pending = this.pending;
    if (!pending) return;
    if (pending.status === null) {
      const lineEnd = this.buffer.indexOf(CRLF);
      if (lineEnd < 0) {
        if (this.buffer.length > MAX_LINE) this.fail(new Error('POP3 response line too long'));
        return;
      }
      const status = this.buffer.subarray(0, lineEnd).toString('latin1');
      if (!pending.multiline || !status.startsWith('+OK')) {
        this.buffer = this.buffer.subarray(lineEnd + 2);
        this.pending = null;
        pending.resolve({ status, body: null, tooLarge: false });
        return;
      }
      pending.status = status;
      // Keep the CRLF so an empty body's terminator (CRLF . CRLF) is found.
      this.buffer = this.buffer.subarray(lineEnd);
    }
    const end = this.buffer.indexOf(TERMINATOR);
    if (end < 0) {
      if (this.buffer.length > pending.limit) {
        pending.tooLarge = true;
        this.buffer = this.buffer.subarray(this.buffer.length - (TERMINATOR.length - 1));
      }
      return;
    }
    const raw = this.buffer.subarray(2, end + 2);
    this.buffer = this.buffer.subarray(end + TERMINATOR.length);
    this.pending = null;
    const tooLarge = pending.tooLarge || raw.length > pending.limit;
    pending.resolve({ status: pending.status, body: tooLarge ? null : unstuff(raw), tooLarge });
  }

  private queue: Promise<unknown> = Promise.resolve();

  /** Sends `command` (or nothing, to read the greeting) and reads the response; commands queue up. */
  send(command: string | null, options: { multiline?: boolean; limit?: number } = {}): Promise<{ status: string; body: Buffer | null; tooLarge: boolean }> {
    const result = this.queue.then(() => this.exchange(command, options));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private exchange(command: string | null, options: { multiline?: boolean; limit?: number }): Promise<{ status: string; body: Buffer | null; tooLarge: boolean }> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = { multiline: options.multiline ?? false, limit: options.limit ?? 16 * 1024 * 1024, status: null, tooLarge: false, resolve, reject };
      if (command !== null) this.socket.write(`${command}\r\n`);
      this.process();
    });
  }
}

function unstuff(raw: Buffer): Buffer {
  const lines: Buffer[] = [];
  let start = 0;
  while (start < raw.length) {
    let end = raw.indexOf(CRLF, start);
    if (end < 0) end = raw.length;
    else end += 2;
    let line = raw.subarray(start, end);
    if (line[0] === 0x2e) line = line.subarray(1);
    lines.push(line);
    start = end;
  }
  return Buffer.concat(lines);
}

function ok(response: { status: string }, what: string): string {
  if (!response.status.startsWith('+OK')) throw new MailConnectionError('protocol', `The POP3 server refused ${what}: ${response.status.slice(0, 200)}`);
  return response.status;
}

async function connect(settings: MailServerSettings): Promise<net.Socket> {
  const timeout = settings.connectTimeoutMs ?? 30_000;
  const tlsOptions = { servername: settings.host, rejectUnauthorized: true, minVersion: 'TLSv1.2' as const, ...(settings.caPem ? { ca: [settings.caPem] } : {}) };
  return new Promise((resolve, reject) => {
    const socket =
      settings.tls === 'implicit'
        ? tls.connect({ host: settings.host, port: settings.port, ...tlsOptions })
        : net.connect({ host: settings.host, port: settings.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' }));
    }, timeout);
    socket.once(settings.tls === 'implicit' ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function upgrade(connection: Pop3Connection, settings: MailServerSettings): Promise<void> {
  const capa = await connection.send('CAPA', { multiline: true });
  const capabilities = capa.body?.toString('latin1').toUpperCase().split(/\r\n/) ?? [];
  if (!capabilities.includes('STLS')) {
    throw new MailConnectionError(
      'tls_required',
      `The POP3 server ${settings.host}:${settings.port} does not offer STLS, so the connection would not be encrypted; nothing was sent. Use the server's TLS port (usually 995).`,
    );
  }
  ok(await connection.send('STLS'), 'STLS');
  connection.detach();
  const plain = connection.socket;
  const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ socket: plain, servername: settings.host, rejectUnauthorized: true, minVersion: 'TLSv1.2', ...(settings.caPem ? { ca: [settings.caPem] } : {}) });
    s.once('secureConnect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', reject);
  });
  connection.attach(secure);
}

async function login(connection: Pop3Connection, auth: MailAuth): Promise<void> {
  if (auth.method === 'oauth2') {
    const token = Buffer.from(`user=${auth.username}\x01auth=Bearer ${auth.accessToken}\x01\x01`).toString('base64');
    const response = await connection.send(`AUTH XOAUTH2 ${token}`);
    if (response.status.startsWith('+ ')) await connection.send('');
    if (!response.status.startsWith('+OK')) {
      throw new MailConnectionError('oauth_expired', `The POP3 server refused the OAuth access token for ${auth.username}. Re-authorise the mailbox.`);
    }
    return;
  }
  const user = await connection.send(`USER ${auth.username}`);
  const pass = user.status.startsWith('+OK') ? await connection.send(`PASS ${auth.password}`) : user;
  if (!pass.status.startsWith('+OK')) {
    throw new MailConnectionError(
      'auth_failed',
      `The POP3 server refused the login for ${auth.username} (${pass.status.replace(/^-ERR\s*/, '').slice(0, 120)}). Check the user name and password.`,
    );
  }
}

export interface Pop3Entry {
  number: number;
  uidl: string;
  size: number;
}

export class Pop3Session {
  private constructor(
    private readonly connection: Pop3Connection,
    private readonly settings: MailServerSettings,
  ) {}

  static async open(settings: MailServerSettings, auth: MailAuth): Promise<Pop3Session> {
    let connection: Pop3Connection | undefined;
    try {
      connection = new Pop3Connection(await connect(settings), settings.socketTimeoutMs ?? 120_000);
      ok(await connection.send(null), 'the connection');
      if (settings.tls === 'starttls') await upgrade(connection, settings);
      await login(connection, auth);
      return new Pop3Session(connection, settings);
    } catch (error) {
      connection?.socket.destroy();
      throw connectionFailure(error, settings, 'POP3');
    }
  }

  private async run<T>(action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      throw connectionFailure(error, this.settings, 'POP3');
    }
  }

  async list(): Promise<Pop3Entry[]> {
    return this.run(async () => {
      const uidl = await this.connection.send('UIDL', { multiline: true });
      ok(uidl, 'UIDL');
      const sizes = await this.connection.send('LIST', { multiline: true });
      ok(sizes, 'LIST');
      const sizeOf = new Map<number, number>();
      for (const line of sizes.body!.toString('latin1').split('\r\n')) {
        const [n, size] = line.trim().split(/\s+/);
        if (n && size) sizeOf.set(Number(n), Number(size));
      }
      return uidl
        .body!.toString('latin1')
        .split('\r\n')
        .map((line) => line.trim().split(/\s+/))
        .filter((parts) => parts.length === 2)
        .map(([n, id]) => ({ number: Number(n), uidl: id!, size: sizeOf.get(Number(n)) ?? 0 }));
    });
  }

  /** The raw message, or null when it is larger than maxBytes (then it is not kept in memory). */
  async retrieve(number: number, maxBytes: number): Promise<Buffer | null> {
    return this.run(async () => {
      const response = await this.connection.send(`RETR ${number}`, { multiline: true, limit: maxBytes });
      ok(response, `RETR ${number}`);
      return response.tooLarge ? null : response.body;
    });
  }

  /** Marks a message for deletion; the server deletes it only at QUIT. */
  async delete(number: number): Promise<void> {
    await this.run(async () => {
      ok(await this.connection.send(`DELE ${number}`), `DELE ${number}`);
    });
  }

  /** Ends the session normally: deletions are committed. */
  async quit(): Promise<void> {
    await this.run(async () => {
      ok(await this.connection.send('QUIT'), 'QUIT');
    });
    this.connection.socket.end();
  }

  /** Drops the connection without QUIT: deletions are not committed. */
  close(): void {
    this.connection.socket.destroy();
  }
}

export async function testPop3(settings: MailServerSettings, auth: MailAuth): Promise<{ messages: number }> {
  const session = await Pop3Session.open(settings, auth);
  try {
    return { messages: (await session.list()).length };
  } finally {
    await session.quit().catch(() => session.close());
  }
}
