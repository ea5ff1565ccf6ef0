import type net from 'node:net';

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const EMPTY = Buffer.alloc(0);
const CR_BYTE = Buffer.from([CR]);
/** Above this much unread input the socket is paused until the reader catches up. */
const HIGH_WATER = 1024 * 1024;
/** What is read and dropped after a multi-line response outgrew its limit before the connection is abandoned. */
const MAX_DISCARD = 64 * 1024 * 1024;

export class WireError extends Error {
  constructor(
    readonly kind: 'lost' | 'timeout' | 'too_long',
    message: string,
    cause?: unknown,
  ) {
    super(message, { cause });
    this.name = 'WireError';
  }
}

/**
 * The byte stream of one POP3 connection: status lines and dot-terminated multi-line responses,
 * read as Buffers so message bytes pass through unchanged. Every wait for the server is bounded
 * by the inactivity timeout; the first failure ends the connection for good.
 */
export class Pop3Wire {
  private socket: net.Socket;
  private buffer: Buffer = EMPTY;
  private wake: (() => void) | null = null;
  private failure: Error | null = null;
  private readonly onData = (chunk: Buffer): void => {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    if (this.buffer.length > HIGH_WATER) this.socket.pause();
    this.notify();
  };
  private readonly onError = (error: Error): void => {
    this.fail(new WireError('lost', error.message, error));
  };
  private readonly onClose = (): void => {
    this.fail(new WireError('lost', 'the server closed the connection'));
  };

  constructor(
    socket: net.Socket,
    private readonly timeoutMs: number,
  ) {
    this.socket = socket;
    this.attach(socket);
  }

  private attach(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('end', this.onClose);
  }

  /**
   * Hands the socket over (for the TLS upgrade) and returns whatever the server sent that has not
   * been read yet. The error listener stays so a late error on the old socket is never unhandled.
   */
  detach(): { socket: net.Socket; unread: Buffer } {
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    this.socket.off('end', this.onClose);
    this.socket.off('error', this.onError);
    this.socket.on('error', () => {});
    const unread = this.buffer;
    this.buffer = EMPTY;
    return { socket: this.socket, unread };
  }

  /** Continues on the upgraded socket. */
  replace(socket: net.Socket): void {
    this.socket = socket;
    this.attach(socket);
    socket.resume();
  }

  get failed(): Error | null {
    return this.failure;
  }

  /** Ends the connection with this error; pending and later reads reject with it. */
  fail(error: Error): void {
    if (!this.failure) this.failure = error;
    this.socket.destroy();
    this.notify();
  }

  destroy(): void {
    if (!this.failure) this.failure = new WireError('lost', 'the connection was closed');
    this.socket.destroy();
    this.notify();
  }

  write(data: string | Buffer): void {
    if (this.failure) throw this.failure;
    this.socket.write(data);
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private take(bytes: number): Buffer {
    const taken = this.buffer.subarray(0, bytes);
    this.buffer = bytes >= this.buffer.length ? EMPTY : this.buffer.subarray(bytes);
    if (this.socket.isPaused() && this.buffer.length < HIGH_WATER / 2) this.socket.resume();
    return taken;
  }

  private async more(): Promise<void> {
    if (this.failure) throw this.failure;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        timer = setTimeout(() => {
          this.fail(new WireError('timeout', `no answer within ${Math.round(this.timeoutMs / 1000)} s`));
        }, this.timeoutMs);
      });
    } finally {
      clearTimeout(timer);
    }
    // Data that arrived together with a failure is still delivered; the failure shows on the next wait.
    if (this.failure && !this.buffer.length) throw this.failure;
  }

  /** One line without its line ending (CRLF, or a bare LF from a sloppy server). */
  async readLine(maxLength: number): Promise<Buffer> {
    for (;;) {
      const lf = this.buffer.indexOf(LF);
      if (lf !== -1) {
        if (lf > maxLength) break;
        const line = this.take(lf + 1);
        return line.subarray(0, line.length > 1 && line[line.length - 2] === CR ? line.length - 2 : line.length - 1);
      }
      if (this.buffer.length > maxLength) break;
      await this.more();
    }
    this.fail(new WireError('too_long', `the server sent a line longer than ${maxLength} bytes`));
    throw this.failure!;
  }

  /**
   * The body of a multi-line response up to its terminating ".", dot-unstuffed, byte for byte.
   * A body longer than maxBytes is read to its end and dropped: null.
   */
  async readMultiline(maxBytes: number): Promise<Buffer | null> {
    const parts: Buffer[] = [];
    let size = 0;
    let overflow = false;
    let discarded = 0;
    let atLineStart = true;
    let dot = false;
    let dotCr = false;
    const emit = (bytes: Buffer): void => {
      if (overflow) {
        discarded += bytes.length;
        if (discarded > MAX_DISCARD) {
          this.fail(new WireError('too_long', `the server sent more than ${maxBytes + MAX_DISCARD} bytes in one response`));
        }
        return;
      }
      if (size + bytes.length > maxBytes) {
        overflow = true;
        parts.length = 0;
        discarded = size + bytes.length;
        return;
      }
      parts.push(bytes);
      size += bytes.length;
    };
    for (;;) {
      if (!this.buffer.length) {
        await this.more();
        continue;
      }
      const chunk = this.buffer;
      let pos = 0;
      let done = false;
      while (pos < chunk.length) {
        const byte = chunk[pos]!;
        if (dotCr) {
          dotCr = false;
          if (byte === LF) {
            pos += 1;
            done = true;
            break;
          }
          // ".\r" followed by more text: the dot was stuffing and the CR is content.
          emit(CR_BYTE);
          atLineStart = false;
          continue;
        }
        if (dot) {
          dot = false;
          if (byte === CR) {
            dotCr = true;
            pos += 1;
            continue;
          }
          if (byte === LF) {
            pos += 1;
            done = true;
            break;
          }
          // A stuffed dot: it is dropped and the line goes on from this byte.
          atLineStart = false;
        }
        if (atLineStart && byte === DOT) {
          dot = true;
          pos += 1;
          continue;
        }
        const lf = chunk.indexOf(LF, pos);
        const end = lf === -1 ? chunk.length : lf + 1;
        emit(chunk.subarray(pos, end));
        pos = end;
        atLineStart = lf !== -1;
      }
      this.take(pos);
      if (done) return overflow ? null : Buffer.concat(parts, size);
      if (this.failure) throw this.failure;
    }
  }
}
