import * as nodeCrypto from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { type EventHandler, safeEventHandler } from './events.js';
import { createFairQueue, QueueFullError } from './fair-queue.js';
import { createArgon2Hasher, type Hasher } from './hashers.js';
import { generateApiKey, hasApiKeyFrame, isValidKeyPrefix, parseApiKey } from './key-format.js';
import { clientPartition, secondsUntil } from './limits.js';
import {
  type ApiKeyInfo,
  type KeyRecord,
  type KeyRecordPatch,
  type KeySettings,
  toApiKeyInfo,
  validateKeySettings,
} from './record.js';
import type { KeyListFilter, KeyStore } from './store.js';
import { createVerifyThrottle, type VerifyThrottle } from './verify-throttle.js';

/** Verification cache sizes and lifetimes. */
export interface KeyCacheOptions {
  /** Verified keys (and their records) kept in memory. @default 10000 */
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

/**
 * Who presented a key, for the failure budgets and the fair hash queue. The adapters pass the
 * request; `ip` is read once, before any work starts.
 */
export interface VerifyClient {
  /** The client address as the framework resolves it (IPv6 counts per /64); none counts as one shared client. */
  readonly ip?: string | undefined;
}

/** Options for {@link createKeyManager}. Validated once; unknown fields throw. */
export interface KeyManagerOptions {
  /** Where records live. */
  store: KeyStore;
  /** Hashes new keys and verifies presented ones. @default createArgon2Hasher() */
  hasher?: Hasher;
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
  /** Hash verifications running at once (argon2 uses libuv's 4 threads). @default 4 */
  maxConcurrentHashes?: number;
  /** Verifications waiting for a slot (served round-robin across clients); beyond it a cold key gets `busy` (503). @default 1000 */
  maxQueuedHashes?: number;
  /** Minimum time between `lastUsedAt` writes for one key, in ms. @default 60000 */
  lastUsedIntervalMs?: number;
  /** Grace period for {@link KeyManager.rotate} when none is given, in seconds. @default 86400 */
  defaultRotationGraceSeconds?: number;
  /** Receives key lifecycle events (created, rotated, revoked...); never given key material. */
  onEvent?: EventHandler;
}

/** Input of {@link KeyManager.create}. */
export interface CreateKeyInput extends KeySettings {
  name: string;
  /** Environment name (a key of `environments`). @default the manager's default environment */
  environment?: string;
  /** Lifetime in seconds from now; an alternative to `expiresAt`. */
  expiresIn?: number;
}

/** A new key: the plaintext, shown once, and its record. */
export interface CreatedApiKey {
  /** The plaintext key. It is not stored anywhere; show it to its owner once. */
  key: string;
  record: ApiKeyInfo;
}

/** Options of {@link KeyManager.rotate}. */
export interface RotateKeyOptions {
  /** How long the old key keeps working, in seconds (never past its own expiry). @default 86400 */
  gracePeriodSeconds?: number;
  /** Name of the new key. @default the old key's name */
  name?: string;
}

/** Why a presented key was refused. Never shown to clients; reported in events. */
export type VerifyFailureReason =
  | 'malformed'
  | 'bad_checksum'
  | 'unknown_key'
  | 'wrong_secret'
  | 'revoked'
  | 'expired'
  | 'throttled'
  | 'busy'
  | 'store_unavailable';

/** Result of {@link KeyManager.verify}. */
export type VerifyApiKeyResult =
  | { ok: true; key: ApiKeyInfo }
  | {
      ok: false;
      reason: VerifyFailureReason;
      /** Public id when the key was well formed. */
      keyId?: string;
      /** For `throttled`: seconds until the client may try a cold verification again. */
      retryAfter?: number;
    };

/** Create, manage and verify API keys. Made by {@link createKeyManager}. */
export interface KeyManager {
  /** Creates a key. The full key is in the result only: it is never stored, so show it once. */
  create(input: CreateKeyInput): Promise<CreatedApiKey>;
  /** Lists keys (without hashes), optionally for one owner. */
  list(filter?: KeyListFilter): Promise<ApiKeyInfo[]>;
  /** One key by its public id (without its hash); null when it does not exist. */
  get(id: string): Promise<ApiKeyInfo | null>;
  /** Changes settings; null when the key does not exist. */
  update(id: string, settings: KeySettings): Promise<ApiKeyInfo | null>;
  /** Revokes at once (idempotent); null when the key does not exist. */
  revoke(id: string): Promise<ApiKeyInfo | null>;
  /**
   * Creates a new key with the old one's settings; the old key works until
   * `min(now + grace, its own expiry)`. A key that had a lifetime gets the same lifetime from now.
   * Null when the key does not exist; throws for a revoked key.
   */
  rotate(id: string, options?: RotateKeyOptions): Promise<CreatedApiKey | null>;
  /** Deletes the record for good (revoke instead to keep an audit trail); false when it did not exist. */
  delete(id: string): Promise<boolean>;
  /**
   * Checks a presented key. Never throws for any input. Give the `client` (its address) whenever
   * there is one: failed verifications are budgeted per client, and without one every call
   * shares a single budget.
   */
  verify(key: unknown, client?: VerifyClient): Promise<VerifyApiKeyResult>;
  /**
   * Checks that the key with this id exists and is neither revoked nor expired, without a secret:
   * how access tokens confirm their parent key on every request. Uses the record cache.
   */
  lookup(id: string): Promise<VerifyApiKeyResult>;
  /**
   * {@link KeyManager.verify} that answers without a promise when it can (a warm key): the request
   * path of the adapters uses it to save the microtask hops of a promise. Never throws.
   */
  verifyNow(key: unknown, client?: VerifyClient): VerifyApiKeyResult | Promise<VerifyApiKeyResult>;
  /** {@link KeyManager.lookup} that answers without a promise when the record is cached. Never throws. */
  lookupNow(id: string): VerifyApiKeyResult | Promise<VerifyApiKeyResult>;
  /** Drops everything cached about a key id, or about every key when `id` is null (stores call this through `subscribe`). */
  invalidate(id: string | null): void;
  /** Stops listening to the store. Does not close the store. */
  close(): void;
}

type Failure = Extract<VerifyApiKeyResult, { ok: false }>;
type ColdOutcome = { ok: true; entry: RecordEntry } | Failure;
interface RecordEntry {
  record: KeyRecord;
  info: ApiKeyInfo;
  until: number;
  /** The success result for this record, made once: the warm path returns it without allocating. */
  accepted: VerifyApiKeyResult;
  /** Until when `lastUsedAt` needs no write (a fast check before the `touched` LRU). */
  touchedUntil: number;
}
interface VerifiedEntry {
  id: string;
  hash: string;
  until: number;
}

const OPTION_KEYS = new Set([
  'store',
  'hasher',
  'environments',
  'defaultEnvironment',
  'now',
  'cache',
  'failureThrottle',
  'maxConcurrentHashes',
  'maxQueuedHashes',
  'lastUsedIntervalMs',
  'defaultRotationGraceSeconds',
  'onEvent',
]);

function checkKeys(name: string, value: object, allowed: readonly string[] | Set<string>): void {
  const set = allowed instanceof Set ? allowed : new Set(allowed);
  for (const key of Object.keys(value)) {
    if (!set.has(key)) throw new TypeError(`keywarden: unknown option ${name}${key}`);
  }
}

function int(name: string, value: number | undefined, fallback: number, min = 1, max = 2 ** 31): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`keywarden: ${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

function freezeInfo(info: ApiKeyInfo): ApiKeyInfo {
  Object.freeze(info.scopes);
  Object.freeze(info.paths);
  Object.freeze(info.ips);
  return Object.freeze(info);
}

// One-shot `crypto.hash` (Node >= 20.12) is 2.6x faster than createHash() for a 58-byte key
// (248 vs 644 ns, `pnpm bench`); older Node 20 releases fall back to createHash. The digest is
// only ever a Map key in this process, so it stays in 'binary' (latin1: 32 one-byte characters):
// making it and looking it up cost 272 ns against 323 ns as base64, whose 44 characters V8 hashes.
const oneShot = (nodeCrypto as { hash?: (algorithm: string, data: string, encoding: 'binary') => string })
  .hash;
const sha256 = oneShot
  ? (text: string) => oneShot('sha256', text, 'binary')
  : (text: string) => nodeCrypto.createHash('sha256').update(text).digest('binary');

const MALFORMED_KEY: Failure = Object.freeze({ ok: false, reason: 'malformed' });

const fail = (reason: VerifyFailureReason, keyId?: string): Failure =>
  keyId === undefined ? { ok: false, reason } : { ok: false, reason, keyId };

/** The throttle from its options, or null when turned off. */
function throttleFrom(
  options: FailureThrottleOptions | false | undefined,
  now: () => number,
): VerifyThrottle | null {
  if (options === false) return null;
  const o = options ?? {};
  checkKeys('failureThrottle.', o, ['maxFailures', 'maxClientFailures', 'windowMs', 'maxTracked']);
  return createVerifyThrottle({
    maxKeyFailures: int('failureThrottle.maxFailures', o.maxFailures, 10),
    maxClientFailures: int('failureThrottle.maxClientFailures', o.maxClientFailures, 30),
    windowMs: int('failureThrottle.windowMs', o.windowMs, 60_000),
    maxTracked: int('failureThrottle.maxTracked', o.maxTracked, 10_000),
    now,
  });
}

/**
 * Creates the API key manager: the lifecycle (create, list, get, update, revoke, rotate, delete)
 * and the verifier, which share one cache so that a revocation here applies to the next request.
 *
 * Verification of a well-formed key: a bounded LRU keyed by the SHA-256 of the key (never the
 * plaintext) remembers keys whose secret already matched, so the hasher runs once per key per
 * `verifiedTtlMs`; concurrent first uses of one key share one store read and one hash
 * (single-flight); hashes run at most `maxConcurrentHashes` at a time, taken round-robin across
 * clients; unknown ids are remembered for `unknownTtlMs`; each cold verification reserves a
 * failure from its client's budgets first (see {@link FailureThrottleOptions}), so a client over
 * them gets `throttled` without any work, while a warm key always answers.
 * Revocation and expiry are checked on every call, cached or not.
 *
 * @example
 * ```ts
 * const keys = createKeyManager({ store: await openFileKeyStore('.keywarden/keys.json') });
 * const { key } = await keys.create({ name: 'acme backend', scopes: ['images:write'] });
 * const result = await keys.verify(key); // { ok: true, key: { id, name, scopes, ... } }
 * ```
 */
export function createKeyManager(options: KeyManagerOptions): KeyManager {
  if (typeof options !== 'object' || options === null) throw new TypeError('keywarden: options are required');
  checkKeys('', options, OPTION_KEYS);
  const { store } = options;
  if (!store || typeof store.get !== 'function')
    throw new TypeError('keywarden: options.store must be a KeyStore');
  const hasher = options.hasher ?? createArgon2Hasher();
  const environments = { ...(options.environments ?? { live: 'kw_live', test: 'kw_test' }) };
  const envNames = Object.keys(environments);
  if (envNames.length === 0) throw new TypeError('keywarden: environments must name at least one prefix');
  for (const [env, prefix] of Object.entries(environments)) {
    if (!isValidKeyPrefix(prefix)) throw new TypeError(`keywarden: environment ${env} has an invalid prefix`);
  }
  const prefixes: ReadonlySet<string> = new Set(Object.values(environments));
  if (prefixes.size !== envNames.length) throw new TypeError('keywarden: two environments share a prefix');
  const defaultEnvironment = options.defaultEnvironment ?? envNames[0]!;
  if (!(defaultEnvironment in environments))
    throw new TypeError('keywarden: defaultEnvironment is not defined');
  const now = options.now ?? Date.now;
  if (typeof now !== 'function') throw new TypeError('keywarden: now must be a function');
  const cacheOptions = options.cache ?? {};
  checkKeys('cache.', cacheOptions, [
    'maxKeys',
    'verifiedTtlMs',
    'recordTtlMs',
    'unknownTtlMs',
    'maxUnknown',
  ]);
  const maxKeys = int('cache.maxKeys', cacheOptions.maxKeys, 10_000);
  const verifiedTtlMs = int('cache.verifiedTtlMs', cacheOptions.verifiedTtlMs, 600_000, 0);
  const recordTtlMs = int('cache.recordTtlMs', cacheOptions.recordTtlMs, 30_000, 0);
  const unknownTtlMs = int('cache.unknownTtlMs', cacheOptions.unknownTtlMs, 10_000, 0);
  const maxUnknown = int('cache.maxUnknown', cacheOptions.maxUnknown, 10_000);
  const throttle = throttleFrom(options.failureThrottle, now);
  const hashQueue = createFairQueue(
    int('maxConcurrentHashes', options.maxConcurrentHashes, 4, 1, 1024),
    int('maxQueuedHashes', options.maxQueuedHashes, 1000, 0),
  );
  const lastUsedIntervalMs = int('lastUsedIntervalMs', options.lastUsedIntervalMs, 60_000, 0);
  const defaultGrace = int('defaultRotationGraceSeconds', options.defaultRotationGraceSeconds, 86_400, 0);
  const emit = safeEventHandler(options.onEvent);

  const verified = new LRUCache<string, VerifiedEntry>({ max: maxKeys });
  const records = new LRUCache<string, RecordEntry>({ max: maxKeys });
  const unknown = new LRUCache<string, number>({ max: maxUnknown });
  const touched = new LRUCache<string, number>({ max: maxKeys });
  const recordFlights = new Map<string, Promise<RecordEntry | null>>();
  const verifyFlights = new Map<string, Promise<ColdOutcome>>();
  // Bumped by every invalidation, so a store read that started before a change never caches its
  // stale answer after it.
  let generation = 0;

  function invalidate(id: string | null): void {
    generation++;
    if (id === null) {
      records.clear();
      unknown.clear();
      recordFlights.clear();
      return;
    }
    records.delete(id);
    unknown.delete(id);
    recordFlights.delete(id);
  }
  const unsubscribe = store.subscribe?.(invalidate);

  function storeError(operation: string, error: unknown): void {
    emit({
      type: 'store.error',
      time: new Date(now()),
      operation,
      message: (error as Error)?.message ?? 'error',
    });
  }

  /** The record for an id from cache or store (one store read per id at a time); throws on store errors. */
  function loadRecord(id: string): Promise<RecordEntry | null> {
    let flight = recordFlights.get(id);
    if (!flight) {
      const startedAt = generation;
      flight = store.get(id).then(
        (record) => {
          if (recordFlights.get(id) === flight) recordFlights.delete(id);
          if (!record) return null;
          const info = freezeInfo(toApiKeyInfo(record));
          const entry: RecordEntry = {
            record,
            info,
            until: now() + recordTtlMs,
            accepted: Object.freeze({ ok: true, key: info }),
            touchedUntil: 0,
          };
          if (startedAt === generation) records.set(id, entry);
          return entry;
        },
        (error: unknown) => {
          if (recordFlights.get(id) === flight) recordFlights.delete(id);
          throw error;
        },
      );
      recordFlights.set(id, flight);
    }
    return flight;
  }

  /** The record from the cache while fresh, else from the store; 'unavailable' when the store fails. */
  async function cachedRecord(id: string, t: number): Promise<RecordEntry | undefined | 'unavailable'> {
    const entry = records.get(id);
    if (entry !== undefined && entry.until > t) return entry;
    try {
      return (await loadRecord(id)) ?? undefined;
    } catch (error) {
      storeError('get', error);
      return 'unavailable';
    }
  }

  function accept(entry: RecordEntry, t: number): VerifyApiKeyResult {
    const { record } = entry;
    if (record.revokedAt !== null && record.revokedAt.getTime() <= t) return fail('revoked', record.id);
    if (record.expiresAt !== null && record.expiresAt.getTime() <= t) return fail('expired', record.id);
    if (t >= entry.touchedUntil) {
      const last = touched.get(record.id);
      if (last === undefined || t - last >= lastUsedIntervalMs) {
        touched.set(record.id, t);
        store.touch(record.id, new Date(t)).catch((error: unknown) => storeError('touch', error));
        entry.touchedUntil = t + lastUsedIntervalMs;
      } else entry.touchedUntil = last + lastUsedIntervalMs;
    }
    return entry.accepted;
  }

  /** One cold verification: a store read and a hash, paid for by a reservation from the client's budgets. */
  async function coldVerify(
    key: string,
    digest: string,
    id: string,
    ip: string | undefined,
  ): Promise<ColdOutcome> {
    const unknownUntil = unknown.get(id);
    if (unknownUntil !== undefined && unknownUntil > now()) return fail('unknown_key', id);
    const reserved = throttle?.reserve(ip, id);
    const reservation = reserved instanceof Promise ? await reserved : reserved;
    if (reservation?.ok === false) {
      return {
        ok: false,
        reason: 'throttled',
        keyId: id,
        retryAfter: secondsUntil(reservation.retryAt, now()),
      };
    }
    const outcome = await checkSecret(key, id, reservation?.client ?? clientPartition(ip) ?? 'unknown');
    // Unknown ids and wrong secrets keep their reservation: work spent on a guess.
    reservation?.settle(
      !outcome.ok && (outcome.reason === 'unknown_key' || outcome.reason === 'wrong_secret'),
    );
    if (outcome.ok)
      verified.set(digest, { id, hash: outcome.entry.record.hash, until: now() + verifiedTtlMs });
    return outcome;
  }

  /** The store read and the hash of a cold verification; `lane` is the client's turn in the hash queue. */
  async function checkSecret(key: string, id: string, lane: string): Promise<ColdOutcome> {
    let entry: RecordEntry | null;
    try {
      entry = await loadRecord(id);
    } catch (error) {
      storeError('get', error);
      return fail('store_unavailable', id);
    }
    if (!entry) {
      unknown.set(id, now() + unknownTtlMs);
      return fail('unknown_key', id);
    }
    let match: boolean;
    try {
      match = await hashQueue.run(lane, () => hasher.verify(entry.record.hash, key));
    } catch (error) {
      if (error instanceof QueueFullError) return fail('busy', id);
      match = false; // a hasher that throws is a hasher that did not say yes
    }
    return match ? { ok: true, entry } : fail('wrong_secret', id);
  }

  /**
   * The warm path (a verified key whose record is cached) answers synchronously: `pnpm bench`
   * showed the promise machinery of an `await` there costing as much as the check itself.
   */
  function verify(
    key: unknown,
    client: VerifyClient | undefined,
  ): VerifyApiKeyResult | Promise<VerifyApiKeyResult> {
    // Warm path first. A digest found in `verified` belongs to a key that was checked whole
    // (body characters, checksum) and matched against its hash before (SHA-256 is collision
    // resistant), so those checks run only on a miss: together they cost as much as the digest
    // (~300 ns, `pnpm bench`). The frame checks (type, length, separator, prefix) come first, so
    // only a string that names a configured prefix is ever hashed, and never one of another length.
    if (!hasApiKeyFrame(key, prefixes)) return MALFORMED_KEY;
    const digest = sha256(key);
    const t = now();
    const hit = verified.get(digest);
    if (hit !== undefined && hit.until > t) {
      const entry = records.get(hit.id);
      if (entry !== undefined && entry.until > t && entry.record.hash === hit.hash) return accept(entry, t);
      return verifyHit(key, digest, hit, t, client?.ip);
    }
    const parsed = parseApiKey(key, prefixes); // body characters and checksum
    if (!parsed.ok) return parsed;
    // The address is read now, while the request is current: read after an await, a client that
    // reset its connection would have none left, and its failure would go uncounted.
    return verifyCold(key, digest, parsed.id, client?.ip);
  }

  /** A verified key whose record must be read again. */
  async function verifyHit(
    plaintext: string,
    digest: string,
    hit: VerifiedEntry,
    t: number,
    ip: string | undefined,
  ): Promise<VerifyApiKeyResult> {
    const cached = await cachedRecord(hit.id, t);
    if (cached === 'unavailable') return fail('store_unavailable', hit.id);
    if (cached !== undefined && cached.record.hash === hit.hash) return accept(cached, now());
    verified.delete(digest); // deleted, or its hash changed: verify from scratch
    return verifyCold(plaintext, digest, hit.id, ip);
  }

  async function verifyCold(
    plaintext: string,
    digest: string,
    id: string,
    ip: string | undefined,
  ): Promise<VerifyApiKeyResult> {
    let flight = verifyFlights.get(digest);
    if (!flight) {
      flight = coldVerify(plaintext, digest, id, ip).finally(() => verifyFlights.delete(digest));
      verifyFlights.set(digest, flight);
    }
    const outcome = await flight;
    return outcome.ok ? accept(outcome.entry, now()) : outcome;
  }

  /** Unreachable by design; if a failure happens anyway, refuse (fail closed) rather than throw. */
  function failClosed(error: unknown): Failure {
    storeError('verify', error);
    return fail('store_unavailable');
  }

  function verifyNow(key: unknown, client?: VerifyClient): VerifyApiKeyResult | Promise<VerifyApiKeyResult> {
    try {
      const result = verify(key, client);
      return result instanceof Promise ? result.catch(failClosed) : result;
    } catch (error) {
      return failClosed(error);
    }
  }

  function lookupNow(id: string): VerifyApiKeyResult | Promise<VerifyApiKeyResult> {
    const t = now();
    const entry = records.get(id);
    if (entry !== undefined && entry.until > t) return accept(entry, t);
    return cachedRecord(id, t).then((cached) => {
      if (cached === 'unavailable') return fail('store_unavailable', id);
      return cached === undefined ? fail('unknown_key', id) : accept(cached, now());
    }, failClosed);
  }

  async function updateRecord(id: string, patch: KeyRecordPatch): Promise<KeyRecord | null> {
    const record = await store.update(id, patch);
    invalidate(id);
    return record;
  }

  async function createRecord(
    base: KeyRecordPatch & { name: string },
    environment: string,
    lineageId?: string,
  ): Promise<CreatedApiKey> {
    const prefix = environments[environment];
    if (prefix === undefined)
      throw new TypeError(`keywarden: unknown environment ${JSON.stringify(environment)}`);
    const t = now();
    if (base.expiresAt && base.expiresAt.getTime() <= t)
      throw new RangeError('keywarden: expiresAt is in the past');
    const { key, id } = generateApiKey(prefix);
    const record: KeyRecord = {
      id,
      name: base.name,
      environment,
      prefix,
      hash: await hasher.hash(key),
      scopes: base.scopes ?? [],
      paths: base.paths ?? ['*'],
      ips: base.ips ?? [],
      createdAt: new Date(t),
      expiresAt: base.expiresAt ?? null,
      revokedAt: null,
      lastUsedAt: null,
      rateLimit: base.rateLimit ?? null,
      quota: base.quota ?? null,
      metadata: base.metadata ?? {},
      ownerId: base.ownerId ?? null,
      replacedBy: null,
      lineageId: lineageId ?? id,
    };
    await store.insert(record);
    invalidate(id);
    emit({ type: 'key.created', time: new Date(t), keyId: id, prefix, name: record.name });
    return { key, record: toApiKeyInfo(record) };
  }

  return {
    async create(input) {
      if (typeof input !== 'object' || input === null)
        throw new TypeError('keywarden: create needs { name, ... }');
      const { environment = defaultEnvironment, expiresIn, ...settings } = input;
      if (settings.name === undefined) throw new TypeError('keywarden: name is required');
      const patch = validateKeySettings(settings);
      if (expiresIn !== undefined) {
        if (settings.expiresAt !== undefined)
          throw new TypeError('keywarden: give expiresIn or expiresAt, not both');
        patch.expiresAt = new Date(now() + int('expiresIn', expiresIn, 0, 1, 100 * 365 * 86400) * 1000);
      }
      return createRecord({ ...patch, name: patch.name! }, environment);
    },
    async list(filter) {
      return (await store.list(filter)).map(toApiKeyInfo);
    },
    async get(id) {
      const record = await store.get(id);
      return record ? toApiKeyInfo(record) : null;
    },
    async update(id, settings) {
      const patch = validateKeySettings(settings);
      const record = await updateRecord(id, patch);
      if (!record) return null;
      emit({ type: 'key.updated', time: new Date(now()), keyId: id, fields: Object.keys(patch) });
      return toApiKeyInfo(record);
    },
    async revoke(id) {
      const existing = await store.get(id);
      if (!existing) return null;
      if (existing.revokedAt !== null) {
        invalidate(id);
        return toApiKeyInfo(existing);
      }
      const record = await updateRecord(id, { revokedAt: new Date(now()) });
      if (!record) return null;
      emit({ type: 'key.revoked', time: new Date(now()), keyId: id });
      return toApiKeyInfo(record);
    },
    async rotate(id, rotateOptions = {}) {
      checkKeys('rotate.', rotateOptions, ['gracePeriodSeconds', 'name']);
      const grace = int('gracePeriodSeconds', rotateOptions.gracePeriodSeconds, defaultGrace, 0, 365 * 86400);
      const old = await store.get(id);
      if (!old) return null;
      if (old.revokedAt !== null) throw new Error(`keywarden: key ${id} is revoked and cannot be rotated`);
      const t = now();
      const lifetime = old.expiresAt === null ? null : old.expiresAt.getTime() - old.createdAt.getTime();
      const settings = validateKeySettings({
        name: rotateOptions.name ?? old.name,
        scopes: old.scopes,
        paths: old.paths,
        ips: old.ips,
        rateLimit: old.rateLimit,
        quota: old.quota,
        metadata: old.metadata,
        ownerId: old.ownerId,
        expiresAt: lifetime === null ? null : new Date(t + Math.max(lifetime, 1000)),
      });
      const created = await createRecord(
        { ...settings, name: settings.name! },
        old.environment,
        old.lineageId,
      );
      const oldUntil = new Date(
        Math.min(t + grace * 1000, old.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY),
      );
      await updateRecord(id, { expiresAt: oldUntil, replacedBy: created.record.id });
      emit({
        type: 'key.rotated',
        time: new Date(t),
        keyId: id,
        newKeyId: created.record.id,
        oldKeyExpiresAt: oldUntil,
      });
      return created;
    },
    async delete(id) {
      const deleted = await store.delete(id);
      invalidate(id);
      if (deleted) emit({ type: 'key.deleted', time: new Date(now()), keyId: id });
      return deleted;
    },
    verifyNow,
    verify: (key, client) => Promise.resolve(verifyNow(key, client)),
    lookupNow,
    lookup: (id) => Promise.resolve(lookupNow(id)),
    invalidate,
    close() {
      unsubscribe?.();
    },
  };
}
