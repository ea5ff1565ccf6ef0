import net from 'node:net';
import tls from 'node:tls';
import {
  checkSettings,
  connectionLost,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_SOCKET_TIMEOUT_MS,
  dialHost,
  MailConnectionError,
  serverAddress,
  timeoutError,
  tlsOptions,
  transportError,
  type MailAuth,
  type MailServerSettings,
} from '../mail-server.js';
import { Pop3Wire, WireError } from './wire.js';

/** Status lines, CAPA/UIDL/LIST entries and SASL challenges are short; anything longer is not POP3. */
const MAX_LINE = 64 * 1024;
/** UIDL or LIST of a very large maildrop. */
const MAX_LISTING_BYTES = 64 * 1024 * 1024;

interface Reply {
  ok: boolean;
  /** A SASL continuation ("+ <base64>") rather than +OK/-ERR. */
  continuation: boolean;
  /** The text after the status indicator. */
  text: string;
  /** RFC 2449/3206 response code, e.g. AUTH, SYS/TEMP, IN-USE. */
  code: string | null;
}

export interface Pop3Message {
  number: number;
  uidl: string;
  size: number;
}

function parseReply(line: Buffer): Reply {
  const text = line.toString('utf8');
  if (text.startsWith('+OK')) return { ok: true, continuation: false, text: text.slice(3).trim(), code: responseCode(text.slice(3)) };
  if (text.startsWith('-ERR')) return { ok: false, continuation: false, text: text.slice(4).trim(), code: responseCode(text.slice(4)) };
  if (text === '+' || text.startsWith('+ ')) return { ok: false, continuation: true, text: text.slice(1).trim(), code: null };
  throw new MailConnectionError('protocol', `The POP3 server answered with something that is not a POP3 status line: "${text.slice(0, 100)}"`);
}

function responseCode(text: string): string | null {
  return /^\s*\[([^\]]+)\]/.exec(text)?.[1]?.toUpperCase() ?? null;
}

function said(reply: Reply): string {
  return reply.text ? ` (the server said: "${reply.text.slice(0, 300)}")` : '';
}

function connectSocket(settings: MailServerSettings): net.Socket {
  const host = dialHost(settings);
  return settings.tls === 'implicit' ? tls.connect({ host, port: settings.port, ...tlsOptions(settings) }) : net.connect({ host, port: settings.port });
}

/** Resolves once the socket is connected (and its TLS handshake verified); rejects on error or close. */
function connected(socket: net.Socket, event: 'connect' | 'secureConnect'): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      socket.off(event, onReady);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const onReady = (): void => {
      cleanup();
      resolve();
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onClose = (): void => {
      cleanup();
      reject(new WireError('lost', 'the server closed the connection during the handshake'));
    };
    socket.once(event, onReady);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}

/**
 * One POP3 connection over verified TLS (implicit, or STLS which must succeed before any
 * credential is sent). Deletions are committed only by quit(); close() drops the connection
 * and the server forgets them. A session is used once.
 */
export class Pop3Session {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly sizes = new Map<number, number>();
  private capabilities = new Set<string>();
  private saslMechanisms = new Set<string>();
  private finished = false;

  private constructor(
    private readonly wire: Pop3Wire,
    private readonly settings: MailServerSettings,
  ) {}

  static async open(settings: MailServerSettings, auth: MailAuth): Promise<Pop3Session> {
    checkSettings(settings, 'POP3');
    const connectTimeoutMs = settings.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    let socket: net.Socket;
    try {
      socket = connectSocket(settings);
    } catch (error) {
      throw (
        transportError(error, settings, 'POP3') ??
        new MailConnectionError('connect_failed', `Could not connect to the POP3 server ${serverAddress(settings)}: ${error instanceof Error ? error.message : String(error)}`)
      );
    }
    const wire = new Pop3Wire(socket, settings.socketTimeoutMs ?? DEFAULT_SOCKET_TIMEOUT_MS);
    const session = new Pop3Session(wire, settings);
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      wire.fail(new WireError('timeout', 'the connection and login took too long'));
    }, connectTimeoutMs);
    try {
      await connected(socket, settings.tls === 'implicit' ? 'secureConnect' : 'connect');
      const greeting = await session.reply();
      if (!greeting.ok) throw new MailConnectionError('connect_failed', `The POP3 server ${serverAddress(settings)} refused the session${said(greeting)}.`);
      await session.readCapabilities();
      if (settings.tls === 'starttls') await session.startTls();
      await session.login(auth);
      return session;
    } catch (error) {
      wire.destroy();
      if (timedOut) throw timeoutError(settings, 'POP3', connectTimeoutMs, 'while connecting and logging in');
      throw session.describe(error);
    } finally {
      clearTimeout(deadline);
    }
  }

  private describe(error: unknown): MailConnectionError {
    if (error instanceof MailConnectionError) return error;
    if (error instanceof WireError) {
      if (error.kind === 'timeout') {
        return timeoutError(this.settings, 'POP3', this.settings.socketTimeoutMs ?? DEFAULT_SOCKET_TIMEOUT_MS, 'a command');
      }
      if (error.kind === 'too_long') return new MailConnectionError('protocol', `The POP3 server ${serverAddress(this.settings)} misbehaved: ${error.message}.`);
      return (error.cause ? transportError(error.cause, this.settings, 'POP3') : null) ?? connectionLost(this.settings, 'POP3', error.message);
    }
    return (
      transportError(error, this.settings, 'POP3') ??
      new MailConnectionError('protocol', `The POP3 server ${serverAddress(this.settings)} answered unexpectedly: ${error instanceof Error ? error.message : String(error)}`)
    );
  }

  private async reply(): Promise<Reply> {
    return parseReply(await this.wire.readLine(MAX_LINE));
  }

  private async command(line: string): Promise<Reply> {
    this.wire.write(`${line}\r\n`);
    return this.reply();
  }

  /** Runs one exchange at a time and turns every failure into a MailConnectionError. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      if (this.finished) throw new MailConnectionError('protocol', 'This POP3 session has ended; open a new one.');
      try {
        return await work();
      } catch (error) {
        if (this.wire.failed) this.finished = true;
        throw this.describe(error);
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async readCapabilities(): Promise<void> {
    const reply = await this.command('CAPA');
    this.capabilities = new Set();
    this.saslMechanisms = new Set();
    // CAPA is optional (RFC 2449); without it the server simply offers no STLS.
    if (!reply.ok) return;
    const body = await this.wire.readMultiline(MAX_LINE);
    if (!body) throw new MailConnectionError('protocol', 'The POP3 server sent an oversized CAPA list.');
    for (const line of body.toString('utf8').split(/\r?\n/)) {
      const [name, ...args] = line.trim().split(/\s+/);
      if (!name) continue;
      this.capabilities.add(name.toUpperCase());
      if (name.toUpperCase() === 'SASL') for (const mech of args) this.saslMechanisms.add(mech.toUpperCase());
    }
  }

  private async startTls(): Promise<void> {
    const where = serverAddress(this.settings);
    if (!this.capabilities.has('STLS')) {
      this.politeQuit();
      throw new MailConnectionError(
        'tls_required',
        `The POP3 server ${where} does not offer STLS, so the connection cannot be encrypted and no credentials were sent. ` +
          'Use the server\'s implicit TLS port (usually 995) or enable TLS on the server.',
      );
    }
    const reply = await this.command('STLS');
    if (!reply.ok) {
      this.politeQuit();
      throw new MailConnectionError('tls_required', `The POP3 server ${where} refused STLS${said(reply)}; no credentials were sent.`);
    }
    const { socket: plain, unread } = this.wire.detach();
    if (unread.length) {
      plain.destroy();
      throw new MailConnectionError('tls_failed', `The POP3 server ${where} sent unencrypted data during the STLS upgrade; the connection was dropped.`);
    }
    const secure = tls.connect({ socket: plain, host: dialHost(this.settings), ...tlsOptions(this.settings) });
    this.wire.replace(secure);
    await connected(secure, 'secureConnect');
    // Capabilities seen before TLS could have been forged; only the ones after it count.
    await this.readCapabilities();
  }

  private politeQuit(): void {
    try {
      this.wire.write('QUIT\r\n');
    } catch {
      // the connection is dropped right after anyway
    }
  }

  private async login(auth: MailAuth): Promise<void> {
    const where = serverAddress(this.settings);
    const secret = auth.method === 'password' ? auth.password : auth.accessToken;
    if (/[\r\n]/.test(auth.username) || /[\r\n]/.test(secret) || (auth.method === 'oauth2' && secret.includes('\x01'))) {
      throw new MailConnectionError('auth_failed', 'The username or secret contains a line break, which POP3 cannot carry.');
    }
    if (auth.method === 'password') {
      const user = await this.command(`USER ${auth.username}`);
      if (user.ok) {
        const pass = await this.command(`PASS ${auth.password}`);
        if (pass.ok) return;
        throw this.loginRefused(pass, auth);
      }
      throw this.loginRefused(user, auth);
    }
    if (this.saslMechanisms.size && !this.saslMechanisms.has('XOAUTH2')) {
      throw new MailConnectionError('auth_failed', `The POP3 server ${where} does not offer OAuth2 login (SASL XOAUTH2); use a password instead.`);
    }
    // The initial response goes in its own line: RFC 5034 limits the AUTH command line to 255 bytes.
    const started = await this.command('AUTH XOAUTH2');
    if (!started.continuation) throw this.loginRefused(started, auth);
    const payload = Buffer.from(`user=${auth.username}\x01auth=Bearer ${auth.accessToken}\x01\x01`).toString('base64');
    let result = await this.command(payload);
    let detail: { status?: unknown } | null = null;
    if (result.continuation) {
      // The server explains the failure in a JSON challenge and expects an empty response before -ERR.
      try {
        detail = JSON.parse(Buffer.from(result.text, 'base64').toString('utf8')) as { status?: unknown };
      } catch {
        detail = null;
      }
      result = await this.command('');
    }
    if (result.ok) return;
    throw this.loginRefused(result, auth, detail?.status);
  }

  private loginRefused(reply: Reply, auth: MailAuth, oauthStatus?: unknown): MailConnectionError {
    const where = serverAddress(this.settings);
    if (reply.continuation) return new MailConnectionError('protocol', `The POP3 server ${where} sent an unexpected challenge during login.`);
    if (reply.code === 'SYS/TEMP' || reply.code === 'IN-USE' || reply.code === 'LOGIN-DELAY') {
      return new MailConnectionError('connect_failed', `The POP3 server ${where} cannot open the mailbox right now${said(reply)}; it will be retried.`);
    }
    if (auth.method === 'password') {
      return new MailConnectionError(
        'auth_failed',
        `The POP3 server ${where} rejected the username or password for ${auth.username}${said(reply)}. ` +
          'Check the credentials; some providers require an app password for POP3.',
      );
    }
    const status = oauthStatus === undefined || oauthStatus === null ? '' : String(oauthStatus);
    if (status === '400' || status === 'invalid_request' || status === '403' || status === 'insufficient_scope') {
      return new MailConnectionError(
        'auth_failed',
        `The POP3 server ${where} refused the OAuth2 login for ${auth.username} (status ${status})${said(reply)}. ` +
          'Check that the username is the account the token was issued for and that it grants mail access.',
      );
    }
    return new MailConnectionError(
      'oauth_expired',
      `The POP3 server ${where} rejected the OAuth2 access token for ${auth.username} as invalid or expired` +
        `${status ? ` (status ${status})` : ''}${said(reply)}. Sign in to the mail provider again to reauthorize the mailbox.`,
    );
  }

  private refused(action: string, reply: Reply): MailConnectionError {
    return new MailConnectionError('protocol', `The POP3 server ${serverAddress(this.settings)} refused to ${action}${said(reply)}.`);
  }

  private async listing(command: string): Promise<string[]> {
    const reply = await this.command(command);
    if (!reply.ok) throw this.refused(`list messages (${command})`, reply);
    const body = await this.wire.readMultiline(MAX_LISTING_BYTES);
    if (!body) throw new MailConnectionError('protocol', `The POP3 server's ${command} listing is larger than ${MAX_LISTING_BYTES} bytes.`);
    return body
      .toString('latin1')
      .split(/\r?\n/)
      .filter((line) => line.trim());
  }

  /** Number of messages in the maildrop (STAT). */
  stat(): Promise<{ messages: number; bytes: number }> {
    return this.exclusive(async () => {
      const reply = await this.command('STAT');
      const match = reply.ok ? /^(\d+)\s+(\d+)/.exec(reply.text) : null;
      if (!match) throw this.refused('report the mailbox size (STAT)', reply);
      return { messages: Number(match[1]), bytes: Number(match[2]) };
    });
  }

  /** Every message with its unique id (UIDL) and size (LIST), in message-number order. */
  list(): Promise<Pop3Message[]> {
    return this.exclusive(async () => {
      const uidls = new Map<number, string>();
      for (const line of await this.listing('UIDL')) {
        const match = /^(\d+)\s+(\S+)/.exec(line);
        if (match) uidls.set(Number(match[1]), match[2]!);
      }
      this.sizes.clear();
      for (const line of await this.listing('LIST')) {
        const match = /^(\d+)\s+(\d+)/.exec(line);
        if (match) this.sizes.set(Number(match[1]), Number(match[2]));
      }
      const messages: Pop3Message[] = [];
      for (const [number, uidl] of uidls) {
        const size = this.sizes.get(number);
        if (size !== undefined) messages.push({ number, uidl, size });
      }
      return messages.sort((a, b) => a.number - b.number);
    });
  }

  /** The whole message, or null without downloading it when it is larger than maxBytes. */
  retrieve(number: number, maxBytes: number): Promise<Buffer | null> {
    return this.exclusive(async () => {
      let size = this.sizes.get(number);
      if (size === undefined) {
        const reply = await this.command(`LIST ${number}`);
        const match = reply.ok ? /^\d+\s+(\d+)/.exec(reply.text) : null;
        if (!match) throw this.refused(`report the size of message ${number}`, reply);
        size = Number(match[1]);
        this.sizes.set(number, size);
      }
      if (size > maxBytes) return null;
      const reply = await this.command(`RETR ${number}`);
      if (!reply.ok) throw this.refused(`send message ${number}`, reply);
      return this.wire.readMultiline(maxBytes);
    });
  }

  /** Marks the message for deletion; the server deletes it when quit() succeeds. */
  delete(number: number): Promise<void> {
    return this.exclusive(async () => {
      const reply = await this.command(`DELE ${number}`);
      if (!reply.ok) throw this.refused(`mark message ${number} for deletion`, reply);
    });
  }

  /** Ends the session with QUIT, which commits deletions; throws when the server could not commit them. */
  quit(): Promise<void> {
    return this.exclusive(async () => {
      this.finished = true;
      try {
        const reply = await this.command('QUIT');
        if (!reply.ok) throw this.refused('delete the marked messages at QUIT', reply);
      } finally {
        this.wire.destroy();
      }
    });
  }

  /** Drops the connection without QUIT: deletions marked in this session are not committed. */
  close(): void {
    this.finished = true;
    this.wire.destroy();
  }
}

/** Checks TLS and login and counts the messages; reads and deletes nothing. */
export async function testPop3(settings: MailServerSettings, auth: MailAuth): Promise<{ messages: number }> {
  const session = await Pop3Session.open(settings, auth);
  try {
    const { messages } = await session.stat();
    await session.quit();
    return { messages };
  } finally {
    session.close();
  }
}
