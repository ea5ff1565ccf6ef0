import { promises as fs, type Dirent } from 'node:fs';
import path from 'node:path';

const byName = (a: Dirent, b: Dirent) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Every file to import under `root`, in sorted order: a file is itself; a directory is walked
 * recursively; a maildir (a directory with `cur/` and `new/`) gives the messages in `cur/` and
 * `new/` only (never `tmp/`, where deliveries are still being written). Dotfiles and dot
 * directories (Maildir++ subfolders, `.git`) are skipped. Symlinks are followed once.
 */
export async function* listImportFiles(root: string): AsyncIterable<string> {
  const stat = await fs.stat(root);
  if (!stat.isDirectory()) {
    yield root;
    return;
  }
  yield* walk(root, new Set());
}

async function* walk(dir: string, visited: Set<string>): AsyncGenerator<string> {
  const real = await fs.realpath(dir);
  if (visited.has(real)) return;
  visited.add(real);
  const entries = (await fs.readdir(dir, { withFileTypes: true })).filter((entry) => !entry.name.startsWith('.')).sort(byName);
  const kinds = new Map<string, 'file' | 'dir' | null>();
  for (const entry of entries) kinds.set(entry.name, await kindOf(dir, entry));

  if (kinds.get('cur') === 'dir' && kinds.get('new') === 'dir') {
    for (const sub of ['cur', 'new']) {
      const files = (await fs.readdir(path.join(dir, sub), { withFileTypes: true }))
        .filter((entry) => !entry.name.startsWith('.'))
        .sort(byName);
      for (const entry of files) {
        if ((await kindOf(path.join(dir, sub), entry)) === 'file') yield path.join(dir, sub, entry.name);
      }
    }
    return;
  }
  for (const entry of entries) {
    const kind = kinds.get(entry.name);
    if (kind === 'file') yield path.join(dir, entry.name);
    else if (kind === 'dir') yield* walk(path.join(dir, entry.name), visited);
  }
}

async function kindOf(dir: string, entry: Dirent): Promise<'file' | 'dir' | null> {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'dir';
  if (!entry.isSymbolicLink()) return null;
  try {
    const stat = await fs.stat(path.join(dir, entry.name));
    return stat.isFile() ? 'file' : stat.isDirectory() ? 'dir' : null;
  } catch {
    // a dangling link
    return null;
  }
}
