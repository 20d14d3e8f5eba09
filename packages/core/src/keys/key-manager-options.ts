// The key manager's options, checked once into the settings its parts share.

import { availableParallelism } from 'node:os';
import { configError } from '../errors/config-error.js';
import { createEventHub, type EventHandler, type EventHub } from '../events.js';
import type { KeyStore } from '../stores/key-store.js';
import {
  checkedOption,
  functionOption,
  integerOption,
  optionsObject,
  requiredOption,
} from '../util/options.js';
import { createFairQueue, type FairQueue } from './hash-queue.js';
import { createArgon2Hasher, type Hasher } from './hashers.js';
import { isValidKeyPrefix } from './key-format.js';
import { createVerifyThrottle, type VerifyThrottle } from './verify-throttle.js';

/**
 * Hashes at once unless told: one less than the cores (the event loop keeps one), 1 to 4. An
 * argon2 hash is 15 ms of a core; with as many hashes as cores, warm requests wait behind them.
 */
const DEFAULT_CONCURRENT_HASHES = Math.max(1, Math.min(4, availableParallelism() - 1));

/** Verification cache sizes and lifetimes. */
export interface KeyCacheOptions {
  /**
   * Keys kept in memory: one compact entry per key holds its record and a keyed 128-bit digest
   * (SipHash) of the plaintext that matched its hash (never the plaintext). About 340 bytes of heap per key
   * (`pnpm bench`). @default 10000
   */
  maxKeys?: number;
  /** How long a verified key skips the hasher, in ms: argon2 runs once per key per this period. @default 600000 */
  verifiedTtlMs?: number;
  /**
   * How long a record is trusted without reading the store again, in ms. Changes made through this
   * manager, and changes a store reports through `subscribe`, apply at once regardless.
   * @default 30000
   */
  recordTtlMs?: number;
  /** How long an unknown key id is answered from memory, in ms. @default 10000 */
  unknownTtlMs?: number;
  /** Unknown ids remembered. A spray of random ids cannot grow memory past this. @default 10000 */
  maxUnknown?: number;
  /**
   * Store reads a second for records the caches miss, per process. Within it every miss is its
   * own read; past it (a spray of random key ids, the first requests after a deploy) misses wait
   * for the next read, at most `1 / maxStoreReadsPerSecond` s, and go together as one
   * `getMany` of up to 1,000 ids, so a botnet's spray costs the store this many queries a second
   * whatever its size, and no key that exists is ever refused for it. 0 reads each miss at once,
   * unbounded; so does a store without `getMany`. @default 100
   */
  maxStoreReadsPerSecond?: number;
}

/**
 * Budgets for the work that failed verifications cause. A cold verification (a store read and a
 * hash) reserves one failure from its client's budget, and from the budget of its key id and
 * client, before it starts; a matching secret gives it back. A client over a budget gets 429
 * with `Retry-After` for new cold verifications until its window ends; a warm key (verified
 * before) still passes, and other clients are not affected, so a key is never locked out by
 * failures on its id. Counted per process (they protect this process's CPU), in bounded tables.
 */
export interface FailureThrottleOptions {
  /** Failed verifications per key id and client in one window. @default 10 */
  maxFailures?: number;
  /** Failed verifications per client (any key id; IPv6 per /64) in one window. @default 30 */
  maxClientFailures?: number;
  /** Window length in ms; a client's window starts at its first failure. @default 60000 */
  windowMs?: number;
  /** Clients, and key id and client pairs, tracked at once (beyond: coarser partitions). @default 10000 */
  maxTracked?: number;
}

/** Options for `createKeyManager`. Validated once; unknown fields throw a `KeywardenConfigError`. */
export interface KeyManagerOptions {
  /** Where records live. */
  store: KeyStore;
  /** Hashes new keys and verifies presented ones. @default createArgon2Hasher() */
  hasher?: Hasher;
  /**
   * Hashers keys were created with before `hasher` (a move from argon2id to HMAC, say): a key
   * whose stored hash one of them recognizes verifies with it, and after that success is hashed
   * again with `hasher` and stored (once: the store's `replaceHash` changes it only while it is
   * still the old hash, so of several instances one writes), with a `key.rehashed` event. Keep
   * one here until `keywarden keys hashes` counts no key of its kind. @default []
   */
  earlierHashers?: readonly Hasher[];
  /** Environment name to key prefix. @default { live: 'kw_live', test: 'kw_test' } */
  environments?: Record<string, string>;
  /** Environment of keys created without one. @default the first of `environments` */
  defaultEnvironment?: string;
  /** Clock in epoch milliseconds; inject a fixed one in tests. @default Date.now */
  now?: () => number;
  /** The verified-key cache (size and lifetimes). */
  cache?: KeyCacheOptions;
  /** Budgets for failed verifications per client, and per key id and client; `false` turns them off. */
  failureThrottle?: FailureThrottleOptions | false;
  /**
   * Hash verifications running at once, each on a thread of libuv's pool. The default leaves the
   * event loop a core of its own: one less than the cores, at least 1 and at most 4. On 2 cores,
   * during 1,000 first requests of argon2 keys right after a restart, warm requests' p99 rose
   * 9.8-12.8x with 4 hashes at once and 2.4-6.6x with 1 (medians of batches of three runs; their
   * median, about 1 ms, unmoved), while the storm took 8.2-10.4 s and 12.0-15.3 s
   * (`node bench/storm-http.mjs`).
   * @default max(1, min(4, cores - 1))
   */
  maxConcurrentHashes?: number;
  /** Verifications waiting for a slot (served round-robin across clients); beyond it a cold key gets `busy` (503). @default 1000 */
  maxQueuedHashes?: number;
  /** Minimum time between `lastUsedAt` writes for one key, in ms. @default 60000 */
  lastUsedIntervalMs?: number;
  /** Grace period for `rotate` when none is given, in seconds. @default 86400 */
  defaultRotationGraceSeconds?: number;
  /**
   * Days a revoked or expired key's record is kept (for audits and support) before `purge`
   * deletes it; `false` keeps records forever. The authenticator purges once a day; the CLI's
   * `keys purge` does it now. Usage already counted is not touched. @default 30
   */
  purgeAfterDays?: number | false;
  /** Receives key lifecycle events (created, rotated, revoked...); never given key material. */
  onEvent?: EventHandler;
}

/** The options, checked: what the verifier and the lifecycle share. */
export interface KeyManagerSettings {
  store: KeyStore;
  hasher: Hasher;
  /** Hashers of stored hashes that `hasher` re-hashes after a success. */
  earlierHashers: readonly Hasher[];
  environments: Readonly<Record<string, string>>;
  prefixes: ReadonlySet<string>;
  defaultEnvironment: string;
  now: () => number;
  cache: Required<KeyCacheOptions>;
  /** Null when the budgets are off. */
  throttle: VerifyThrottle | null;
  hashQueue: FairQueue;
  lastUsedIntervalMs: number;
  defaultGraceSeconds: number;
  /** Null when records are kept forever. */
  purgeAfterDays: number | null;
  /** `onEvent` and the subscribers. */
  events: EventHub;
  /** `events.emit`: never throws. */
  emit: EventHandler;
}

const OPTION_KEYS = [
  'store',
  'hasher',
  'earlierHashers',
  'environments',
  'defaultEnvironment',
  'now',
  'cache',
  'failureThrottle',
  'maxConcurrentHashes',
  'maxQueuedHashes',
  'lastUsedIntervalMs',
  'defaultRotationGraceSeconds',
  'purgeAfterDays',
  'onEvent',
];

function environmentsOf(options: KeyManagerOptions) {
  const environments = { ...(options.environments ?? { live: 'kw_live', test: 'kw_test' }) };
  const names = Object.keys(environments);
  if (names.length === 0)
    throw configError('KW_INVALID_OPTION', 'environments', 'must name at least one prefix');
  for (const [name, prefix] of Object.entries(environments)) {
    if (!isValidKeyPrefix(prefix))
      throw configError(
        'KW_INVALID_OPTION',
        `environments.${name}`,
        `has an invalid prefix ${JSON.stringify(prefix)}`,
      );
  }
  const prefixes: ReadonlySet<string> = new Set(Object.values(environments));
  if (prefixes.size !== names.length)
    throw configError('KW_INVALID_OPTION', 'environments', 'has two environments that share a prefix');
  const defaultEnvironment = options.defaultEnvironment ?? names[0]!;
  if (!(defaultEnvironment in environments))
    throw configError(
      'KW_INVALID_OPTION',
      'defaultEnvironment',
      `names no environment: ${JSON.stringify(defaultEnvironment)}`,
    );
  return { environments, prefixes, defaultEnvironment };
}

function cacheOf(value: KeyCacheOptions | undefined): Required<KeyCacheOptions> {
  const o = optionsObject('cache', value, [
    'maxKeys',
    'verifiedTtlMs',
    'recordTtlMs',
    'unknownTtlMs',
    'maxUnknown',
    'maxStoreReadsPerSecond',
  ]);
  return {
    maxKeys: integerOption('cache.maxKeys', o.maxKeys, 10_000),
    verifiedTtlMs: integerOption('cache.verifiedTtlMs', o.verifiedTtlMs, 600_000, { min: 0 }),
    recordTtlMs: integerOption('cache.recordTtlMs', o.recordTtlMs, 30_000, { min: 0 }),
    unknownTtlMs: integerOption('cache.unknownTtlMs', o.unknownTtlMs, 10_000, { min: 0 }),
    maxUnknown: integerOption('cache.maxUnknown', o.maxUnknown, 10_000),
    maxStoreReadsPerSecond: integerOption('cache.maxStoreReadsPerSecond', o.maxStoreReadsPerSecond, 100, {
      min: 0,
      max: 1_000_000,
    }),
  };
}

function throttleOf(
  value: FailureThrottleOptions | false | undefined,
  now: () => number,
): VerifyThrottle | null {
  if (value === false) return null;
  const o = optionsObject('failureThrottle', value, [
    'maxFailures',
    'maxClientFailures',
    'windowMs',
    'maxTracked',
  ]);
  return createVerifyThrottle({
    maxKeyFailures: integerOption('failureThrottle.maxFailures', o.maxFailures, 10),
    maxClientFailures: integerOption('failureThrottle.maxClientFailures', o.maxClientFailures, 30),
    windowMs: integerOption('failureThrottle.windowMs', o.windowMs, 60_000),
    maxTracked: integerOption('failureThrottle.maxTracked', o.maxTracked, 10_000),
    now,
  });
}

/** `earlierHashers`: a list of hashers (each with `id`, `hash` and `verify`). */
function earlierHashersOf(value: unknown): readonly Hasher[] {
  const isHasher = (h: unknown) =>
    typeof h === 'object' &&
    h !== null &&
    typeof (h as Hasher).verify === 'function' &&
    typeof (h as Hasher).id === 'string';
  const list = checkedOption('earlierHashers', value as Hasher[] | undefined, [], {
    valid: (v) => Array.isArray(v) && v.every(isHasher),
    expected: 'an array of hashers',
  });
  return Object.freeze([...list]);
}

/** Checks the options once: unknown keys and bad values throw a `KeywardenConfigError`. */
export function resolveKeyManagerOptions(options: KeyManagerOptions): KeyManagerSettings {
  requiredOption('options', options as object | undefined, (v) => typeof v === 'object', 'an object');
  const o = optionsObject('', options, OPTION_KEYS);
  const store = requiredOption('store', o.store, (v) => typeof v?.get === 'function', 'a KeyStore');
  const now = functionOption('now', o.now, Date.now);
  const events = createEventHub(o.onEvent && functionOption('onEvent', o.onEvent, o.onEvent));
  return {
    store,
    hasher: o.hasher ?? createArgon2Hasher(),
    earlierHashers: earlierHashersOf(o.earlierHashers),
    ...environmentsOf(o),
    now,
    cache: cacheOf(o.cache),
    throttle: throttleOf(o.failureThrottle, now),
    hashQueue: createFairQueue(
      integerOption('maxConcurrentHashes', o.maxConcurrentHashes, DEFAULT_CONCURRENT_HASHES, { max: 1024 }),
      integerOption('maxQueuedHashes', o.maxQueuedHashes, 1000, { min: 0 }),
    ),
    lastUsedIntervalMs: integerOption('lastUsedIntervalMs', o.lastUsedIntervalMs, 60_000, { min: 0 }),
    defaultGraceSeconds: integerOption('defaultRotationGraceSeconds', o.defaultRotationGraceSeconds, 86_400, {
      min: 0,
    }),
    purgeAfterDays:
      o.purgeAfterDays === false
        ? null
        : integerOption('purgeAfterDays', o.purgeAfterDays, 30, { min: 0, max: 36_600 }),
    events,
    emit: events.emit,
  };
}
