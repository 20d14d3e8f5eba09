export { BASE62_ALPHABET } from './base62.js';
export type { EventHandler, KeywardenEvent } from './events.js';
export { type FileKeyStore, type FileKeyStoreOptions, openFileKeyStore } from './file-store.js';
export {
  type Argon2HasherOptions,
  createArgon2Hasher,
  createHmacHasher,
  type Hasher,
  type HmacHasherOptions,
} from './hashers.js';
export {
  API_KEY_PARTS,
  API_KEY_REGEX,
  type ApiKeyParseFailure,
  formatApiKey,
  type GeneratedApiKey,
  generateApiKey,
  isValidKeyPrefix,
  MAX_API_KEY_LENGTH,
  MAX_PREFIX_LENGTH,
  type ParsedApiKey,
  parseApiKey,
} from './key-format.js';
export {
  type CreatedApiKey,
  type CreateKeyInput,
  createKeyManager,
  type FailureThrottleOptions,
  type KeyCacheOptions,
  type KeyManager,
  type KeyManagerOptions,
  type RotateKeyOptions,
  type VerifyApiKeyResult,
  type VerifyFailureReason,
} from './key-manager.js';
export { createMemoryKeyStore } from './memory-store.js';
export {
  isSafeRawPath,
  isValidPathPattern,
  MAX_PATH_LENGTH,
  MAX_PATTERN_LENGTH,
  matchPathPattern,
} from './path-pattern.js';
export {
  type ApiKeyInfo,
  type JsonValue,
  type KeyRecord,
  type KeyRecordPatch,
  type KeySettings,
  normalizeCidr,
  type QuotaSpec,
  type RateLimitSpec,
} from './record.js';
export { DuplicateKeyIdError, type KeyListFilter, type KeyStore } from './store.js';
