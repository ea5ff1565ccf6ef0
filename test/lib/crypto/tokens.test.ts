import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashToken, randomToken } from '../../../src/lib/crypto/tokens.js';

describe('randomToken', () => {
  it('is 32 random bytes of unpadded base64url by default', () => {
    const token = randomToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
  });

  it('puts the prefix first, as given, and honours the byte count', () => {
    expect(randomToken('dmw_')).toMatch(/^dmw_[A-Za-z0-9_-]{43}$/);
    expect(randomToken('ml_', 16)).toMatch(/^ml_[A-Za-z0-9_-]{22}$/);
    expect(randomToken('', 48)).toHaveLength(64);
  });

  it('does not repeat', () => {
    expect(new Set(Array.from({ length: 2000 }, () => randomToken())).size).toBe(2000);
  });

  it('refuses byte counts too small to be unguessable', () => {
    expect(() => randomToken('', 8)).toThrow(RangeError);
    expect(() => randomToken('', 16.5)).toThrow(RangeError);
    expect(() => randomToken('', 4096)).toThrow(RangeError);
  });
});

describe('hashToken', () => {
  it('is SHA-256 of the UTF-8 token, as a 32-byte Uint8Array', () => {
    const digest = hashToken('abc');
    expect(digest).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(digest).toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const token = randomToken('dmw_');
    expect(Buffer.from(hashToken(token))).toEqual(createHash('sha256').update(token).digest());
    expect(Buffer.from(hashToken(token))).toEqual(Buffer.from(hashToken(token)));
    expect(Buffer.from(hashToken(token))).not.toEqual(Buffer.from(hashToken(`${token}x`)));
  });
});
