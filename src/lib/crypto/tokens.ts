import { createHash, randomBytes } from 'node:crypto';

const MIN_TOKEN_BYTES = 16;

/**
 * A random, URL-safe token: `prefix` (used as given, e.g. "dmw_") followed by `bytes` random
 * bytes in unpadded base64url. Store only hashToken(token); show the token once.
 */
export function randomToken(prefix = '', bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < MIN_TOKEN_BYTES || bytes > 1024) {
    throw new RangeError(`randomToken: bytes must be a whole number from ${MIN_TOKEN_BYTES} to 1024`);
  }
  return `${prefix}${randomBytes(bytes).toString('base64url')}`;
}

/** SHA-256 of the token's UTF-8 bytes: what is stored and looked up instead of the token. */
export function hashToken(token: string): Uint8Array {
  if (typeof token !== 'string') throw new TypeError('hashToken: token must be a string');
  return new Uint8Array(createHash('sha256').update(token, 'utf8').digest());
}
