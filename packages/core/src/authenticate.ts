import { LRUCache } from 'lru-cache';
import {
  type CredentialConfig,
  type CredentialKind,
  type CredentialSource,
  type ExtractedCredential,
  type ExtractionFailureReason,
  extractCredential,
  hasInvalidCharacters,
  type RawHeaders,
} from './credentials.js';
import { AuthError, type AuthErrorCode, challengeFor } from './errors.js';
import { type EventHandler, safeEventHandler } from './events.js';
import { createIpAllowlist } from './ip.js';
import type { KeyManager, VerifyApiKeyResult, VerifyFailureReason } from './key-manager.js';
import {
  type ConsumeResult,
  createMemoryLimitStore,
  keyCounters,
  type LimitStore,
  rateLimitHeaders,
  secondsUntil,
} from './limits.js';
import { checkMintOptions, firstPathOutside, parseMintBody } from './mint-body.js';
import { isSafeRawPath, matchesSafePath } from './path-pattern.js';
import type { ApiKeyInfo, JsonValue } from './record.js';
import {
  ACCESS_TOKEN_LIFETIME,
  type AccessTokenClaims,
  type AccessTokenOptions,
  createTokenService,
  type TokenFailureReason,
  type TokenService,
} from './tokens.js';

/**
 * A framework-free view of one request. Adapters build it from the framework's request without
 * decoding or normalizing anything.
 *
 * @example
 * ```ts
 * const input: AuthRequest = {
 *   method: req.method, url: req.originalUrl, headers: req.headersDistinct, ip: req.ip, secure: req.secure,
 * };
 * ```
 */
export interface AuthRequest {
  /** HTTP method, upper case as Node gives it. */
  method: string;
  /** The raw request target as received (`req.originalUrl`, `ctx.originalUrl`, `request.raw.url`): path and query. */
  url: string;
  /**
   * Header values exactly as sent: Node's `req.rawHeaders` (fastest: only the credential headers are
   * read), or an object keyed by lower-case name with repeated headers as arrays (Node's
   * `req.headersDistinct`). A joined value such as `"a, b"` is refused, never split.
   */
  headers: RawHeaders | readonly string[];
  /** Client address as the framework resolves it under its own trust-proxy setting. */
  ip?: string | undefined;
  /** Whether the request arrived over TLS, as the framework resolves it. */
  secure?: boolean | undefined;
}

/** What a route asks of a credential on top of being valid. */
export interface RouteRequirements {
  /** Every one of these scopes must be held. @default [] */
  scopes?: readonly string[];
  /**
   * Quota units this route charges the key (an upscale may cost 2); the rate limit counts every
   * request as 1. A cost of 0 charges no quota and is never refused by it (downloads keep working
   * after the quota is spent), but still counts against the rate limit. @default 1
   */
  cost?: number;
}

/**
 * Checks route requirements once, where a route is defined (adapters call it when a middleware is
 * made or a route registered), so that a typo fails at start-up, not per request. Returns a frozen copy.
 *
 * @example
 * ```ts
 * const upscale = validateRouteRequirements({ scopes: ['images:write'], cost: 2 });
 * ```
 */
export function validateRouteRequirements(
  route: RouteRequirements | undefined,
): RouteRequirements | undefined {
  if (route === undefined) return undefined;
  if (typeof route !== 'object' || route === null)
    throw new TypeError('keywarden: route requirements must be an object');
  for (const key of Object.keys(route)) {
    if (key !== 'scopes' && key !== 'cost')
      throw new TypeError(`keywarden: unknown route requirement ${key}`);
  }
  const { scopes, cost } = route;
  if (
    scopes !== undefined &&
    (!Array.isArray(scopes) || !scopes.every((x) => typeof x === 'string' && x.length > 0))
  ) {
    throw new TypeError('keywarden: route scopes must be an array of non-empty strings');
  }
  if (cost !== undefined && (!Number.isSafeInteger(cost) || cost < 0 || cost > 1_000_000)) {
    throw new TypeError('keywarden: route cost must be an integer from 0 to 1000000');
  }
  return Object.freeze({
    ...(scopes ? { scopes: Object.freeze([...scopes]) } : {}),
    ...(cost !== undefined ? { cost } : {}),
  });
}

/**
 * Rate limits and quotas. (Failed verifications are budgeted by the key manager, per client:
 * `createKeyManager({ failureThrottle })`.)
 */
export interface LimitOptions {
  /** Where counters live; share one (`@keywarden/redis`) between instances. @default createMemoryLimitStore() */
  store?: LimitStore;
  /**
   * When the counter store fails: `false` answers 503 `auth_unavailable`; `true` lets
   * authenticated requests through without RateLimit headers (authentication still runs). @default false
   */
  failOpen?: boolean;
}

/**
 * Typed metadata on keys and principals. Augment it to type your own fields:
 *
 * @example
 * ```ts
 * declare module '@keywarden/core' {
 *   interface KeyMetadata { plan?: 'free' | 'pro' }
 * }
 * ```
 */
export interface KeyMetadata {
  [key: string]: JsonValue | undefined;
}

/**
 * Who made an authenticated request: `req.auth` (Express), `ctx.state.auth` (Koa),
 * `request.auth` (Fastify). Declared once here; augment it through declaration merging.
 *
 * @example
 * ```ts
 * const principal = getAuth(req);
 * if (principal.kind === 'access_token') console.log('browser upload for', principal.keyId);
 * ```
 */
export interface Principal {
  /** Which credential the request carried: an API key or an access token. */
  kind: CredentialKind;
  /** Id of the API key (for a token, of the key that minted it). */
  keyId: string;
  /** The key's name. */
  name: string;
  /** Scopes granted: the key's, or the token's (never more than its key's). */
  scopes: readonly string[];
  /** Path patterns granted: the key's, or the token's (inside its key's). */
  paths: readonly string[];
  /** The key's owner id. */
  ownerId: string | null;
  /**
   * The key's rotation lineage (its own id unless it was made by rotating another key): where data
   * kept per key should live when a rotated key must keep finding it.
   */
  lineageId: string;
  /** The key's metadata, typed through {@link KeyMetadata} augmentation. */
  metadata: Readonly<KeyMetadata>;
  /** When the credential stops working: the key's expiry, or the token's. */
  expiresAt: Date | null;
}

/** Outcome of {@link Keywarden.authenticate}. */
export type AuthResult =
  | {
      ok: true;
      principal: Principal;
      /** Headers to add to the response (rate-limit headers once limits apply). */
      headers: Readonly<Record<string, string>>;
      /** Where the credential was, for `hideCredentials`. */
      credential: CredentialSource;
    }
  | { ok: false; error: AuthError };

/** Options for {@link createKeywarden}. Validated once; unknown fields throw. */
export interface KeywardenOptions {
  /** The key manager that verifies API keys. */
  keys: KeyManager;
  /** Header carrying an API key, or `false` to not read one. @default 'x-api-key' */
  apiKeyHeader?: string | false;
  /** Authorization schemes that carry an API key (case-insensitive on the wire). @default ['Bearer', 'Token'] */
  apiKeySchemes?: readonly string[];
  /** Authorization scheme that carries an access token, or `false`. @default 'AccessToken' */
  accessTokenScheme?: string | false;
  /**
   * Query parameter carrying an API key, or `false`. Discouraged: URLs end up in logs, browser
   * history and Referer headers. Access tokens are never read from the URL. @default false
   */
  apiKeyQueryParam?: string | false;
  /** Refuse plain-HTTP requests with 403 `https_required`. @default process.env.NODE_ENV === 'production' */
  requireHttps?: boolean;
  /** `realm` of the `WWW-Authenticate` challenges. @default 'api' */
  realm?: string;
  /** Longest access token accepted, in characters; minting refuses paths that would exceed it. @default 8192 */
  maxTokenLength?: number;
  /** Rate limits and quotas of keys (from their records), and the failed-authentication throttle. */
  limits?: LimitOptions;
  /** Access tokens: the signing keyring and claims. Without it, every access token is refused and minting is off. */
  tokens?: AccessTokenOptions;
  /** Receives `auth.succeeded` and `auth.failed` (with the precise reason); never a secret. */
  onEvent?: EventHandler;
  /** Clock in epoch ms. @default Date.now */
  now?: () => number;
}

/** The request authenticator made by {@link createKeywarden}. */
export interface Keywarden {
  /**
   * Authenticates one request: resolves to the principal and headers to set, or to an
   * {@link AuthError} carrying status, headers and problem body. Never rejects for any request.
   */
  authenticate(input: AuthRequest, route?: RouteRequirements): Promise<AuthResult>;
  /**
   * {@link Keywarden.authenticate} that answers without a promise when it can (a warm key or token
   * without limits): the adapters use it on the request path. Never throws.
   */
  authenticateNow(input: AuthRequest, route?: RouteRequirements): AuthResult | Promise<AuthResult>;
  /**
   * The framework-free handler behind `POST /v3/auth/access-token/`: authenticates the request with
   * an API key (never a token; the key's path patterns do not apply to this route, its IP allowlist
   * does), validates the body, and mints a token within the key's paths and scopes.
   * @param body - The raw body (string or bytes; preferred) or a parsed object.
   */
  handleMintRequest(input: AuthRequest, body: unknown): Promise<MintResult>;
  /**
   * Mints an access token for a key from server code. Throws an {@link AuthError}
   * (`invalid_request` or `insufficient_scope`, with `detail`) for options the key does not allow,
   * `invalid_credentials` when the key is not valid, and a `TypeError` when tokens are not configured.
   */
  mintAccessToken(keyId: string, options?: MintAccessTokenOptions): Promise<MintedAccessToken>;
  /**
   * Checks a route's requirements against a principal an earlier middleware already established
   * (a router-wide middleware, then a stricter route): null when met, else the refusal.
   */
  checkRoute(principal: Principal, route: RouteRequirements | undefined): AuthError | null;
  /**
   * For a stacked middleware (a router-wide `authenticate()`, then a route's own): checks the
   * route's scopes against the principal the earlier one established, then charges the quota
   * units its `cost` adds over `charged`, the cost already charged on this request, so that a
   * route's cost is never lost to the middleware before it. Answers at once when nothing is left
   * to charge.
   */
  authorizeAgain(
    input: AuthRequest,
    principal: Principal,
    route: RouteRequirements | undefined,
    charged: number,
  ): StackedResult | Promise<StackedResult>;
  /** Whether `tokens` was configured (adapters mount the mint route only then). */
  readonly tokensEnabled: boolean;
  /** The key manager given in the options. */
  readonly keys: KeyManager;
}

/** Outcome of {@link Keywarden.authorizeAgain}. */
export type StackedResult =
  | {
      ok: true;
      /** Rate-limit headers to set again when more was charged (empty otherwise). */
      headers: Readonly<Record<string, string>>;
      /** The cost charged on this request now: the larger of `charged` and the route's cost. */
      charged: number;
    }
  | { ok: false; error: AuthError };

/** Options of {@link Keywarden.mintAccessToken}. */
export interface MintAccessTokenOptions {
  /** Path patterns, each within the key's own. @default ['*'] */
  paths?: readonly string[];
  /** Lifetime in seconds, 1..600. @default 60 */
  expiresIn?: number;
  /** Scopes, each held by the key. @default all of the key's scopes */
  scopes?: readonly string[];
}

/** A freshly minted access token. */
export interface MintedAccessToken {
  /** The JWT, for `Authorization: AccessToken <token>`. */
  token: string;
  /** Lifetime in seconds. */
  expiresIn: number;
  /** Expiry instant. */
  expiresAt: Date;
  /** Path patterns granted. */
  paths: string[];
  /** Scopes granted. */
  scopes: string[];
  /** Unique token id (`jti`), for logs. */
  tokenId: string;
}

/** The JSON body of a successful mint. */
export interface AccessTokenResponse {
  /** The JWT. */
  access_token: string;
  /** The Authorization scheme to send it with. */
  token_type: 'AccessToken';
  /** Lifetime in seconds. */
  expires_in: number;
  /** Path patterns granted. */
  paths: string[];
}

/** Outcome of {@link Keywarden.handleMintRequest}. */
export type MintResult =
  | {
      ok: true;
      status: 200;
      headers: Readonly<Record<string, string>>;
      body: AccessTokenResponse;
      principal: Principal;
    }
  | { ok: false; error: AuthError };

const OPTION_KEYS = new Set([
  'keys',
  'apiKeyHeader',
  'apiKeySchemes',
  'accessTokenScheme',
  'apiKeyQueryParam',
  'requireHttps',
  'realm',
  'maxTokenLength',
  'tokens',
  'limits',
  'onEvent',
  'now',
]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/; // RFC 9110 token: header names and auth schemes

function option<T>(name: string, value: T, check: (v: T) => boolean, expected: string): T {
  if (!check(value)) throw new TypeError(`keywarden: ${name} must be ${expected}`);
  return value;
}

/** Internal reasons reported in `auth.failed` events. */
export type AuthFailureReason =
  | VerifyFailureReason
  | ExtractionFailureReason
  | TokenFailureReason
  | 'access_tokens_disabled'
  | 'token_cannot_mint'
  | 'rate_limited'
  | 'quota_exceeded'
  | 'limit_store_unavailable'
  | 'https_required'
  | 'ip_not_allowed'
  | 'path_not_allowed'
  | 'insufficient_scope';

const CREDENTIAL_FAILURE: Record<VerifyFailureReason, AuthErrorCode> = {
  malformed: 'invalid_credentials',
  bad_checksum: 'invalid_credentials',
  unknown_key: 'invalid_credentials',
  wrong_secret: 'invalid_credentials',
  revoked: 'invalid_credentials',
  expired: 'invalid_credentials',
  throttled: 'rate_limited',
  busy: 'auth_unavailable',
  store_unavailable: 'auth_unavailable',
};

/** The path part of a raw request target. */
function pathOf(url: string): string {
  let end = url.length;
  const q = url.indexOf('?');
  if (q !== -1) end = q;
  const h = url.indexOf('#');
  if (h !== -1 && h < end) end = h;
  return end === url.length ? url : url.slice(0, end);
}

/**
 * Creates the request authenticator: the core's one entry point, which every adapter calls.
 *
 * Order of checks: HTTPS rule; exactly one well-formed credential; the key (or token) itself; the
 * key's IP allowlist; its path patterns against the raw path; the route's required scopes.
 *
 * @example
 * ```ts
 * const keywarden = createKeywarden({ keys: createKeyManager({ store }) });
 * const result = await keywarden.authenticate(
 *   { method: 'GET', url: '/v3/files/a.png', headers: { authorization: `Token ${key}` } },
 *   { scopes: ['images:read'] },
 * );
 * if (!result.ok) console.log(result.error.status, result.error.body);
 * ```
 */
export function createKeywarden(options: KeywardenOptions): Keywarden {
  if (typeof options !== 'object' || options === null) throw new TypeError('keywarden: options are required');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new TypeError(`keywarden: unknown option ${key}`);
  }
  const { keys } = options;
  if (!keys || typeof keys.verify !== 'function')
    throw new TypeError('keywarden: options.keys must be a KeyManager');
  const apiKeyHeader = option(
    'apiKeyHeader',
    options.apiKeyHeader ?? 'x-api-key',
    (v) => v === false || TOKEN.test(v),
    'a header name or false',
  );
  const apiKeySchemes = option(
    'apiKeySchemes',
    options.apiKeySchemes ?? ['Bearer', 'Token'],
    (v) => Array.isArray(v) && v.every((s) => typeof s === 'string' && TOKEN.test(s)),
    'an array of scheme names',
  );
  const accessTokenScheme = option(
    'accessTokenScheme',
    options.accessTokenScheme ?? 'AccessToken',
    (v) => v === false || (typeof v === 'string' && TOKEN.test(v)),
    'a scheme name or false',
  );
  const queryParam = option(
    'apiKeyQueryParam',
    options.apiKeyQueryParam ?? false,
    (v) => v === false || (typeof v === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(v)),
    'a parameter name or false',
  );
  const requireHttps = option(
    'requireHttps',
    options.requireHttps ?? process.env.NODE_ENV === 'production',
    (v) => typeof v === 'boolean',
    'a boolean',
  );
  const realm = option(
    'realm',
    options.realm ?? 'api',
    (v) => typeof v === 'string' && /^[\x20-\x7e]{0,100}$/.test(v),
    'printable ASCII',
  );
  const maxTokenLength = option(
    'maxTokenLength',
    options.maxTokenLength ?? 8192,
    (v) => Number.isSafeInteger(v) && v >= 64 && v <= 65536,
    'an integer from 64 to 65536',
  );
  const now = options.now ?? Date.now;
  const tokens: TokenService | null =
    options.tokens === undefined ? null : createTokenService(options.tokens, now, maxTokenLength);
  const onEvent = options.onEvent;
  const emit = safeEventHandler(onEvent);
  const limitOptions = options.limits ?? {};
  for (const key of Object.keys(limitOptions)) {
    if (key === 'failedAuth' || key === 'maxBlockedClients') {
      throw new TypeError(
        `keywarden: limits.${key} moved to createKeyManager({ failureThrottle }): failed verifications are budgeted per client there`,
      );
    }
    if (!['store', 'failOpen'].includes(key)) throw new TypeError(`keywarden: unknown option limits.${key}`);
  }
  const limitStore = limitOptions.store ?? createMemoryLimitStore();
  if (typeof limitStore.consume !== 'function')
    throw new TypeError('keywarden: limits.store must be a LimitStore');
  const failOpen = option(
    'limits.failOpen',
    limitOptions.failOpen ?? false,
    (v) => typeof v === 'boolean',
    'a boolean',
  );
  const schemes = new Map<string, CredentialKind>();
  const schemeNames = new Map<string, string>(); // lower case to the configured spelling
  for (const scheme of apiKeySchemes) {
    schemes.set(scheme.toLowerCase(), 'api_key');
    schemeNames.set(scheme.toLowerCase(), scheme);
  }
  if (accessTokenScheme !== false) {
    if (schemes.has(accessTokenScheme.toLowerCase())) {
      throw new TypeError('keywarden: accessTokenScheme must differ from the API key schemes');
    }
    schemes.set(accessTokenScheme.toLowerCase(), 'access_token');
    schemeNames.set(accessTokenScheme.toLowerCase(), accessTokenScheme);
  }
  if (schemes.size === 0 && apiKeyHeader === false && queryParam === false) {
    throw new TypeError('keywarden: no way left to present a credential');
  }
  const credentialConfig: CredentialConfig = {
    apiKeyHeader: apiKeyHeader === false ? null : apiKeyHeader.toLowerCase(),
    schemes,
    queryParam: queryParam === false ? null : queryParam,
    maxLength: { api_key: 256, access_token: maxTokenLength },
  };
  // Challenges: every scheme when nothing was presented; otherwise the scheme that was used.
  const allSchemes = [...schemeNames.values()];
  const apiKeyChallenge = apiKeySchemes[0] ?? 'Bearer';
  // The one-scheme challenge lists, made once: the hot path picks one without allocating.
  const defaultChallenge: readonly string[] = Object.freeze([apiKeyChallenge]);
  const challenges = new Map<string, readonly string[]>(
    [...schemeNames].map(([lower, name]) => [lower, Object.freeze([name])]),
  );

  // Refusals are immutable, so each distinct one is built once and reused: a flood of bad
  // requests allocates nothing and captures no stack traces.
  const errorCache = new Map<string, AuthError>();
  function authError(
    code: AuthErrorCode,
    challengeSchemes: readonly string[],
    scope?: readonly string[],
  ): AuthError {
    const cacheKey = `${code}|${challengeSchemes.join(',')}|${scope?.join(' ') ?? ''}`;
    let error = errorCache.get(cacheKey);
    if (!error) {
      const challenge = challengeFor(code, { schemes: challengeSchemes, realm, ...(scope ? { scope } : {}) });
      error = new AuthError(code, challenge === null ? {} : { 'www-authenticate': challenge });
      if (errorCache.size < 1000) errorCache.set(cacheKey, error);
    }
    return error;
  }

  const principals = new WeakMap<ApiKeyInfo, Principal>();
  /** The key a principal was made from: its limits, for a stacked middleware's extra cost. */
  const keyOfPrincipal = new WeakMap<Principal, ApiKeyInfo>();
  const allowlists = new WeakMap<ApiKeyInfo, (ip: string | undefined) => boolean>();
  function principalOf(info: ApiKeyInfo, kind: CredentialKind): Principal {
    let principal = principals.get(info);
    if (!principal) {
      principal = Object.freeze({
        kind,
        keyId: info.id,
        name: info.name,
        scopes: info.scopes,
        paths: info.paths,
        ownerId: info.ownerId,
        lineageId: info.lineageId,
        metadata: info.metadata as KeyMetadata,
        expiresAt: info.expiresAt,
      });
      principals.set(info, principal);
      keyOfPrincipal.set(principal, info);
    }
    return principal;
  }
  function allowlistOf(info: ApiKeyInfo) {
    let allow = allowlists.get(info);
    if (!allow) {
      allow = createIpAllowlist(info.ips);
      allowlists.set(info, allow);
    }
    return allow;
  }

  function refuse(
    input: AuthRequest,
    code: AuthErrorCode,
    reason: AuthFailureReason,
    challengeSchemes: readonly string[],
    detail: { kind?: CredentialKind; keyId?: string; scope?: readonly string[] } = {},
    prebuilt?: AuthError,
  ): AuthResult {
    if (onEvent) {
      emit({
        type: 'auth.failed',
        time: new Date(now()),
        code,
        reason,
        method: input.method,
        path: pathOf(input.url).slice(0, 512),
        ip: input.ip ?? null,
        kind: detail.kind ?? null,
        keyId: detail.keyId ?? null,
      });
    }
    return { ok: false, error: prebuilt ?? authError(code, challengeSchemes, detail.scope) };
  }

  /**
   * Refuses a credential that was not accepted. One whose characters are not printable ASCII is
   * refused as a bad request (400, `invalid_characters`), as the extractor did before; that check
   * waits until now because an accepted credential equals a verified key or token, which cannot
   * hold such characters (see `hasInvalidCharacters`).
   */
  function refuseCredential(
    input: AuthRequest,
    credential: ExtractedCredential,
    code: AuthErrorCode,
    reason: AuthFailureReason,
    challenge: readonly string[],
    detail: { kind?: CredentialKind; keyId?: string },
  ): AuthResult {
    if (hasInvalidCharacters(credential.value))
      return refuse(input, 'invalid_request', 'invalid_characters', allSchemes);
    return refuse(input, code, reason, challenge, detail);
  }

  // A throttled client's refusals differ only in Retry-After: one error per value, so a flood from
  // a blocked address allocates nothing (`pnpm bench`: ~4 µs a refusal before, mostly the stack).
  const throttledErrors = new LRUCache<number, AuthError>({ max: 1000 });
  function throttledError(retryAfter: number): AuthError {
    let error = throttledErrors.get(retryAfter);
    if (!error) {
      error = new AuthError('rate_limited', { 'retry-after': String(retryAfter) });
      throttledErrors.set(retryAfter, error);
    }
    return error;
  }

  /** Charges the key's counters; the result's headers, or the refusal. */
  async function charge(
    input: AuthRequest,
    principal: Principal,
    limits: Pick<ApiKeyInfo, 'rateLimit' | 'quota'>,
    cost: number,
    detail: Detail,
    rateCost = 1,
  ): Promise<Readonly<Record<string, string>> | AuthResult> {
    if (!limits.rateLimit && !limits.quota) return NO_HEADERS;
    const t = now();
    const counters = keyCounters(principal.keyId, limits.rateLimit, limits.quota, cost, t, rateCost);
    let result: ConsumeResult;
    try {
      result = await limitStore.consume(counters, t);
    } catch (error) {
      emit({
        type: 'store.error',
        time: new Date(t),
        operation: 'limits',
        message: (error as Error)?.message ?? 'error',
      });
      if (failOpen) return NO_HEADERS;
      const unavailable = new AuthError('auth_unavailable', { 'retry-after': '1' });
      return refuse(input, 'auth_unavailable', 'limit_store_unavailable', [], detail, unavailable);
    }
    const headers = rateLimitHeaders(counters, result.counts, t);
    if (result.allowed) return headers;
    const denied = counters.findIndex((counter, i) => result.counts[i]! + counter.cost > counter.limit);
    const counter = counters[denied] ?? counters[0]!;
    const code = counter.policy === 'rate' ? 'rate_limited' : 'quota_exceeded';
    emit({
      type: 'limit.exceeded',
      time: new Date(t),
      keyId: principal.keyId,
      policy: counter.policy,
      limit: counter.limit,
      cost,
    });
    const error = new AuthError(code, {
      ...headers,
      'retry-after': String(secondsUntil(counter.resetAt, t)),
    });
    return refuse(input, code, code, [], detail, error);
  }

  const tokenPrincipals = new WeakMap<AccessTokenClaims, { info: ApiKeyInfo; principal: Principal }>();
  /** A token's principal: its own paths, and the scopes it names that its key still holds. */
  function tokenPrincipalOf(claims: AccessTokenClaims, info: ApiKeyInfo): Principal {
    const cached = tokenPrincipals.get(claims);
    if (cached?.info === info) return cached.principal;
    const granted = claims.scope === '' ? [] : claims.scope.split(' ');
    const principal: Principal = Object.freeze({
      kind: 'access_token' as const,
      keyId: info.id,
      name: info.name,
      scopes: Object.freeze(granted.filter((scope) => info.scopes.includes(scope))),
      paths: Object.freeze([...claims.paths]),
      ownerId: info.ownerId,
      lineageId: info.lineageId,
      metadata: info.metadata as KeyMetadata,
      expiresAt: new Date(claims.exp * 1000),
    });
    tokenPrincipals.set(claims, { info, principal });
    keyOfPrincipal.set(principal, info);
    return principal;
  }

  type Mode = 'request' | 'mint';
  type Detail = { kind: CredentialKind; keyId: string };

  /**
   * The checks shared by keys and tokens once the credential itself is valid. The request path
   * must match one of `paths` and, when given, one of `alsoPaths` (a token's own patterns and its
   * key's). Two arguments rather than a list, so a request allocates no array for them.
   */
  function authorize(
    input: AuthRequest,
    route: RouteRequirements | undefined,
    principal: Principal,
    limits: Pick<ApiKeyInfo, 'rateLimit' | 'quota'>,
    paths: readonly string[] | null,
    alsoPaths: readonly string[] | null,
    challenge: readonly string[],
    detail: Detail,
    source: CredentialSource,
  ): AuthResult | Promise<AuthResult> {
    if (!pathsAllow(paths, alsoPaths, input.url)) {
      return refuse(input, 'path_not_allowed', 'path_not_allowed', challenge, detail);
    }
    const required = route?.scopes;
    if (required && required.length > 0) {
      for (const scope of required) {
        if (!principal.scopes.includes(scope)) {
          return refuse(input, 'insufficient_scope', 'insufficient_scope', challenge, {
            ...detail,
            scope: required,
          });
        }
      }
    }
    const cost = route?.cost ?? 1;
    if (!Number.isSafeInteger(cost) || cost < 0) {
      // An unvalidated route object with a bad cost: refuse rather than guess (fail closed).
      return refuse(input, 'auth_unavailable', 'limit_store_unavailable', [], detail);
    }
    // Keys without limits answer without a counter store, and without an await.
    if (!limits.rateLimit && !limits.quota) return succeed(input, principal, detail, source, NO_HEADERS);
    return charge(input, principal, limits, cost, detail).then((charged) =>
      'ok' in charged ? (charged as AuthResult) : succeed(input, principal, detail, source, charged),
    );
  }

  function succeed(
    input: AuthRequest,
    principal: Principal,
    detail: Detail,
    source: CredentialSource,
    headers: Readonly<Record<string, string>>,
  ): AuthResult {
    if (onEvent) {
      emit({
        type: 'auth.succeeded',
        time: new Date(now()),
        kind: detail.kind,
        keyId: detail.keyId,
        method: input.method,
        path: pathOf(input.url).slice(0, 512),
      });
    }
    return { ok: true, principal, headers, credential: source };
  }

  function authenticate(
    input: AuthRequest,
    route: RouteRequirements | undefined,
    mode: Mode,
  ): AuthResult | Promise<AuthResult> {
    if (requireHttps && input.secure !== true) return refuse(input, 'https_required', 'https_required', []);
    const extracted = extractCredential(input.headers ?? {}, input.url ?? '', credentialConfig);
    if (!extracted.ok) {
      if (extracted.reason === 'no_credentials') {
        return refuse(input, 'missing_credentials', 'no_credentials', allSchemes);
      }
      return refuse(input, 'invalid_request', extracted.reason, allSchemes);
    }
    const { credential } = extracted;
    const challenge = (credential.scheme && challenges.get(credential.scheme)) || defaultChallenge;

    if (credential.kind === 'access_token') {
      const kind = { kind: credential.kind };
      if (mode === 'mint') {
        const schemes = [apiKeyChallenge];
        return refuseCredential(input, credential, 'invalid_credentials', 'token_cannot_mint', schemes, kind);
      }
      if (!tokens) {
        const reason = 'access_tokens_disabled';
        return refuseCredential(input, credential, 'invalid_credentials', reason, challenge, kind);
      }
      const verified = tokens.verify(credential.value);
      if (!verified.ok) {
        const { reason } = verified;
        return refuseCredential(input, credential, 'invalid_credentials', reason, challenge, kind);
      }
      const { claims } = verified;
      // The parent key must still be valid: revoking a key ends its tokens at once.
      const detail = { kind: credential.kind, keyId: claims.sub };
      const withParent = (parent: VerifyApiKeyResult): AuthResult | Promise<AuthResult> => {
        if (!parent.ok)
          return refuse(input, CREDENTIAL_FAILURE[parent.reason], parent.reason, challenge, detail);
        // A token is bound by its own paths and, should the key have been narrowed since, the key's.
        // The key's IP allowlist does not apply: tokens exist to be used from browsers.
        const principal = tokenPrincipalOf(claims, parent.key);
        return authorize(
          input,
          route,
          principal,
          parent.key,
          claims.paths,
          parent.key.paths,
          challenge,
          detail,
          credential.source,
        );
      };
      const parent = keys.lookupNow(claims.sub);
      return parent instanceof Promise ? parent.then(withParent) : withParent(parent);
    }

    // The request is the client: failed verifications are budgeted per address.
    const verified = keys.verifyNow(credential.value, input);
    return verified instanceof Promise
      ? verified.then((result) => afterKeyVerify(input, route, mode, credential, challenge, result))
      : afterKeyVerify(input, route, mode, credential, challenge, verified);
  }

  function afterKeyVerify(
    input: AuthRequest,
    route: RouteRequirements | undefined,
    mode: Mode,
    credential: ExtractedCredential,
    challenge: readonly string[],
    verified: VerifyApiKeyResult,
  ): AuthResult | Promise<AuthResult> {
    if (!verified.ok) {
      const detail =
        verified.keyId === undefined
          ? { kind: credential.kind }
          : { kind: credential.kind, keyId: verified.keyId };
      if (verified.reason === 'throttled') {
        // Too many failed verifications from this client: no new hash for it until the window
        // ends. Not the key's fault, so not a 401: the right key is simply asked to retry.
        const error = throttledError(verified.retryAfter ?? 1);
        return refuse(input, 'rate_limited', 'throttled', [], detail, error);
      }
      const code = CREDENTIAL_FAILURE[verified.reason];
      return refuseCredential(input, credential, code, verified.reason, challenge, detail);
    }
    const info = verified.key;
    const detail = { kind: credential.kind, keyId: info.id };
    if (info.ips.length > 0 && !allowlistOf(info)(input.ip)) {
      return refuse(input, 'ip_not_allowed', 'ip_not_allowed', [], detail);
    }
    // The mint route is reachable by any valid key: what a key may mint is limited by its patterns instead.
    return authorize(
      input,
      route,
      principalOf(info, credential.kind),
      info,
      mode === 'mint' ? null : info.paths,
      null,
      challenge,
      detail,
      credential.source,
    );
  }

  // Only a bug could make authentication throw (the verifier never does): fail closed, never 500.
  const failClosed = (): AuthResult => ({ ok: false, error: authError('auth_unavailable', []) });

  function authenticateNow(input: AuthRequest, route?: RouteRequirements): AuthResult | Promise<AuthResult> {
    try {
      const result = authenticate(input, route, 'request');
      return result instanceof Promise ? result.catch(failClosed) : result;
    } catch {
      return failClosed();
    }
  }

  function requireTokens(): TokenService {
    if (!tokens) throw new TypeError('keywarden: access tokens are not configured (options.tokens)');
    return tokens;
  }

  /** Mints for a valid key, or returns the refusal. */
  function mintFor(
    key: { keyId: string; paths: readonly string[]; scopes: readonly string[] },
    paths: readonly string[],
    expiresIn: number,
    scopes: readonly string[],
  ) {
    const outside = firstPathOutside(paths, key.paths);
    if (outside !== -1) {
      return new AuthError(
        'insufficient_scope',
        {},
        `paths[${outside}] is not within this key's path patterns`,
      );
    }
    const extra = scopes.findIndex((scope) => !key.scopes.includes(scope));
    if (extra !== -1)
      return new AuthError('insufficient_scope', {}, `scopes[${extra}] is not held by this key`);
    const minted = requireTokens().mint({ keyId: key.keyId, paths, scopes, expiresIn });
    if (minted.token.length > maxTokenLength) {
      return new AuthError(
        'invalid_request',
        {},
        `the paths make the token longer than ${maxTokenLength} characters`,
      );
    }
    emit({
      type: 'token.minted',
      time: new Date(now()),
      keyId: key.keyId,
      tokenId: minted.claims.jti,
      expiresIn,
      paths: minted.claims.paths,
    });
    return minted;
  }

  function checkRoute(principal: Principal, route: RouteRequirements | undefined): AuthError | null {
    const required = route?.scopes;
    if (!required) return null;
    for (const scope of required) {
      if (!principal.scopes.includes(scope)) {
        const scheme =
          principal.kind === 'access_token' && accessTokenScheme ? accessTokenScheme : apiKeyChallenge;
        return authError('insufficient_scope', [scheme], required);
      }
    }
    return null;
  }

  function authorizeAgain(
    input: AuthRequest,
    principal: Principal,
    route: RouteRequirements | undefined,
    charged: number,
  ): StackedResult | Promise<StackedResult> {
    const error = checkRoute(principal, route);
    if (error) return { ok: false, error };
    const cost = route?.cost ?? 1;
    const key = keyOfPrincipal.get(principal);
    if (cost <= charged || key === undefined || !key.quota)
      return { ok: true, headers: NO_HEADERS, charged: Math.max(cost, charged) };
    // Only the quota takes the difference: the rate limit counted this request already (cost 0 reads it).
    const detail = { kind: principal.kind, keyId: principal.keyId };
    return charge(input, principal, key, cost - charged, detail, 0).then((result) =>
      'ok' in result ? (result as StackedResult) : { ok: true, headers: result, charged: cost },
    );
  }

  return {
    keys,
    tokensEnabled: tokens !== null,
    checkRoute,
    authorizeAgain,
    authenticateNow,
    authenticate: (input, route) => Promise.resolve(authenticateNow(input, route)),
    async handleMintRequest(input, body) {
      requireTokens();
      let auth: AuthResult;
      try {
        // Minting charges no quota: the calls made with the token do.
        auth = await authenticate(input, MINT_ROUTE, 'mint');
      } catch {
        return { ok: false, error: authError('auth_unavailable', []) };
      }
      if (!auth.ok) return auth;
      const request = parseMintBody(body);
      if (typeof request === 'string') {
        return { ok: false, error: new AuthError('invalid_request', {}, request) };
      }
      // The principal comes from the key verified just now, so its paths and scopes are current.
      const { principal } = auth;
      const minted = mintFor(principal, request.paths, request.expiresIn, principal.scopes);
      if (minted instanceof AuthError) return { ok: false, error: minted };
      return {
        ok: true,
        status: 200,
        headers: MINT_HEADERS,
        principal,
        body: {
          access_token: minted.token,
          token_type: 'AccessToken',
          expires_in: request.expiresIn,
          paths: minted.claims.paths,
        },
      };
    },
    async mintAccessToken(keyId, mintOptions = {}) {
      requireTokens();
      const { paths = ['*'], expiresIn = ACCESS_TOKEN_LIFETIME.default, scopes } = mintOptions;
      const problem = checkMintOptions(paths, expiresIn, 'paths', 'expiresIn');
      if (problem) throw new AuthError('invalid_request', {}, problem);
      const parent = await keys.lookup(keyId);
      if (!parent.ok) throw authError(CREDENTIAL_FAILURE[parent.reason], [apiKeyChallenge]);
      const key = { keyId: parent.key.id, paths: parent.key.paths, scopes: parent.key.scopes };
      const minted = mintFor(key, [...new Set(paths)], expiresIn, scopes ?? key.scopes);
      if (minted instanceof AuthError) throw minted;
      return {
        token: minted.token,
        expiresIn,
        expiresAt: new Date(minted.claims.exp * 1000),
        paths: minted.claims.paths,
        scopes: minted.claims.scope === '' ? [] : minted.claims.scope.split(' '),
        tokenId: minted.claims.jti,
      };
    },
  };
}

/**
 * Whether the request target's path matches one of `paths` and one of `alsoPaths` (null: no
 * condition; `*` matches any target). The path is cut from the target and checked for safety once
 * for both lists: a token's request checks its own patterns and its key's.
 */
function pathsAllow(
  paths: readonly string[] | null,
  alsoPaths: readonly string[] | null,
  url: string,
): boolean {
  const any = paths === null || paths.includes('*');
  const alsoAny = alsoPaths === null || alsoPaths.includes('*');
  if (any && alsoAny) return true;
  const path = pathOf(url);
  if (!isSafeRawPath(path)) return false;
  return (any || matchesOne(paths!, path)) && (alsoAny || matchesOne(alsoPaths!, path));
}

/** Whether a safe raw path matches one of the (valid) patterns. */
function matchesOne(patterns: readonly string[], path: string): boolean {
  for (const pattern of patterns) if (matchesSafePath(pattern, path)) return true;
  return false;
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const MINT_ROUTE: RouteRequirements = Object.freeze({ cost: 0 });
const MINT_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'cache-control': 'no-store' });
