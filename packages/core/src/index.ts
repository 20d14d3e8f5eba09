export {
  type AccessTokenResponse,
  type AuthFailureReason,
  type AuthRequest,
  type AuthResult,
  createKeywarden,
  type KeyMetadata,
  type Keywarden,
  type KeywardenOptions,
  type LimitOptions,
  type MintAccessTokenOptions,
  type MintedAccessToken,
  type MintResult,
  type Principal,
  type RouteRequirements,
  type StackedResult,
  validateRouteRequirements,
} from './authenticate.js';
export { BASE62_ALPHABET } from './base62.js';
export type { CredentialKind, CredentialSource, ExtractionFailureReason, RawHeaders } from './credentials.js';
export {
  AUTH_ERROR_STATUS,
  AuthError,
  type AuthErrorCode,
  PROBLEM_CONTENT_TYPE,
  PROBLEM_TYPE_BASE,
  type ProblemBody,
} from './errors.js';
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
  hideCredential,
  type ProblemResponse,
  readRequestBody,
  renderProblem,
  requestHeaders,
  withoutQueryParameter,
} from './http.js';
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
  type VerifyClient,
  type VerifyFailureReason,
} from './key-manager.js';
export {
  type ConsumeResult,
  createMemoryLimitStore,
  type LimitCounter,
  type LimitStore,
  type MemoryLimitStoreOptions,
  quotaPeriod,
} from './limits.js';
export { createMemoryKeyStore } from './memory-store.js';
export { MAX_MINT_BODY_BYTES } from './mint-body.js';
export {
  isPatternWithin,
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
export {
  ACCESS_TOKEN_LIFETIME,
  type AccessTokenClaims,
  type AccessTokenOptions,
  generateTokenSecret,
  MAX_TOKEN_PATHS,
  type SigningSecret,
  type TokenFailureReason,
} from './tokens.js';
