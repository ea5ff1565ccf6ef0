import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export class DataDirLockedError extends Error {
  constructor(dir: string, holder: string, lockFile: string) {
    super(
      `The data directory ${dir} is in use by another DMARC Watch process (${holder}). ` +
        'The embedded database allows one process at a time: stop the other one, or set DATABASE_URL to use PostgreSQL. ' +
        `If that process is gone for good (e.g. its container was removed), delete ${lockFile}.`,
    );
    this.name = 'DataDirLockedError';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes an exclusive lock on `dir`: a lockfile holding our host name and pid. A lock left by a dead
 * process on this host is taken over; one from another host (another container sharing the volume)
 * cannot be checked, so it is respected.
 */
export function lockDataDir(dir: string): () => void {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'dmarcwatch.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, `${os.hostname()} ${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      let released = false;
      return () => {
        if (released) return;
        released = true;
        fs.rmSync(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const [host = '', pidText = ''] = fs.readFileSync(file, 'utf8').trim().split(/\s+/);
      const pid = Number(pidText);
      const holder = `host ${host}, pid ${pidText}`;
      if (host !== os.hostname()) throw new DataDirLockedError(dir, holder, file);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) throw new DataDirLockedError(dir, holder, file);
      fs.rmSync(file, { force: true });
    }
  }
  throw new Error(`Could not lock the data directory ${dir}`);
}
