import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createKeyring,
  generateKey,
  KeyringError,
  keyMaterial,
  loadOrCreateKeyFile,
  parseKeyring,
  resolveKeyring,
} from '../../../src/lib/crypto/keyring.js';

const key32 = (fill?: number) => (fill === undefined ? randomBytes(32) : Buffer.alloc(32, fill));
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

describe('parseKeyring', () => {
  it('uses the first key to seal and keeps every key for opening', () => {
    const a = key32();
    const b = key32();
    const keyring = parseKeyring(`new-key:${b64(a)}, old_key:${b64url(b)}`);
    expect(keyring.sealingKeyId).toBe('new-key');
    expect(keyring.keyIds).toEqual(['new-key', 'old_key']);
    expect(keyring.has('old_key')).toBe(true);
    expect(keyring.has('other')).toBe(false);
    expect(Buffer.from(keyMaterial(keyring, 'new-key')!)).toEqual(a);
    expect(Buffer.from(keyMaterial(keyring, 'old_key')!)).toEqual(b);
  });

  it('accepts base64 and base64url, padded or not, with surrounding whitespace', () => {
    const k = Buffer.from('fb'.repeat(32), 'hex'); // encodes with "+/" and "-_"
    for (const text of [b64(k), b64(k).replace(/=+$/, ''), b64url(k), `${b64url(k)}=`]) {
      const keyring = parseKeyring(`  k1 : ${text}  `);
      expect(Buffer.from(keyMaterial(keyring, 'k1')!)).toEqual(k);
    }
  });

  it('accepts an id of exactly 32 characters', () => {
    const id = 'a'.repeat(32);
    expect(parseKeyring(`${id}:${b64(key32())}`).sealingKeyId).toBe(id);
  });

  const secretKey = b64(key32(0x5a)); // "WlpaWlpa…" — easy to spot if echoed
  const bad: Array<{ name: string; text: string; entry: number; expect: RegExp; material: string }> = [
    { name: 'empty value', text: '   ', entry: 0, expect: /DMARCWATCH_KEYS is empty/, material: '' },
    { name: 'stray comma', text: `k1:${secretKey},`, entry: 2, expect: /entry 2 is empty/, material: secretKey },
    { name: 'no colon', text: secretKey, entry: 1, expect: /entry 1 is not in the form id:base64key/, material: secretKey },
    { name: 'empty id', text: `:${secretKey}`, entry: 1, expect: /entry 1 has no key id/, material: secretKey },
    { name: 'bad id characters', text: `k1:${secretKey},my key!:${secretKey}`, entry: 2, expect: /entry 2: key id must be 1-32 characters/, material: secretKey },
    { name: 'id too long', text: `${'k'.repeat(33)}:${secretKey}`, entry: 1, expect: /entry 1: key id must be 1-32/, material: secretKey },
    { name: 'key and id swapped', text: `${secretKey.slice(0, 43)}:k1`, entry: 1, expect: /entry 1: key id must be/, material: secretKey.slice(0, 43) },
    { name: 'empty key', text: 'k1:', entry: 1, expect: /entry 1 \(id "k1"\): key is not valid base64; expected exactly 32 bytes/, material: '' },
    { name: 'invalid base64 characters', text: `k1:${secretKey.slice(0, 20)}*${secretKey.slice(21)}`, entry: 1, expect: /entry 1 \(id "k1"\): key is not valid base64/, material: secretKey.slice(0, 20) },
    { name: 'mixed base64 alphabets', text: `k1:${'+_'.repeat(21)}A=`, entry: 1, expect: /entry 1 \(id "k1"\): key is not valid base64/, material: '+_+_+_' },
    { name: 'bad padding', text: `k1:${secretKey.replace(/=$/, '')}===`, entry: 1, expect: /entry 1 \(id "k1"\): key is not valid base64/, material: secretKey.slice(0, 40) },
    { name: 'non-canonical final character', text: `k1:${secretKey.slice(0, 42)}b=`, entry: 1, expect: /entry 1 \(id "k1"\): key is not valid base64/, material: secretKey.slice(0, 42) },
    { name: 'key too short', text: `k1:${b64(key32())},k2:${b64(Buffer.alloc(16, 0x5a))}`, entry: 2, expect: /entry 2 \(id "k2"\): key decodes to 16 bytes; expected exactly 32 bytes/, material: b64(Buffer.alloc(16, 0x5a)) },
    { name: 'key too long', text: `k1:${b64(Buffer.alloc(64, 0x5a))}`, entry: 1, expect: /entry 1 \(id "k1"\): key decodes to 64 bytes/, material: b64(Buffer.alloc(64, 0x5a)) },
    { name: 'duplicate id', text: `k1:${b64(key32())},k2:${secretKey},k1:${secretKey}`, entry: 3, expect: /entry 3: key id "k1" is used by an earlier entry/, material: secretKey },
  ];

  it.each(bad)('rejects $name, naming the entry without echoing key material', ({ text, entry, expect: pattern, material }) => {
    let error: unknown;
    try {
      parseKeyring(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KeyringError);
    const { message } = error as KeyringError;
    expect(message).toMatch(pattern);
    if (entry > 0) expect((error as KeyringError).entry).toBe(entry);
    if (material !== '') expect(message).not.toContain(material.slice(0, 12));
    expect(message).not.toContain('WlpaWlpa');
  });

  it('names the source it was given', () => {
    expect(() => parseKeyring('nope', 'key file /x/keys')).toThrow(/^key file \/x\/keys entry 1/);
  });
});

describe('keyring secrecy', () => {
  it('never reveals key bytes through JSON.stringify, util.inspect, spreading or property listing', () => {
    const a = key32();
    const b = key32();
    const keyring = parseKeyring(`k1:${b64(a)},k2:${b64(b)}`);
    const views = [
      JSON.stringify(keyring),
      JSON.stringify({ config: { keyring } }),
      inspect(keyring),
      inspect(keyring, { showHidden: true, depth: Infinity, customInspect: false }),
      inspect({ ...keyring }, { showHidden: true, depth: Infinity }),
      String(keyring),
      `${Object.getOwnPropertyNames(keyring).join(',')}${Object.getOwnPropertySymbols(keyring).length}`,
    ];
    for (const view of views) {
      for (const key of [a, b]) {
        expect(view).not.toContain(b64(key).slice(0, 16));
        expect(view).not.toContain(b64url(key).slice(0, 16));
        expect(view).not.toContain(key.toString('hex').slice(0, 16));
        expect(view).not.toContain(`${key[0]}, ${key[1]}, ${key[2]}, ${key[3]}`);
      }
    }
    expect(JSON.parse(JSON.stringify(keyring))).toEqual({ sealingKeyId: 'k1', keyIds: ['k1', 'k2'] });
    expect(inspect(keyring)).toContain('k2');
  });

  it('is immutable', () => {
    const keyring = parseKeyring(`k1:${b64(key32())}`);
    expect(() => {
      (keyring as { sealingKeyId: string }).sealingKeyId = 'other';
    }).toThrow(TypeError);
    expect(() => (keyring.keyIds as string[]).push('k9')).toThrow(TypeError);
  });

  it('copies key bytes, so later changes to the caller\'s buffer do not affect it', () => {
    const key = key32(1);
    const keyring = createKeyring([{ id: 'k1', key }]);
    key.fill(0);
    expect(keyMaterial(keyring, 'k1')![0]).toBe(1);
  });

  it('refuses objects that are not keyrings', () => {
    const fake = { sealingKeyId: 'k1', keyIds: ['k1'], has: () => true };
    expect(() => keyMaterial(fake, 'k1')).toThrow(/not a keyring/);
  });
});

describe('generateKey', () => {
  it('makes a parseable id:base64 entry with a dated id and a fresh random key', () => {
    const entry = generateKey(new Date('2025-03-04T23:59:00Z'));
    expect(entry).toMatch(/^k20250304-[0-9a-f]{6}:[A-Za-z0-9+/]{43}=$/);
    const keyring = parseKeyring(entry);
    expect(keyring.sealingKeyId).toMatch(/^k20250304-/);
    const entries = new Set(Array.from({ length: 50 }, () => generateKey()));
    expect(entries.size).toBe(50);
    expect(new Set([...entries].map((e) => e.split(':')[1])).size).toBe(50);
  });
});

describe('key file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dmarcwatch-keys-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const posix = process.platform !== 'win32';

  it('creates the file with mode 0600 (and its directory) on first use, then reuses it', async () => {
    const file = path.join(dir, 'nested', 'keys');
    const first = await loadOrCreateKeyFile(file);
    expect(first.created).toBe(true);
    expect(first.keyring.keyIds).toHaveLength(1);
    if (posix) {
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect((await stat(path.dirname(file))).mode & 0o077).toBe(0);
    }
    const text = await readFile(file, 'utf8');
    expect(text).toContain(`${first.keyring.sealingKeyId}:`);
    expect(text).toMatch(/^# /);

    const second = await loadOrCreateKeyFile(file);
    expect(second.created).toBe(false);
    expect(second.keyring.sealingKeyId).toBe(first.keyring.sealingKeyId);
    expect(Buffer.from(keyMaterial(second.keyring, second.keyring.sealingKeyId)!)).toEqual(
      Buffer.from(keyMaterial(first.keyring, first.keyring.sealingKeyId)!),
    );
    expect(await readdir(path.dirname(file))).toEqual(['keys']); // no temp files left behind
  });

  it.skipIf(!posix)('refuses a file other users can read, and says how to fix it', async () => {
    const file = path.join(dir, 'keys');
    const key = b64(key32(0x5a));
    await writeFile(file, `k1:${key}\n`, { mode: 0o644 });
    await chmod(file, 0o644);
    const error = await loadOrCreateKeyFile(file).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(KeyringError);
    expect((error as Error).message).toContain('mode 0644');
    expect((error as Error).message).toContain(`chmod 600 ${file}`);
    expect((error as Error).message).not.toContain(key.slice(0, 12));
    expect(await readFile(file, 'utf8')).toBe(`k1:${key}\n`); // untouched

    await chmod(file, 0o600);
    expect((await loadOrCreateKeyFile(file)).keyring.sealingKeyId).toBe('k1');
  });

  it.skipIf(!posix)('refuses a group-writable file', async () => {
    const file = path.join(dir, 'keys');
    await writeFile(file, `k1:${b64(key32())}\n`);
    await chmod(file, 0o620);
    await expect(loadOrCreateKeyFile(file)).rejects.toThrow(/chmod 600/);
  });

  it('reads several keys, one per line, skipping comments; the first seals', async () => {
    const file = path.join(dir, 'keys');
    await writeFile(file, `# rotated 2025-01-01\nk2:${b64(key32())}\n\n# old\nk1:${b64url(key32())}\n`, { mode: 0o600 });
    const { keyring, created } = await loadOrCreateKeyFile(file);
    expect(created).toBe(false);
    expect(keyring.keyIds).toEqual(['k2', 'k1']);
  });

  it('does not replace an empty or broken key file', async () => {
    const file = path.join(dir, 'keys');
    await writeFile(file, '# nothing here\n', { mode: 0o600 });
    await expect(loadOrCreateKeyFile(file)).rejects.toThrow(/contains no keys.*restore it from a backup/);
    await writeFile(file, 'k1:short\n', { mode: 0o600 });
    await expect(loadOrCreateKeyFile(file)).rejects.toThrow(/key file .* entry 1 \(id "k1"\): key/);
    expect(await readFile(file, 'utf8')).toBe('k1:short\n');
  });

  it('gives concurrent first starts the same single key', async () => {
    const file = path.join(dir, 'keys');
    const results = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateKeyFile(file)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.keyring.sealingKeyId)).size).toBe(1);
    expect(await readdir(dir)).toEqual(['keys']);
  });
});

describe('resolveKeyring', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dmarcwatch-keys-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prefers DMARCWATCH_KEYS and then creates no key file', async () => {
    const keyFilePath = path.join(dir, 'keys');
    const result = await resolveKeyring({ keys: `env1:${b64(key32())}`, database: 'pglite', keyFilePath });
    expect(result).toMatchObject({ source: 'env', created: false });
    expect(result.keyring.sealingKeyId).toBe('env1');
    expect(await readdir(dir)).toEqual([]);
  });

  it('falls back to the key file for the embedded database', async () => {
    const result = await resolveKeyring({ keys: undefined, database: 'pglite', keyFilePath: path.join(dir, 'keys') });
    expect(result).toMatchObject({ source: 'file', created: true });
  });

  it('requires DMARCWATCH_KEYS with PostgreSQL', async () => {
    await expect(resolveKeyring({ keys: '', database: 'postgres', keyFilePath: path.join(dir, 'keys') })).rejects.toThrow(
      /DMARCWATCH_KEYS must be set when DATABASE_URL is used/,
    );
    expect(await readdir(dir)).toEqual([]);
  });
});
