import type { AccountStore } from '../accounts/account-store.js';
import type { KeyRecord, KeyRecordPatch } from '../keys/key-record.js';
import type { UsageStore } from '../usage/usage-store.js';

/**
 * Where key records live. Implementations: {@link createMemoryKeyStore} (tests),
 * {@link openFileKeyStore} (the embedded default), `@keywarden/postgres` (several instances).
 *
 * Any method may reject when the backing storage is unreachable; the verifier turns such a
 * rejection into `store_unavailable` (HTTP 503), never into a refusal or a success.
 * Returned records are copies the caller may keep.
 *
 * @example
 * ```ts
 * const store: KeyStore = createMemoryKeyStore();
 * const keys = createKeyManager({ store });
 * ```
 */
export interface KeyStore {
  /** The record with this id, or null. */
  get(id: string): Promise<KeyRecord | null>;
  /**
   * The records with these ids (up to 1,000), in any order; ids that do not exist are left out.
   * The key manager reads cache misses through it once they pass `maxStoreReadsPerSecond`
   * (PostgreSQL: one query for them all). Without it, every miss is its own `get`: right for
   * stores in the process's memory (the memory and file stores), whose reads cost no query.
   */
  getMany?(ids: readonly string[]): Promise<KeyRecord[]>;
  /**
   * Records in a stable order, oldest first (creation time, then id), optionally of one owner;
   * with `limit`, one page of them, and with `after`, the page after that key. Without `limit`,
   * every record: a full read, for small stores and tests.
   */
  list(filter?: KeyListFilter): Promise<KeyRecord[]>;
  /**
   * How many records match, without reading them (PostgreSQL: one indexed query). Without it
   * the key manager counts through pages of {@link KeyStore.list}.
   */
  count?(filter: KeyCountFilter): Promise<number>;
  /** Adds a record; rejects when the id already exists. */
  insert(record: KeyRecord): Promise<void>;
  /** Applies a patch and returns the new record, or null when the id does not exist. */
  update(id: string, patch: KeyRecordPatch): Promise<KeyRecord | null>;
  /**
   * Replaces the record's hash with `to` only while it is still `from` (compare and set); true
   * when it did. A key manager with `earlierHashers` re-hashes a key with its current hasher
   * through it, once, whichever instance gets there first. Without it keys hashed by an earlier
   * hasher keep verifying with it and are never re-hashed.
   */
  replaceHash?(id: string, from: string, to: string): Promise<boolean>;
  /** Removes a record; false when it did not exist. */
  delete(id: string): Promise<boolean>;
  /** Records a successful use. May be batched; the verifier calls it at most once a minute per key. */
  touch(id: string, at: Date): Promise<void>;
  /**
   * Calls `listener` with a key id whenever that record changes outside this process (another
   * instance, a CLI, an edited file), so verification caches drop it; with `null` when any record
   * may have changed unseen (a notification channel that reconnected). Returns an unsubscribe function.
   */
  subscribe?(listener: (id: string | null) => void): () => void;
  /**
   * Takes failures that no caller awaits (a bad file on reload, a failed batched write, a lost
   * notification connection). `listener` returns whether it took care of the error; when no
   * listener did, the store reports it its own way (a process warning). The key manager listens
   * and turns them into `store.error` events. Returns the function that removes the listener.
   */
  subscribeErrors?(listener: (error: Error, operation: string) => boolean): () => void;
  /**
   * The accounts (customers) beside the keys: every store keywarden ships has them. A store
   * without them works for keys alone; accounts and plans then refuse to start.
   */
  readonly accounts?: AccountStore;
  /** Where usage metering writes when this store keeps it (PostgreSQL does: it survives restarts). */
  readonly usage?: UsageStore;
  /** Releases files, watchers or connections. */
  close?(): Promise<void>;
}

/**
 * Filter and page for {@link KeyStore.list}. Pages follow one stable order, oldest first
 * (creation time, then id), so a key made while a client pages through shows up on a later page
 * and no key shows up twice.
 *
 * @example
 * ```ts
 * const first = await store.list({ ownerId: 'acct_1', limit: 100 });
 * const second = await store.list({ ownerId: 'acct_1', limit: 100, after: first.at(-1)?.id });
 * ```
 */
export interface KeyListFilter {
  /** Only this owner's keys. */
  ownerId?: string;
  /** At most this many records, 1 to {@link MAX_KEY_PAGE}. Without it, every matching record. */
  limit?: number;
  /**
   * Only records after the key with this id in the list's order: the last id of the previous
   * page. A key id that does not exist (deleted since) is a `RangeError`: start over.
   */
  after?: string;
}

/** The largest page {@link KeyStore.list} answers: 1,000 records. */
export const MAX_KEY_PAGE = 1000;

/**
 * Filter for {@link KeyStore.count}.
 *
 * @example
 * ```ts
 * const live = await store.count?.({ ownerId: 'acct_1', activeAt: new Date() });
 * ```
 */
export interface KeyCountFilter {
  /** Only this owner's keys. */
  ownerId?: string;
  /** Only keys active at this time: not revoked, and not expired by then. */
  activeAt?: Date;
}

/**
 * Rejection of {@link KeyStore.insert} for an id that exists. Custom stores throw it so that the
 * key manager retries with a new id.
 *
 * @example
 * ```ts
 * if (rows.has(record.id)) throw new DuplicateKeyIdError(record.id);
 * ```
 */
export class DuplicateKeyIdError extends Error {
  override readonly name = 'DuplicateKeyIdError';
  constructor(id: string) {
    super(`keywarden: a key with id ${id} already exists`);
  }
}
