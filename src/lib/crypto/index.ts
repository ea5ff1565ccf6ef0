export {
  createKeyring,
  generateKey,
  KeyringError,
  loadOrCreateKeyFile,
  parseKeyring,
  resolveKeyring,
  type Keyring,
} from './keyring.js';
export { initCrypto, open, reseal, seal, SealError, sealedKeyId, type SealBinding, type SealErrorCode } from './seal.js';
export { hashToken, randomToken } from './tokens.js';
