// The accounts the request path reads: each read once from the store, kept frozen, answered at
// once while cached (a warm request of an account's key stays synchronous). A change reaches it
// through the store's notifications (the manager's own writes, another instance's, the CLI's, an
// edited file) and, should a notification be lost, through the entry's lifetime.
import type { AccountRecord } from './account-record.js';
import type { AccountStore } from './account-store.js';

/** An account as the request path holds it: frozen, shared by every request. */
export type CachedAccount = Readonly<AccountRecord>;

export interface AccountCache {
  /**
   * The account, or null for none; a promise when it must be read (rejects when the store fails).
   * `at`: the caller's reading of the cache's clock, when it has one (no second clock read).
   */
  lookupNow(id: string, at?: number): CachedAccount | null | Promise<CachedAccount | null>;
  /** Drops an account (null: every account), so the next request reads it again. */
  invalidate(id: string | null): void;
}

interface Entry {
  record: CachedAccount | null;
  /** When it was read (the cache's clock). */
  at: number;
}

function freeze(record: AccountRecord): CachedAccount {
  const { overrides } = record;
  if (overrides.rateLimits) {
    for (const spec of overrides.rateLimits) Object.freeze(spec);
    Object.freeze(overrides.rateLimits);
  }
  if (overrides.quota) Object.freeze(overrides.quota);
  Object.freeze(overrides);
  return Object.freeze(record);
}

/**
 * A bounded cache of accounts over `store` (none: no account exists, every lookup is null).
 * Unknown ids are cached too (as null), so keys whose owner has no account cost one read per
 * lifetime, not one per request.
 */
export function createAccountCache(
  store: AccountStore | undefined,
  options: { ttlMs: number; maxAccounts: number; now: () => number },
): AccountCache {
  const { ttlMs, maxAccounts, now } = options;
  // A caller's reading of the time stands for ours only when both are Date.now.
  const ownClock = now !== Date.now;
  const entries = new Map<string, Entry>();
  const loading = new Map<string, Promise<CachedAccount | null>>();

  function load(id: string): Promise<CachedAccount | null> {
    const pending = loading.get(id);
    if (pending !== undefined) return pending;
    const read = store!.get(id).then(
      (found) => {
        const record = found === null ? null : freeze(found);
        // Dropped meanwhile (a change was announced): answer this request, keep nothing.
        if (loading.get(id) === read) {
          loading.delete(id);
          if (entries.size >= maxAccounts && !entries.has(id)) entries.delete(entries.keys().next().value!); // the oldest read
          entries.set(id, { record, at: now() });
        }
        return record;
      },
      (error: unknown) => {
        if (loading.get(id) === read) loading.delete(id);
        throw error;
      },
    );
    loading.set(id, read);
    return read;
  }

  return {
    lookupNow(id, at) {
      if (store === undefined) return null;
      const entry = entries.get(id);
      if (entry !== undefined && (at === undefined || ownClock ? now() : at) - entry.at < ttlMs)
        return entry.record;
      return load(id);
    },
    invalidate(id) {
      if (id === null) {
        entries.clear();
        loading.clear();
        return;
      }
      entries.delete(id);
      loading.delete(id);
    },
  };
}
