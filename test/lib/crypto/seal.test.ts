import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createKeyring, parseKeyring, type Keyring } from '../../../src/lib/crypto/keyring.js';
import { initCrypto, open, reseal, seal, SealError, sealedKeyId, type SealBinding } from '../../../src/lib/crypto/seal.js';

const key32 = () => randomBytes(32);
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const where: SealBinding = { table: 'mailbox', column: 'password_sealed', rowId: 42 };
const PLAINTEXT = 'correct horse battery staple';

function openError(keyring: Keyring, sealed: Uint8Array, binding: SealBinding = where): SealError {
  try {
    open(keyring, sealed, binding);
  } catch (error) {
    if (error instanceof SealError) return error;
    throw error;
  }
  throw new Error('expected open() to fail');
}

let keyA: Buffer;
let keyring: Keyring;

beforeAll(async () => {
  await initCrypto();
  await initCrypto(); // idempotent
  keyA = key32();
  keyring = parseKeyring(`kA:${b64(keyA)}`);
});

describe('seal / open', () => {
  it('round-trips text, including empty, non-ASCII and long values', () => {
    for (const text of ['', PLAINTEXT, 'pässwörd 🔑 パスワード', 'x'.repeat(100_000)]) {
      const sealed = seal(keyring, text, where);
      expect(sealed).toBeInstanceOf(Uint8Array);
      expect(open(keyring, sealed, where)).toBe(text);
    }
  });

  it('lays out version, key id, nonce and ciphertext as documented', () => {
    const sealed = seal(keyring, 'abc', where);
    expect(sealed[0]).toBe(1);
    expect(sealed[1]).toBe(2);
    expect(Buffer.from(sealed.subarray(2, 4)).toString('ascii')).toBe('kA');
    expect(sealed.length).toBe(2 + 2 + 24 + 3 + 16);
    expect(sealedKeyId(sealed)).toBe('kA');
    expect(Buffer.from(sealed).includes(Buffer.from('abc'))).toBe(false);
  });

  it('opens values read back as Buffer (as pg returns bytea)', () => {
    const sealed = Buffer.from(seal(keyring, PLAINTEXT, where));
    expect(open(keyring, sealed, where)).toBe(PLAINTEXT);
  });

  it('treats numeric and string row ids as the same row', () => {
    const sealed = seal(keyring, PLAINTEXT, { ...where, rowId: 42 });
    expect(open(keyring, sealed, { ...where, rowId: '42' })).toBe(PLAINTEXT);
    expect(open(keyring, sealed, { ...where, rowId: 42n })).toBe(PLAINTEXT);
  });

  it('fails to open when any single byte is flipped', () => {
    const sealed = seal(keyring, PLAINTEXT, where);
    const headerLength = 2 + 2;
    for (let i = 0; i < sealed.length; i++) {
      for (const mask of [0x01, 0x80]) {
        const copy = Uint8Array.from(sealed);
        copy[i] = (copy[i] as number) ^ mask;
        const error = openError(keyring, copy);
        if (i >= headerLength) expect(error.code, `byte ${i}`).toBe('tampered_or_moved');
        else expect(['malformed', 'unknown_key'], `byte ${i}`).toContain(error.code);
      }
    }
  });

  it('fails to open a truncated or extended value', () => {
    const sealed = seal(keyring, PLAINTEXT, where);
    for (let length = 0; length < sealed.length; length++) {
      const error = openError(keyring, sealed.subarray(0, length));
      expect(['malformed', 'tampered_or_moved']).toContain(error.code);
      if (length < 2 + 2 + 24 + 16) expect(error.code).toBe('malformed');
    }
    const extended = new Uint8Array(sealed.length + 1);
    extended.set(sealed);
    expect(openError(keyring, extended).code).toBe('tampered_or_moved');
  });

  it.each([
    ['another row', { ...where, rowId: 43 }],
    ['another column', { ...where, column: 'oauth_refresh_token_sealed' }],
    ['another table', { ...where, table: 'smtp_relay' }],
    ['a look-alike binding', { table: 'mailbox.password', column: 'sealed', rowId: 42 }],
  ])('refuses a value moved to %s', (_name, moved) => {
    const sealed = seal(keyring, PLAINTEXT, where);
    const error = openError(keyring, sealed, moved);
    expect(error.code).toBe('tampered_or_moved');
    expect(error.message).toContain(`${moved.table}.${moved.column} (row ${moved.rowId})`);
  });

  it('binds the key id: relabelling a value with another id of the same key does not open', () => {
    const same = key32();
    const twins = createKeyring([
      { id: 'aa', key: same },
      { id: 'bb', key: same },
    ]);
    const sealed = seal(twins, PLAINTEXT, where);
    expect(sealedKeyId(sealed)).toBe('aa');
    const relabelled = Uint8Array.from(sealed);
    relabelled.set(Buffer.from('bb'), 2);
    expect(sealedKeyId(relabelled)).toBe('bb');
    expect(openError(twins, relabelled).code).toBe('tampered_or_moved');
  });

  it('reports a key missing from the keyring as unknown_key, naming the key id', () => {
    const sealed = seal(keyring, PLAINTEXT, where);
    const other = parseKeyring(`kB:${b64(key32())}`);
    const error = openError(other, sealed);
    expect(error.code).toBe('unknown_key');
    expect(error.keyId).toBe('kA');
    expect(error.message).toMatch(/sealed with key "kA", which is not in the keyring/);
  });

  it('reports a different key under the same id as tampered_or_moved', () => {
    const sealed = seal(keyring, PLAINTEXT, where);
    expect(openError(parseKeyring(`kA:${b64(key32())}`), sealed).code).toBe('tampered_or_moved');
  });

  it('reports malformed headers', () => {
    const sealed = seal(keyring, PLAINTEXT, where);
    const cases: Uint8Array[] = [
      new Uint8Array(0),
      Uint8Array.of(1),
      Uint8Array.from([2, ...sealed.subarray(1)]),
      Uint8Array.from([1, 0, ...sealed.subarray(2)]),
      Uint8Array.from([1, 33, ...sealed.subarray(2)]),
      Uint8Array.from([1, 2, 0x20, 0x41, ...sealed.subarray(4)]),
    ];
    for (const value of cases) expect(openError(keyring, value).code).toBe('malformed');
    expect(() => sealedKeyId(new Uint8Array(0))).toThrow(SealError);
  });

  it('never puts plaintext or key bytes in errors', () => {
    const secret = 'hunter2-very-secret-password';
    const sealed = seal(keyring, secret, where);
    const flipped = Uint8Array.from(sealed);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
    const errors = [
      openError(keyring, sealed, { ...where, rowId: 1 }),
      openError(keyring, flipped),
      openError(parseKeyring(`kZ:${b64(key32())}`), sealed),
      openError(keyring, sealed.subarray(0, 10)),
    ];
    for (const error of errors) {
      for (const text of [error.message, JSON.stringify(error), String(error), error.stack ?? '']) {
        expect(text).not.toContain(secret);
        expect(text).not.toContain(b64(keyA).slice(0, 12));
        expect(text).not.toContain(keyA.toString('hex').slice(0, 12));
      }
    }
  });

  it('uses a fresh nonce for every seal (10,000 seals)', () => {
    const nonces = new Set<string>();
    const ciphertexts = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const sealed = seal(keyring, 'same value', where);
      nonces.add(Buffer.from(sealed.subarray(4, 28)).toString('hex'));
      ciphertexts.add(Buffer.from(sealed.subarray(28)).toString('hex'));
    }
    expect(nonces.size).toBe(10_000);
    expect(ciphertexts.size).toBe(10_000);
  });

  it('refuses text that would not survive UTF-8, and bad bindings', () => {
    expect(() => seal(keyring, 'a\uD800b', where)).toThrow(/not well-formed Unicode/);
    expect(() => seal(keyring, 'x', { ...where, rowId: 1.5 })).toThrow(TypeError);
    expect(() => seal(keyring, 'x', { ...where, rowId: '' })).toThrow(TypeError);
    expect(() => seal(keyring, 'x', { ...where, table: '' })).toThrow(TypeError);
    expect(() => seal(keyring, 'x', { ...where, column: '' })).toThrow(TypeError);
  });
});

describe('key rotation', () => {
  it('opens values sealed under the old key once a new key is put first, and reseals under the new one', () => {
    const oldKey = key32();
    const newKey = key32();
    const before = parseKeyring(`k2024:${b64(oldKey)}`);
    const sealed = seal(before, PLAINTEXT, where);

    const after = parseKeyring(`k2025:${b64(newKey)},k2024:${b64(oldKey)}`);
    expect(open(after, sealed, where)).toBe(PLAINTEXT);
    expect(sealedKeyId(sealed)).not.toBe(after.sealingKeyId);
    expect(sealedKeyId(seal(after, PLAINTEXT, where))).toBe('k2025');

    const resealed = reseal(after, sealed, where);
    expect(sealedKeyId(resealed)).toBe('k2025');
    expect(open(parseKeyring(`k2025:${b64(newKey)}`), resealed, where)).toBe(PLAINTEXT);
    expect(openError(parseKeyring(`k2025:${b64(newKey)}`), sealed).code).toBe('unknown_key');
  });
});

describe('initialisation', () => {
  it('refuses to seal or open before initCrypto()', async () => {
    vi.resetModules();
    const fresh = await import('../../../src/lib/crypto/seal.js');
    expect(() => fresh.seal(keyring, 'x', where)).toThrow(/initCrypto\(\) must be awaited/);
    expect(() => fresh.open(keyring, new Uint8Array(50), where)).toThrow(/initCrypto\(\) must be awaited/);
    await fresh.initCrypto();
  });
});
