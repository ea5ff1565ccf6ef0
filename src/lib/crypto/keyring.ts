import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { inspect } from 'node:util';

export const KEY_BYTES = 32;
export const MAX_KEY_ID_LENGTH = 32;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const ID_RULE = `key id must be 1-${MAX_KEY_ID_LENGTH} characters of A-Z, a-z, 0-9, "_" or "-"`;
const KEY_RULE = `expected exactly ${KEY_BYTES} bytes encoded as base64 or base64url (44 characters with padding, 43 without)`;
const EXPECTED_FORM = 'expected comma-separated id:base64key entries, each key 32 random bytes (e.g. from `openssl rand -base64 32`)';

/**
 * The keys that seal and open stored secrets. The first key seals new values; every key opens.
 * Key bytes are not properties of this object (they live in a module-private WeakMap), so
 * serialising, logging or inspecting a keyring can never reveal them.
 */
export interface Keyring {
  readonly sealingKeyId: string;
  readonly keyIds: readonly string[];
  has(id: string): boolean;
}

export class KeyringError extends Error {
  constructor(
    message: string,
    /** 1-based position of the offending entry, when the problem is with one entry. */
    readonly entry?: number,
  ) {
    super(message);
    this.name = 'KeyringError';
  }
}

const material = new WeakMap<Keyring, ReadonlyMap<string, Uint8Array>>();

class KeyringImpl implements Keyring {
  readonly sealingKeyId: string;
  readonly keyIds: readonly string[];

  constructor(keys: ReadonlyMap<string, Uint8Array>) {
    const ids = [...keys.keys()];
    this.sealingKeyId = ids[0] as string;
    this.keyIds = Object.freeze(ids);
    material.set(this, keys);
    Object.freeze(this);
  }

  has(id: string): boolean {
    return material.get(this)?.has(id) ?? false;
  }

  toJSON(): { sealingKeyId: string; keyIds: readonly string[] } {
    return { sealingKeyId: this.sealingKeyId, keyIds: this.keyIds };
  }

  [inspect.custom](): string {
    return `Keyring { sealingKeyId: ${JSON.stringify(this.sealingKeyId)}, keyIds: ${JSON.stringify(this.keyIds)} }`;
  }
}

/**
 * Raw key bytes for `id`, or undefined when the keyring does not hold it.
 * @internal for the sealing code in this folder; never log or persist the result.
 */
export function keyMaterial(keyring: Keyring, id: string): Uint8Array | undefined {
  const keys = material.get(keyring);
  if (!keys) throw new TypeError('not a keyring: create one with parseKeyring(), createKeyring() or loadOrCreateKeyFile()');
  return keys.get(id);
}

/** Builds a keyring from decoded keys; the first entry becomes the sealing key. */
export function createKeyring(entries: ReadonlyArray<{ id: string; key: Uint8Array }>, source = 'keyring'): Keyring {
  if (entries.length === 0) throw new KeyringError(`${source} contains no keys; expected at least one id:base64key entry`);
  const keys = new Map<string, Uint8Array>();
  entries.forEach(({ id, key }, i) => {
    const where = `${source} entry ${i + 1}`;
    if (!KEY_ID.test(id)) throw new KeyringError(`${where}: ${ID_RULE}`, i + 1);
    if (keys.has(id)) throw new KeyringError(`${where}: key id "${id}" is used by an earlier entry; each key needs its own id`, i + 1);
    if (key.length !== KEY_BYTES) {
      throw new KeyringError(`${where} (id "${id}"): key is ${key.length} bytes; expected exactly ${KEY_BYTES} bytes`, i + 1);
    }
    keys.set(id, Uint8Array.from(key));
  });
  return new KeyringImpl(keys);
}

/**
 * Parses `DMARCWATCH_KEYS`: comma-separated `id:base64key` entries, e.g. `k2:…,k1:…`.
 * Error messages name the entry (1-based) and what is expected, never the key text itself.
 */
export function parseKeyring(text: string, source = 'DMARCWATCH_KEYS'): Keyring {
  if (text.trim() === '') throw new KeyringError(`${source} is empty; ${EXPECTED_FORM}`);
  const entries = text.split(',').map((raw, i) => {
    const n = i + 1;
    const where = `${source} entry ${n}`;
    const entry = raw.trim();
    if (entry === '') throw new KeyringError(`${where} is empty (check for a stray comma); ${EXPECTED_FORM}`, n);
    const colon = entry.indexOf(':');
    if (colon < 0) throw new KeyringError(`${where} is not in the form id:base64key (no ":" found)`, n);
    const id = entry.slice(0, colon).trim();
    if (id === '') throw new KeyringError(`${where} has no key id before ":"; ${ID_RULE}`, n);
    // An invalid id is not echoed: it may be key material pasted the wrong way round.
    if (!KEY_ID.test(id)) throw new KeyringError(`${where}: ${ID_RULE}`, n);
    const decoded = decodeBase64Strict(entry.slice(colon + 1).trim());
    if (decoded === null) throw new KeyringError(`${where} (id "${id}"): key is not valid base64; ${KEY_RULE}`, n);
    if (decoded.length !== KEY_BYTES) {
      throw new KeyringError(`${where} (id "${id}"): key decodes to ${decoded.length} bytes; ${KEY_RULE}`, n);
    }
    return { id, key: decoded };
  });
  return createKeyring(entries, source);
}

/** Strict base64 / base64url: one alphabet, correct padding, canonical trailing bits. */
function decodeBase64Strict(text: string): Uint8Array | null {
  if (text === '') return null;
  const unpadded = text.replace(/={1,2}$/, '');
  const padded = unpadded.length !== text.length;
  let urlSafe: boolean;
  if (/^[A-Za-z0-9+/]*$/.test(unpadded)) urlSafe = false;
  else if (/^[A-Za-z0-9_-]*$/.test(unpadded)) urlSafe = true;
  else return null;
  if (unpadded.length % 4 === 1) return null;
  if (padded && text.length % 4 !== 0) return null;
  const bytes = Buffer.from(unpadded, urlSafe ? 'base64url' : 'base64');
  const reencoded = bytes.toString(urlSafe ? 'base64url' : 'base64').replace(/=+$/, '');
  if (reencoded !== unpadded) return null;
  const out = Uint8Array.from(bytes);
  bytes.fill(0);
  return out;
}

/** A new `id:base64key` entry: id `k<yyyymmdd>-<random hex>`, key 32 random bytes. */
export function generateKey(now: Date = new Date()): string {
  const date = now.toISOString().slice(0, 10).replaceAll('-', '');
  const id = `k${date}-${randomBytes(3).toString('hex')}`;
  return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
}

/**
 * Keyring for this process: `DMARCWATCH_KEYS` when set; otherwise, with the embedded database
 * only, a key file in the data directory (created on first start). With PostgreSQL the keys
 * must come from the environment, so every server sharing the database uses the same keys and
 * a database backup never carries its own keys.
 */
export async function resolveKeyring(options: {
  keys: string | undefined;
  database: 'postgres' | 'pglite';
  keyFilePath: string;
}): Promise<{ keyring: Keyring; source: 'env' | 'file'; created: boolean }> {
  if (options.keys !== undefined && options.keys.trim() !== '') {
    return { keyring: parseKeyring(options.keys), source: 'env', created: false };
  }
  if (options.database === 'postgres') {
    throw new KeyringError(
      'DMARCWATCH_KEYS must be set when DATABASE_URL is used. Create a key with `openssl rand -base64 32` ' +
        'and set DMARCWATCH_KEYS=k1:<that value> on every server that uses this database; keep a copy ' +
        'apart from database backups.',
    );
  }
  const { keyring, created } = await loadOrCreateKeyFile(options.keyFilePath);
  return { keyring, source: 'file', created };
}

/**
 * Reads the key file at `filePath`, creating it (mode 0600) with one new key when missing.
 * The file holds one `id:base64key` per line (first line seals; `#` comments allowed). A file
 * that other users can read or write is refused rather than silently re-permissioned, since it
 * may already have leaked.
 */
export async function loadOrCreateKeyFile(filePath: string): Promise<{ keyring: Keyring; created: boolean }> {
  const existing = await readKeyFile(filePath);
  if (existing) return { keyring: existing, created: false };
  const created = await createKeyFile(filePath);
  if (created) return { keyring: created, created: true };
  // Another process created the file between our read and our write: use its key, never ours.
  const raced = await readKeyFile(filePath);
  if (!raced) throw new KeyringError(`Key file ${filePath} disappeared while it was being created; start again`);
  return { keyring: raced, created: false };
}

async function readKeyFile(filePath: string): Promise<Keyring | null> {
  let handle;
  try {
    handle = await open(filePath, 'r');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null;
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new KeyringError(`Key file ${filePath} is not a regular file`);
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
      throw new KeyringError(
        `Key file ${filePath} is accessible to other users (mode ${mode}); it holds the keys that protect ` +
          `stored mailbox passwords and tokens. Restrict it with: chmod 600 ${filePath}` +
          ' (and consider rotating the keys if others may have read it)',
      );
    }
    const text = await handle.readFile('utf8');
    const entries = text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    if (entries.length === 0) {
      throw new KeyringError(
        `Key file ${filePath} contains no keys. If it was emptied by accident, restore it from a backup: ` +
          'secrets sealed with the lost keys cannot be opened otherwise',
      );
    }
    return parseKeyring(entries.join(','), `key file ${filePath}`);
  } finally {
    await handle.close();
  }
}

async function createKeyFile(filePath: string): Promise<Keyring | null> {
  const dir = path.dirname(filePath);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const entry = generateKey();
  const keyring = parseKeyring(entry, 'generated key');
  const content = [
    `# DMARC Watch sealing keys, created ${new Date().toISOString()}.`,
    '# Stored mailbox passwords and OAuth tokens are encrypted with these keys: back this file up',
    '# (separately from the database). Without it those secrets cannot be recovered.',
    '# One id:base64key per line. The first key seals new values; every key opens existing ones.',
    entry,
    '',
  ].join('\n');

  const tmp = `${filePath}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(tmp, { force: true });
    throw error;
  }
  await handle.close();

  try {
    // link() rather than rename(): it fails when the file exists, so two processes starting at
    // once can never replace a key the other has already used.
    await link(tmp, filePath);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'EEXIST') {
      await rm(tmp, { force: true });
      return null;
    }
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK'].includes(code ?? '')) {
      await rm(tmp, { force: true });
      throw error;
    }
    // Filesystem without hard links.
    if (await exists(filePath)) {
      await rm(tmp, { force: true });
      return null;
    }
    await rename(tmp, filePath);
    await syncDirectory(dir);
    return keyring;
  }
  await rm(tmp, { force: true });
  await syncDirectory(dir);
  return keyring;
}

async function exists(filePath: string): Promise<boolean> {
  try {
    await stat(filePath);
    return true;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw error;
  }
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Not supported on every platform (e.g. Windows); the file itself was already synced.
  }
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}
