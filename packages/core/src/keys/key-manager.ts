// The key manager: the public composition of the verifier (the request path: caches,
// single-flight, failure budgets) and the lifecycle (create, update, rotate, revoke, delete),
// which share one record cache so that a change made here applies to the next request.

import { createAccountCache } from '../accounts/account-cache.js';
import { type AccountManager, createAccountManager } from '../accounts/account-manager.js';
import type { EventHandler, KeywardenEventType } from '../events.js';
import { countOf, recordPages } from '../stores/key-pages.js';
import { type KeyCountFilter, type KeyListFilter, MAX_KEY_PAGE } from '../stores/key-store.js';
import { meteringOf } from '../usage/registry.js';
import { accountUsageId, type UsageDay, type UsageStore, utcDay } from '../usage/usage-store.js';
import { thenOrNow } from '../util/maybe-promise.js';
import { integerOption, optionsObject } from '../util/options.js';
import { CachedKey } from './cached-key.js';
import { registerEntryPath } from './entry-path.js';
import { hasherRecognizes } from './hashers.js';
import { type KeyManagerOptions, resolveKeyManagerOptions } from './key-manager-options.js';
import { type ApiKeyInfo, type KeySettings, toApiKeyInfo } from './key-record.js';
import { createLifecycle } from './lifecycle.js';
import { createRecordCache } from './record-cache.js';
import { createVerifier, type EntryResult, type Verifier } from './verifier.js';

export type { FailureThrottleOptions, KeyCacheOptions, KeyManagerOptions } from './key-manager-options.js';

/**
 * Who presented a key, for the failure budgets and the fair hash queue. The adapters pass the
 * request; `ip` is read once, before any work starts.
 */
export interface VerifyClient {
  /** The client address as the framework resolves it (IPv6 counts per /64); none counts as one shared client. */
  readonly ip?: string | undefined;
  /**
   * True when the client is already gone and its address with it (it reset the connection before
   * the request was read): a cold verification is then refused at once, costing no store read or
   * hash that no one could be charged for. Read only when `ip` is undefined. @default false
   */
  readonly disconnected?: boolean | undefined;
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
  /** The key's hash was made by another hasher than this manager's (a configuration problem). */
  | 'hash_mismatch'
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
  /**
   * Lists keys (without hashes) oldest first, optionally of one owner. With `limit` (1 to 1,000)
   * it answers one page, and with `after` (the last id of the previous page) the next one; on
   * PostgreSQL a page is one indexed query however many keys the store holds. Without `limit`,
   * every key: for small stores (see {@link KeyManager.listAll} for any size).
   *
   * @example
   * ```ts
   * const page = await keys.list({ ownerId: 'acct_1', limit: 50 });
   * const next = await keys.list({ ownerId: 'acct_1', limit: 50, after: page.at(-1)?.id });
   * ```
   */
  list(filter?: KeyListFilter): Promise<ApiKeyInfo[]>;
  /**
   * Every key (optionally of one owner) oldest first, read a page at a time (`pageSize`, default
   * 500): the process holds one page, whatever the size of the store.
   *
   * @example
   * ```ts
   * for await (const key of keys.listAll({ ownerId: 'acct_1' })) console.log(key.id, key.name);
   * ```
   */
  listAll(filter?: { ownerId?: string; pageSize?: number }): AsyncIterable<ApiKeyInfo>;
  /**
   * How many keys match: all, one owner's, or those active at a time (not revoked, not expired).
   * One indexed query on PostgreSQL.
   *
   * @example
   * ```ts
   * const live = await keys.count({ ownerId: 'acct_1', activeAt: new Date() });
   * ```
   */
  count(filter?: KeyCountFilter): Promise<number>;
  /** One key by its public id (without its hash); null when it does not exist. */
  get(id: string): Promise<ApiKeyInfo | null>;
  /** Changes settings; null when the key does not exist. */
  update(id: string, settings: KeySettings): Promise<ApiKeyInfo | null>;
  /** Revokes at once (idempotent); null when the key does not exist. */
  revoke(id: string): Promise<ApiKeyInfo | null>;
  /**
   * Creates a new key with the old one's settings and expiry (rotating never lengthens a key's
   * life; `update` with a new `expiresAt` does); the old key works until
   * `min(now + grace, its own expiry)`. Both keys of a rotation lineage charge the same rate-limit
   * and quota counters, so rotating never refills them. Null when the key does not exist; throws
   * for a revoked, replaced or expired key.
   */
  rotate(id: string, options?: RotateKeyOptions): Promise<CreatedApiKey | null>;
  /** Deletes the record for good (revoke instead to keep an audit trail); false when it did not exist. */
  delete(id: string): Promise<boolean>;
  /**
   * Deletes the records of keys revoked or expired more than `olderThanDays` ago (default: the
   * manager's `purgeAfterDays`, 30), each a `key.deleted` event; resolves how many. Live keys,
   * and keys revoked or expired more recently, are never touched. Usage already counted stays.
   *
   * @example
   * ```ts
   * const purged = await keys.purge(); // or: keywarden keys purge
   * ```
   */
  purge(options?: { olderThanDays?: number }): Promise<number>;
  /**
   * How many keys each kind of stored hash holds (revoked and expired ones too), by hasher id
   * (`argon2id`, `hmac-sha256`: a hash's `$<id>$` prefix, or what a configured hasher recognizes):
   * during a move to another hasher (`earlierHashers`), the earlier kind's count is the keys not
   * verified since; drop that hasher once it reaches 0.
   *
   * @example
   * ```ts
   * console.log(await keys.hashKinds()); // { argon2id: 12, 'hmac-sha256': 988 }
   * ```
   */
  hashKinds(): Promise<Record<string, number>>;
  /** The days `purge` keeps revoked and expired keys by default; null when it keeps them forever. */
  readonly purgeAfterDays: number | null;
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
   * {@link KeyManager.verify} that answers without a promise when it can (a warm key). Never
   * throws. Each success carries a new, frozen info object (the cache keeps none); keywarden's
   * own request path reads its cache entries directly instead.
   */
  verifyNow(key: unknown, client?: VerifyClient): VerifyApiKeyResult | Promise<VerifyApiKeyResult>;
  /** {@link KeyManager.lookup} that answers without a promise when the record is cached. Never throws. */
  lookupNow(id: string): VerifyApiKeyResult | Promise<VerifyApiKeyResult>;
  /** Drops everything cached about a key id, or about every key when `id` is null (stores call this through `subscribe`). */
  invalidate(id: string | null): void;
  /**
   * Adds a listener of this key manager's events of `types` (default: every type), besides the
   * `onEvent` option: key lifecycle, `store.error` (also the store's background failures, which
   * the store then no longer prints as process warnings). Returns the function that removes it.
   *
   * @example
   * ```ts
   * const stop = keys.subscribe((event) => logger.error(event, 'keywarden store error'), ['store.error']);
   * ```
   */
  subscribe(listener: EventHandler, types?: readonly KeywardenEventType[]): () => void;
  /**
   * A key's usage per UTC day (requests admitted, quota units charged, refusals by code), from
   * `from` to `to` inclusive (dates or `YYYY-MM-DD`; default: the last 30 days up to today), only
   * the days with usage, in order. Includes what this process's authenticators counted and have
   * not written yet. Rejects when no usage is recorded (no `createKeywarden` with this manager and
   * no key store that keeps usage) or the store cannot answer.
   *
   * @example
   * ```ts
   * const days = await keys.usage(keyId, { from: '2026-11-01', to: '2026-11-30' });
   * const units = days.reduce((sum, day) => sum + day.units, 0); // what to bill for November
   * ```
   */
  usage(keyId: string, range?: UsageRange): Promise<UsageDay[]>;
  /** The store usage is written to when the key store keeps it (PostgreSQL), else null. */
  readonly usageStore: UsageStore | null;
  /**
   * The accounts (customers) of this manager's store: a key's `ownerId` names its account.
   *
   * @example
   * ```ts
   * await keys.accounts.create({ id: 'alice', plan: 'free' });
   * ```
   */
  readonly accounts: AccountManager;
  /** Stops listening to the store. Does not close the store. */
  close(): void;
}

/** Days of {@link KeyManager.usage}: dates, or `YYYY-MM-DD` strings (UTC). */
export interface UsageRange {
  from?: Date | string;
  to?: Date | string;
}

/**
 * Creates the API key manager: the lifecycle (create, list, get, update, revoke, rotate, delete)
 * and the verifier, which share one cache so that a revocation here applies to the next request.
 *
 * Verification of a well-formed key: a bounded LRU of key records by id, each with a keyed 128-bit digest
 * (SipHash, random key per process) of the plaintext that matched its hash (never the plaintext itself), so the hasher runs once per key per
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
  const settings = resolveKeyManagerOptions(options);
  const { maxKeys, recordTtlMs } = settings.cache;
  const records = createRecordCache(settings.store, {
    maxKeys,
    recordTtlMs,
    now: settings.now,
    readsPerSecond: settings.cache.maxStoreReadsPerSecond,
  });
  const verifier = createVerifier(settings, records);
  const unsubscribe = settings.store.subscribe?.(verifier.invalidate);
  // The store's background failures (a bad keys file on reload, a failed batched write) become
  // `store.error` events when anyone takes them; otherwise the store reports them itself.
  const { events, now } = settings;
  const unsubscribeErrors = settings.store.subscribeErrors?.((error, operation) => {
    if (!events.wants('store.error')) return false;
    events.emit({ type: 'store.error', time: new Date(now()), operation, message: error.message });
    return true;
  });
  const lifecycle = createLifecycle(settings, verifier.invalidate);
  const accountStore = settings.store.accounts;
  const accountCache = createAccountCache(accountStore, { ttlMs: recordTtlMs, maxAccounts: maxKeys, now });
  const unsubscribeAccounts = accountStore?.subscribe?.(accountCache.invalidate);
  const manager: KeyManager = {
    ...lifecycle,
    accounts: createAccountManager({
      store: accountStore,
      cache: accountCache,
      emit: settings.emit,
      now,
      async revokeKeysOf(ownerId) {
        let revoked = 0;
        for await (const key of recordPages(settings.store, ownerId))
          if (key.revokedAt === null && (await lifecycle.revoke(key.id))) revoked++;
        return revoked;
      },
      readUsage: (accountId, range) =>
        readUsage(manager, settings.store.usage, accountUsageId(accountId), { now: now(), ...range }),
    }),
    usageStore: settings.store.usage ?? null,
    purgeAfterDays: settings.purgeAfterDays,
    async purge(options = {}) {
      optionsObject('purge', options, ['olderThanDays']);
      const days = integerOption(
        'purge.olderThanDays',
        options.olderThanDays,
        settings.purgeAfterDays ?? 30,
        {
          min: 0,
          max: 36_600,
        },
      );
      const before = now() - days * DAY_MS;
      const ended = (key: { revokedAt: Date | null; expiresAt: Date | null }) =>
        Math.min(
          key.revokedAt?.getTime() ?? Number.POSITIVE_INFINITY,
          key.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY,
        );
      let purged = 0;
      for await (const key of recordPages(settings.store, undefined))
        if (ended(key) < before && (await lifecycle.delete(key.id))) purged++;
      return purged;
    },
    async hashKinds() {
      const hashers = [settings.hasher, ...settings.earlierHashers];
      const kinds: Record<string, number> = {};
      for await (const { hash } of recordPages(settings.store, undefined)) {
        const kind =
          hashers.find((h) => hasherRecognizes(h, hash))?.id ?? /^\$([^$]+)\$/.exec(hash)?.[1] ?? 'unknown';
        kinds[kind] = (kinds[kind] ?? 0) + 1;
      }
      return kinds;
    },
    async *listAll(filter = {}) {
      optionsObject('listAll', filter, ['ownerId', 'pageSize']);
      const size = integerOption('listAll.pageSize', filter.pageSize, 500, { min: 1, max: MAX_KEY_PAGE });
      for await (const record of recordPages(settings.store, filter.ownerId, size))
        yield toApiKeyInfo(record);
    },
    count: (filter = {}) => countOf(settings.store, filter),
    usage: (keyId, range) => readUsage(manager, settings.store.usage, keyId, { now: now(), ...range }),
    verifyNow: (key, client) => thenOrNow(verifier.verifyEntryNow(key, client), verifier, publicResult),
    verify: (key, client) => Promise.resolve(manager.verifyNow(key, client)),
    lookupNow: (id) => thenOrNow(verifier.lookupEntryNow(id), verifier, publicResult),
    lookup: (id) => Promise.resolve(manager.lookupNow(id)),
    invalidate: verifier.invalidate,
    subscribe: events.subscribe,
    close() {
      unsubscribe?.();
      unsubscribeAccounts?.();
      unsubscribeErrors?.();
    },
  };
  registerEntryPath(manager, verifier);
  return manager;
}

/** The public answer: the request path's cached entry becomes a new, frozen info object. */
const publicResult = (verifier: Verifier, result: EntryResult): VerifyApiKeyResult =>
  result instanceof CachedKey ? { ok: true, key: verifier.info(result) } : result;

const DAY_MS = 86_400_000;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

function dayOf(value: Date | string, name: string): string {
  if (typeof value === 'string' && DAY.test(value) && utcDay(Date.parse(value)) === value) return value;
  if (value instanceof Date && !Number.isNaN(value.getTime())) return utcDay(value.getTime());
  throw new RangeError(`keywarden: usage ${name} must be a Date or a YYYY-MM-DD day`);
}

/** Flushes every meter counting for `manager`, then reads the days asked for. */
async function readUsage(
  manager: KeyManager,
  own: UsageStore | undefined,
  keyId: string,
  range: UsageRange & { now: number },
): Promise<UsageDay[]> {
  const to = dayOf(range.to ?? new Date(range.now), 'to');
  const from = dayOf(range.from ?? new Date(Date.parse(to) - 29 * DAY_MS), 'from');
  if (from > to) throw new RangeError('keywarden: usage from must not be after to');
  if (Date.parse(to) - Date.parse(from) > 3660 * DAY_MS)
    throw new RangeError('keywarden: usage range is over 10 years');
  const metering = meteringOf(manager);
  // Counts not written yet are included; a failed write keeps them for later and reads the rest.
  await Promise.all([...(metering?.meters ?? [])].map((meter) => meter.flush().catch(() => {})));
  const store = own ?? metering?.store;
  if (store === undefined)
    throw new TypeError(
      'keywarden: no usage is recorded for these keys: pass this key manager to createKeywarden',
    );
  return store.read(keyId, from, to);
}
