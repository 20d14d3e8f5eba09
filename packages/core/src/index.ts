export type { CachedAccount } from './accounts/account-cache.js';
export type { AccountManager } from './accounts/account-manager.js';
export type {
  AccountLimits,
  AccountPatch,
  AccountRecord,
  AccountSettings,
  AccountStatus,
  CreateAccountInput,
} from './accounts/account-record.js';
export {
  type AccountListFilter,
  type AccountStore,
  DuplicateAccountError,
} from './accounts/account-store.js';
export type { AccountTerms, AccountView, Plan, Plans } from './accounts/plans.js';
export type { KeywardenLogger } from './adapter/logging.js';
export {
  AUTH_ERROR_STATUS,
  AuthError,
  type AuthErrorCode,
  PROBLEM_CONTENT_TYPE,
  PROBLEM_TYPE_BASE,
  type ProblemBody,
} from './errors/auth-error.js';
export { type ConfigErrorCode, KeywardenConfigError } from './errors/config-error.js';
export type { EventHandler, KeywardenEvent, KeywardenEventType } from './events.js';
export { BASE62_ALPHABET } from './keys/base62.js';
export {
  type Argon2HasherOptions,
  createArgon2Hasher,
  createHmacHasher,
  type Hasher,
  type HmacHasherOptions,
} from './keys/hashers.js';
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
} from './keys/key-format.js';
export {
  type CreatedApiKey,
  type CreateKeyInput,
  createKeyManager,
  type FailureThrottleOptions,
  type KeyCacheOptions,
  type KeyManager,
  type KeyManagerOptions,
  type RotateKeyOptions,
  type UsageRange,
  type VerifyApiKeyResult,
  type VerifyClient,
  type VerifyFailureReason,
} from './keys/key-manager.js';
export {
  type ApiKeyInfo,
  type JsonValue,
  type KeyBounds,
  type KeyRecord,
  type KeyRecordPatch,
  type KeySettings,
  normalizeCidr,
  type QuotaSpec,
  type RateLimitSpec,
} from './keys/key-record.js';
export { createKeywarden, type Keywarden } from './keywarden.js';
export type { KeywardenOptions, LimitOptions, UsageOptions } from './keywarden-options.js';
export type { AccountLimitStatus, LimitStatus, LimitUsage } from './limits/charge.js';
export type { ConsumeResult, LimitCounter, LimitStore } from './limits/limit-store.js';
export { createMemoryLimitStore, type MemoryLimitStoreOptions } from './limits/memory-limit-store.js';
export type { RateLimitHeaderStyle } from './limits/ratelimit-headers.js';
export type { ThresholdOptions } from './limits/thresholds.js';
export { quotaPeriod } from './limits/windows.js';
export type {
  AccessTokenResponse,
  MintAccessTokenOptions,
  MintedAccessToken,
  MintResult,
} from './mint/minting.js';
export type { PortalPolicy } from './portal/policy.js';
export {
  createPortal,
  PORTAL_CSRF_HEADER,
  type Portal,
  type PortalOptions,
  type PortalRequest,
  type PortalResponse,
} from './portal/portal.js';
export { clientPartition } from './request/client-partition.js';
export type {
  CredentialKind,
  CredentialSource,
  ExtractionFailureReason,
  RawHeaders,
} from './request/credentials.js';
export type { Hold, HoldState, ReserveOptions, ReserveResult } from './request/holds.js';
export {
  isPatternWithin,
  isSafeRawPath,
  isValidPathPattern,
  MAX_PATH_LENGTH,
  MAX_PATTERN_LENGTH,
  matchPathPattern,
} from './request/path-pattern.js';
export { allowsPath } from './request/principals.js';
export { validateRouteRequirements } from './request/route-requirements.js';
export type {
  AuthFailureReason,
  AuthRequest,
  AuthResult,
  ChargeResult,
  KeyMetadata,
  Principal,
  RouteRequirements,
  StackedResult,
} from './request/types.js';
export { type FileKeyStore, type FileKeyStoreOptions, openFileKeyStore } from './stores/file-key-store.js';
export {
  DuplicateKeyIdError,
  type KeyCountFilter,
  type KeyListFilter,
  type KeyStore,
  MAX_KEY_PAGE,
} from './stores/key-store.js';
export { createMemoryKeyStore } from './stores/memory-key-store.js';
export {
  ACCESS_TOKEN_LIFETIME,
  type AccessTokenClaims,
  type AccessTokenOptions,
  generateTokenSecret,
  MAX_TOKEN_PATHS,
  type SigningSecret,
  type TokenFailureReason,
} from './tokens/access-tokens.js';
export { createMemoryUsageStore } from './usage/memory-usage-store.js';
export {
  accountUsageId,
  type UsageDay,
  type UsageIncrement,
  type UsageStore,
  utcDay,
} from './usage/usage-store.js';
