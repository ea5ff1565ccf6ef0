import { keyMaterial, MAX_KEY_ID_LENGTH, type Keyring } from './keyring.js';
import { readySodium } from './sodium.js';

export { initCrypto } from './sodium.js';

/*
 * Sealed value layout (all of it is stored, e.g. in a bytea column):
 *   [0]            format version (1)
 *   [1]            key id length n (1-32)
 *   [2, 2+n)       key id, ASCII
 *   [2+n, 26+n)    24-byte random nonce
 *   [26+n, …)      XChaCha20-Poly1305-IETF ciphertext + 16-byte tag
 * The associated data binds the version, key id, table, column and row id, so a value copied
 * to another row, column or table, or relabelled with another key id, fails to open.
 */
export const SEAL_VERSION = 1;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9_-]+$/;
const AD_DOMAIN = 'dmarcwatch/sealed-secret';

/** Where a sealed value lives. rowId 5 and "5" are the same binding (bigint ids arrive as strings). */
export interface SealBinding {
  table: string;
  column: string;
  rowId: string | number | bigint;
}

export type SealErrorCode = 'unknown_key' | 'tampered_or_moved' | 'malformed';

export class SealError extends Error {
  constructor(
    readonly code: SealErrorCode,
    message: string,
    readonly keyId?: string,
  ) {
    super(message);
    this.name = 'SealError';
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Encrypts `plaintext` under the keyring's sealing key, bound to `binding`. */
export function seal(keyring: Keyring, plaintext: string, binding: SealBinding): Uint8Array {
  const sodium = readySodium();
  if (typeof plaintext !== 'string') throw new TypeError('seal: plaintext must be a string');
  // A lone surrogate would be replaced during UTF-8 encoding and open() would return a different string.
  if (/\p{Cs}/u.test(plaintext)) throw new TypeError('seal: plaintext is not well-formed Unicode (it has an unpaired surrogate)');
  const where = canonicalBinding(binding);
  const keyId = keyring.sealingKeyId;
  const key = keyMaterial(keyring, keyId);
  if (!key) throw new TypeError('seal: the keyring has no sealing key');

  const idBytes = encoder.encode(keyId);
  const header = new Uint8Array(2 + idBytes.length);
  header[0] = SEAL_VERSION;
  header[1] = idBytes.length;
  header.set(idBytes, 2);

  const nonce = sodium.randombytes_buf(NONCE_BYTES);
  const message = encoder.encode(plaintext);
  const ciphertext = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(message, associatedData(keyId, where), null, nonce, key);
  message.fill(0);

  const out = new Uint8Array(header.length + NONCE_BYTES + ciphertext.length);
  out.set(header, 0);
  out.set(nonce, header.length);
  out.set(ciphertext, header.length + NONCE_BYTES);
  return out;
}

/** Decrypts a value made by seal() for the same binding; throws SealError otherwise. */
export function open(keyring: Keyring, sealed: Uint8Array, binding: SealBinding): string {
  const sodium = readySodium();
  const where = canonicalBinding(binding);
  const label = `${where.table}.${where.column} (row ${where.rowId})`;
  const { keyId, bodyOffset } = parseHeader(sealed, label);
  if (sealed.length < bodyOffset + NONCE_BYTES + TAG_BYTES) {
    throw new SealError('malformed', `Sealed value in ${label} is truncated (${sealed.length} bytes)`, keyId);
  }
  const key = keyMaterial(keyring, keyId);
  if (!key) {
    throw new SealError(
      'unknown_key',
      `Sealed value in ${label} was sealed with key "${keyId}", which is not in the keyring. ` +
        `Add that key back to the keyring (DMARCWATCH_KEYS or the key file), after the current sealing key, or enter the secret again.`,
      keyId,
    );
  }
  const nonce = sealed.subarray(bodyOffset, bodyOffset + NONCE_BYTES);
  const ciphertext = sealed.subarray(bodyOffset + NONCE_BYTES);
  let message: Uint8Array;
  try {
    message = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, associatedData(keyId, where), nonce, key);
  } catch {
    throw new SealError(
      'tampered_or_moved',
      `Sealed value in ${label} failed authentication: it was modified, copied from another row, column or table, ` +
        `or key "${keyId}" is not the key it was sealed with. Enter the secret again.`,
      keyId,
    );
  }
  try {
    return decoder.decode(message);
  } catch {
    throw new SealError('malformed', `Sealed value in ${label} does not contain UTF-8 text`, keyId);
  } finally {
    message.fill(0);
  }
}

/** The id of the key a value was sealed with (to find values still sealed under retired keys). */
export function sealedKeyId(sealed: Uint8Array): string {
  return parseHeader(sealed, 'value').keyId;
}

/** Opens with any keyring key and seals again under the current sealing key (key rotation). */
export function reseal(keyring: Keyring, sealed: Uint8Array, binding: SealBinding): Uint8Array {
  return seal(keyring, open(keyring, sealed, binding), binding);
}

function parseHeader(sealed: Uint8Array, label: string): { keyId: string; bodyOffset: number } {
  if (!(sealed instanceof Uint8Array)) throw new SealError('malformed', `Sealed ${label} is not a byte array`);
  if (sealed.length < 2) throw new SealError('malformed', `Sealed ${label} is too short (${sealed.length} bytes)`);
  if (sealed[0] !== SEAL_VERSION) {
    throw new SealError('malformed', `Sealed ${label} has unsupported format version ${sealed[0]} (expected ${SEAL_VERSION})`);
  }
  const idLength = sealed[1] as number;
  if (idLength < 1 || idLength > MAX_KEY_ID_LENGTH || sealed.length < 2 + idLength) {
    throw new SealError('malformed', `Sealed ${label} has an invalid key id header`);
  }
  const keyId = String.fromCharCode(...sealed.subarray(2, 2 + idLength));
  if (!KEY_ID.test(keyId)) throw new SealError('malformed', `Sealed ${label} has an invalid key id header`);
  return { keyId, bodyOffset: 2 + idLength };
}

function canonicalBinding(binding: SealBinding): { table: string; column: string; rowId: string } {
  if (typeof binding !== 'object' || binding === null) throw new TypeError('seal binding: expected { table, column, rowId }');
  const { table, column, rowId } = binding;
  if (typeof table !== 'string' || table === '') throw new TypeError('seal binding: table must be a non-empty string');
  if (typeof column !== 'string' || column === '') throw new TypeError('seal binding: column must be a non-empty string');
  let id: string;
  if (typeof rowId === 'number') {
    if (!Number.isSafeInteger(rowId)) throw new TypeError('seal binding: a numeric rowId must be a safe integer');
    id = String(rowId);
  } else if (typeof rowId === 'bigint') {
    id = rowId.toString();
  } else if (typeof rowId === 'string' && rowId !== '') {
    id = rowId;
  } else {
    throw new TypeError('seal binding: rowId must be a non-empty string or an integer');
  }
  return { table, column, rowId: id };
}

/** Length-prefixed fields, so no two different bindings can encode to the same bytes. */
function associatedData(keyId: string, where: { table: string; column: string; rowId: string }): Uint8Array {
  const fields = [AD_DOMAIN, String(SEAL_VERSION), keyId, where.table, where.column, where.rowId].map((f) => encoder.encode(f));
  const out = new Uint8Array(fields.reduce((n, f) => n + 4 + f.length, 0));
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const field of fields) {
    view.setUint32(offset, field.length);
    out.set(field, offset + 4);
    offset += 4 + field.length;
  }
  return out;
}
