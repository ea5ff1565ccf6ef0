export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Keys whose values never reach a log line, whatever their nesting. */
const SECRET_KEY = /pass(word)?|secret|token|authorization|cookie|api[-_]?key|credential|private|seal|^key$|keys$/i;

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) ? '[redacted]' : redact(inner, depth + 1);
  }
  return out;
}

export interface LoggerOptions {
  level?: LogLevel;
  write?: (line: string) => void;
  base?: LogFields;
}

const FLUSH_AFTER_MS = 50;
const FLUSH_AT_BYTES = 64 * 1024;

/**
 * Lines for stderr, written together: a busy server logs a line per request, and stderr to a file
 * or pipe is a blocking write each time. Pending lines go out within 50 ms, at 64 KiB, at once for
 * warnings and errors, and synchronously when the process exits.
 */
class StderrLines {
  private pending: string[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private hooked = false;

  write(line: string, urgent: boolean): void {
    this.pending.push(line, '\n');
    this.bytes += line.length + 1;
    if (!this.hooked) {
      this.hooked = true;
      process.once('exit', () => this.flush());
    }
    if (urgent || this.bytes >= FLUSH_AT_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_AFTER_MS).unref();
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.bytes = 0;
    process.stderr.write(text);
  }
}

const stderrLines = new StderrLines();

/** JSON lines on stderr (stdout stays free for command output such as `import --json`). */
export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = ORDER[options.level ?? 'info'];
  const custom = options.write;
  const base = options.base ?? {};
  const log = (level: LogLevel, message: string, fields?: LogFields) => {
    if (ORDER[level] < threshold) return;
    const entry = { time: new Date().toISOString(), level, msg: message, ...(redact({ ...base, ...fields }) as LogFields) };
    const line = JSON.stringify(entry);
    if (custom) custom(line);
    else stderrLines.write(line, ORDER[level] >= ORDER.warn);
  };
  return {
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
    child: (fields) => createLogger({ ...options, base: { ...base, ...fields } }),
  };
}

export const silentLogger: Logger = createLogger({ write: () => {} });
