// createKeywarden's options, checked once into the settings the request pipeline shares: the
// credential forms and their challenges, the HTTPS rule, the token service, the counter store.

import { type Plan, type Plans, resolvePlans } from './accounts/plans.js';
import { configError } from './errors/config-error.js';
import { createEventHub, type EventHandler, type EventHub } from './events.js';
import type { KeyManager } from './keys/key-manager.js';
import type { LimitStore } from './limits/limit-store.js';
import { createMemoryLimitStore } from './limits/memory-limit-store.js';
import {
  HEADER_STYLES,
  type RateLimitHeaderStyle,
  rateLimitHeaderWriter,
} from './limits/ratelimit-headers.js';
import {
  createThresholds,
  resolveThresholds,
  type ThresholdOptions,
  type Thresholds,
} from './limits/thresholds.js';
import type { CredentialConfig, CredentialKind } from './request/credentials.js';
import { type AccessTokenOptions, createTokenService, type TokenService } from './tokens/access-tokens.js';
import { createMemoryUsageStore } from './usage/memory-usage-store.js';
import { createMeter, type Meter } from './usage/meter.js';
import { registerMeter } from './usage/registry.js';
import type { UsageStore } from './usage/usage-store.js';
import {
  booleanOption,
  checkedOption,
  conflict,
  functionOption,
  integerOption,
  optionsObject,
  requiredOption,
} from './util/options.js';

/**
 * Rate limits and quotas. (Failed verifications are budgeted by the key manager, per client:
 * `createKeyManager({ failureThrottle })`.)
 */
export interface LimitOptions {
  /** Where counters live; share one (`@keywarden/redis`) between instances. @default createMemoryLimitStore() */
  store?: LimitStore;
  /**
   * Which form of the rate-limit headers to send, or several (`['draft-11', 'legacy']`): the
   * IETF draft's current one, an older draft's, or the `X-RateLimit-*` trio.
   * @default 'draft-11'
   */
  headers?: RateLimitHeaderStyle | readonly RateLimitHeaderStyle[];
  /**
   * When the counter store fails: `false` answers 503 `auth_unavailable`; `true` lets
   * authenticated requests through without RateLimit headers (authentication still runs). @default false
   */
  failOpen?: boolean;
}

/**
 * Usage metering: per key and UTC day, the requests admitted, the quota units charged and the
 * refusals by code (an access token's count toward its key). Counted in memory and written in
 * batches, so metering adds no round trip to a request. Read it with `keys.usage(keyId)`.
 */
export interface UsageOptions {
  /**
   * Where usage is kept.
   * @default the key store's (`@keywarden/postgres`), else the limit store's (`@keywarden/redis`, memory)
   */
  store?: UsageStore;
  /** Days kept, today included; older days are deleted. @default 90 */
  retentionDays?: number;
  /** How often counts are written, in ms. @default 1000 */
  flushMs?: number;
}

/** Options for `createKeywarden`. Validated once; unknown fields and bad values throw a `KeywardenConfigError`. */
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
  /** Rate limits and quotas of keys (from their records). */
  limits?: LimitOptions;
  /**
   * The plans accounts are on, by name: each plan's limits apply to all of an account's keys
   * together, besides each key's own. A key's `ownerId` names its account (`keys.accounts`); an
   * account whose plan is not here is refused (503, fail closed).
   *
   * @example
   * ```ts
   * plans: {
   *   free: { rateLimits: [{ limit: 60, windowSeconds: 60 }], quota: { limit: 50, period: 'month' }, maxKeys: 2 },
   *   pro: { rateLimits: [{ limit: 600, windowSeconds: 60 }], quota: { limit: 10_000, period: 'month' }, maxKeys: 10 },
   * }
   * ```
   */
  plans?: Plans;
  /**
   * `usage.threshold` events: when an account's usage crosses shares of its quota, and when its
   * prepaid credits fall below a floor; once per period across instances. `false`: none.
   * @default { quota: [80, 100] }
   *
   * @example
   * ```ts
   * thresholds: { quota: [80, 100], creditsBelow: 100 },
   * onEvent: (event) => { if (event.type === 'usage.threshold') notify(event.accountId, event); },
   * ```
   */
  thresholds?: ThresholdOptions | false;
  /** Access tokens: the signing keyring and claims. Without it, every access token is refused and minting is off. */
  tokens?: AccessTokenOptions;
  /** Usage metering, or `false` to count nothing. @default on, 90 days, written every second */
  usage?: UsageOptions | false;
  /** Receives `auth.succeeded` and `auth.failed` (with the precise reason); never a secret. */
  onEvent?: EventHandler;
  /** Clock in epoch ms. @default Date.now */
  now?: () => number;
}

/** The options, checked: what the stages of the request pipeline share. */
export interface KeywardenSettings {
  keys: KeyManager;
  requireHttps: boolean;
  realm: string;
  maxTokenLength: number;
  now: () => number;
  /** Null when access tokens are off. */
  tokens: TokenService | null;
  /** `onEvent` and the subscribers: per-request events are built only when `events.wants` them. */
  events: EventHub;
  /** `events.emit`: never throws. */
  emit: EventHandler;
  limitStore: LimitStore;
  failOpen: boolean;
  /** The plans by name; null when none are configured (every account's plan is then unknown). */
  plans: ReadonlyMap<string, Readonly<Plan>> | null;
  /** Counts requests per key and day; null when metering is off. */
  meter: Meter | null;
  /** Claims threshold crossings; null when off. */
  thresholds: Thresholds | null;
  /** Writes the rate-limit headers in the configured styles. */
  rateLimitHeaders: ReturnType<typeof rateLimitHeaderWriter>;
  credentials: CredentialConfig;
  /** Challenge schemes when nothing usable was presented: every configured scheme. */
  allSchemes: readonly string[];
  /** The scheme named in challenges about API keys. */
  apiKeyScheme: string;
  accessTokenScheme: string | false;
  /** The challenge for a credential without a scheme (a header or query parameter). */
  defaultChallenge: readonly string[];
  /** The one-scheme challenge of each scheme, by lower-case name, made once. */
  challenges: ReadonlyMap<string, readonly string[]>;
}

const OPTION_KEYS = [
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
  'plans',
  'thresholds',
  'usage',
  'onEvent',
  'now',
];
const MOVED =
  'moved to createKeyManager({ failureThrottle }): failed verifications are budgeted per client there';
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/; // RFC 9110 token: header names and auth schemes
const isToken = (v: unknown) => typeof v === 'string' && TOKEN.test(v);

/** The credential forms: which header, schemes and query parameter carry what, and their challenges. */
function credentialsOf(o: KeywardenOptions) {
  const apiKeyHeader = checkedOption('apiKeyHeader', o.apiKeyHeader, 'x-api-key', {
    valid: (v) => v === false || isToken(v),
    expected: 'a header name or false',
  });
  const apiKeySchemes = checkedOption('apiKeySchemes', o.apiKeySchemes, ['Bearer', 'Token'], {
    valid: (v) => Array.isArray(v) && v.every(isToken),
    expected: 'an array of scheme names',
  });
  const accessTokenScheme = checkedOption('accessTokenScheme', o.accessTokenScheme, 'AccessToken', {
    valid: (v) => v === false || isToken(v),
    expected: 'a scheme name or false',
  });
  const queryParam = checkedOption('apiKeyQueryParam', o.apiKeyQueryParam, false, {
    valid: (v) => v === false || (typeof v === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(v)),
    expected: 'a parameter name or false',
  });
  const schemes = new Map<string, CredentialKind>();
  const names = new Map<string, string>(); // lower case to the configured spelling
  for (const scheme of apiKeySchemes) {
    schemes.set(scheme.toLowerCase(), 'api_key');
    names.set(scheme.toLowerCase(), scheme);
  }
  if (accessTokenScheme !== false) {
    if (schemes.has(accessTokenScheme.toLowerCase()))
      conflict('accessTokenScheme', 'must differ from the API key schemes');
    schemes.set(accessTokenScheme.toLowerCase(), 'access_token');
    names.set(accessTokenScheme.toLowerCase(), accessTokenScheme);
  }
  if (schemes.size === 0 && apiKeyHeader === false && queryParam === false)
    conflict('apiKeyHeader', 'leaves no way to present a credential');
  const apiKeyScheme = apiKeySchemes[0] ?? 'Bearer';
  return {
    accessTokenScheme,
    apiKeyScheme,
    schemes,
    apiKeyHeader: apiKeyHeader === false ? null : apiKeyHeader.toLowerCase(),
    queryParam: queryParam === false ? null : queryParam,
    allSchemes: [...names.values()],
    defaultChallenge: Object.freeze([apiKeyScheme]),
    challenges: new Map([...names].map(([lower, name]) => [lower, Object.freeze([name])])),
  };
}

/** Checks the options once: unknown keys and bad values throw a `KeywardenConfigError`. */
export function resolveKeywardenOptions(options: KeywardenOptions): KeywardenSettings {
  requiredOption('options', options as object | undefined, (v) => typeof v === 'object', 'an object');
  const o = optionsObject('', options, OPTION_KEYS);
  const keys = requiredOption('keys', o.keys, (v) => typeof v?.verify === 'function', 'a KeyManager');
  const limits = optionsObject('limits', o.limits, ['store', 'failOpen', 'headers'], {
    failedAuth: MOVED,
    maxBlockedClients: MOVED,
  });
  const styles = checkedOption<RateLimitHeaderStyle | readonly RateLimitHeaderStyle[]>(
    'limits.headers',
    limits.headers,
    'draft-11',
    {
      valid: (v) => {
        const list = typeof v === 'string' ? [v] : v;
        return Array.isArray(list) && list.length > 0 && list.every((s) => HEADER_STYLES.includes(s));
      },
      expected: `one of ${HEADER_STYLES.join(', ')}, or an array of them`,
    },
  );
  const limitStore = checkedOption('limits.store', limits.store, undefined, {
    valid: (v) => typeof v?.consume === 'function',
    expected: 'a LimitStore',
  });
  const now = functionOption('now', o.now, Date.now);
  const maxTokenLength = integerOption('maxTokenLength', o.maxTokenLength, 8192, { min: 64, max: 65536 });
  const { apiKeyHeader, schemes, queryParam, ...challenges } = credentialsOf(o);
  const events = createEventHub(o.onEvent && functionOption('onEvent', o.onEvent, o.onEvent));
  const store = limitStore ?? createMemoryLimitStore();
  return {
    keys,
    requireHttps: booleanOption('requireHttps', o.requireHttps, process.env.NODE_ENV === 'production'),
    realm: checkedOption('realm', o.realm, 'api', {
      valid: (v) => typeof v === 'string' && /^[\x20-\x7e]{0,100}$/.test(v),
      expected: 'printable ASCII',
    }),
    maxTokenLength,
    now,
    tokens: o.tokens === undefined ? null : createTokenService(o.tokens, now, maxTokenLength),
    events,
    emit: events.emit,
    limitStore: store,
    failOpen: booleanOption('limits.failOpen', limits.failOpen, false),
    plans: plansOf(o.plans, keys),
    meter: meterOf(o.usage, { keys, limitStore: store, now, events }),
    thresholds: createThresholds(resolveThresholds(o.thresholds), { limitStore: store, emit: events.emit }),
    rateLimitHeaders: rateLimitHeaderWriter(typeof styles === 'string' ? [styles] : styles),
    credentials: {
      apiKeyHeader,
      schemes,
      queryParam,
      maxLength: { api_key: 256, access_token: maxTokenLength },
    },
    ...challenges,
  };
}

/** The plans, checked; they need a key store that keeps accounts, or no account could be charged. */
function plansOf(plans: unknown, keys: KeyManager): KeywardenSettings['plans'] {
  const resolved = resolvePlans(plans);
  if (resolved !== null && keys.accounts?.enabled !== true)
    throw configError(
      'KW_INVALID_OPTION',
      'plans',
      'need a key store that keeps accounts (every store keywarden ships does)',
    );
  return resolved;
}

/** The meter `usage` asks for, registered with the key manager so that `keys.usage` sees its counts. */
function meterOf(
  usage: KeywardenOptions['usage'],
  parts: { keys: KeyManager; limitStore: LimitStore; now: () => number; events: EventHub },
): Meter | null {
  if (usage === false) return null;
  const o = optionsObject('usage', usage, ['store', 'retentionDays', 'flushMs']);
  const store =
    checkedOption('usage.store', o.store, undefined, {
      valid: (v) => typeof v?.add === 'function' && typeof v?.read === 'function',
      expected: 'a UsageStore',
    }) ??
    parts.keys.usageStore ??
    parts.limitStore.usage ??
    createMemoryUsageStore();
  const { events, now } = parts;
  const meter = createMeter({
    store,
    retentionDays: integerOption('usage.retentionDays', o.retentionDays, 90, { min: 1, max: 3660 }),
    flushMs: integerOption('usage.flushMs', o.flushMs, 1000, { min: 10, max: 3_600_000 }),
    now,
    onError(error) {
      const message = (error as Error)?.message ?? 'error';
      events.emit({ type: 'store.error', time: new Date(now()), operation: 'usage', message });
    },
  });
  registerMeter(parts.keys, store, meter);
  return meter;
}
