export interface Progress {
  update(done: number, detail?: string): void;
  finish(): void;
}

const BAR_WIDTH = 28;

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/**
 * A progress bar on a terminal; on a pipe or in a log, a plain line at most every few seconds.
 * Writes to stderr so stdout stays clean for `--json`.
 */
export function createProgress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  const started = Date.now();
  const tty = stream.isTTY === true;
  let lastPlain = 0;
  let lastDraw = 0;
  let lastDone = 0;
  const render = (done: number, detail = '') => {
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const elapsed = (Date.now() - started) / 1000;
    const eta = done > 0 ? (elapsed / done) * (total - done) : Number.NaN;
    const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
    if (tty) {
      const filled = Math.round(fraction * BAR_WIDTH);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`;
      const columns = stream.columns ?? 100;
      const line = `${label} ${bar} ${pct} ${done}/${total} eta ${formatDuration(eta)} ${detail}`;
      stream.write(`\r\x1b[2K${line.slice(0, columns - 1)}`);
    } else {
      stream.write(`${label}: ${done}/${total} (${pct.trim()}) elapsed ${formatDuration(elapsed)}${detail ? ` — ${detail}` : ''}\n`);
    }
  };
  return {
    update(done, detail) {
      lastDone = done;
      const now = Date.now();
      if (tty ? now - lastDraw < 80 : now - lastPlain < 5000) return;
      lastDraw = lastPlain = now;
      render(done, detail);
    },
    finish() {
      render(Math.max(lastDone, total));
      if (tty) stream.write('\n');
    },
  };
}
