// The accounts the request path reads: each read once from the store, kept as a small frozen
// object, answered at once while cached (a warm request of an account's key stays synchronous). A
// change reaches it through the store's notifications (the manager's own writes, another
// instance's, the CLI's, an edited file) and, should a notification be lost, through its lifetime.
//
// Compact, because a server may hold an account per customer key: the entry is the account's five
// fields the request path reads (id, plan, status, credits, overrides), the id being the string the caller
// looked up (a key's own `ownerId`), the plan and status names shared, an account without
// overrides sharing one empty object; and no per-entry timestamp: entries live in two generations
// of half the lifetime each (read in the current half or the one before: never older than the
// lifetime). About 2,600 bytes a cached account of its own key before (record, dates, metadata, an
// entry object, a view), 60 after with the rest of this change: `pnpm bench`, "heap per cached
// verified key of its own account".
import type { AccountLimits, AccountRecord, AccountStatus } from './account-record.js';
import type { AccountStore } from './account-store.js';

/**
 * An account as the request path holds it: its id, plan, status, credits and overrides, frozen and shared
 * by every request (dates and metadata stay in the store: `accounts.get` reads them).
 */
export type CachedAccount = Readonly<Pick<AccountRecord, 'id' | 'plan' | 'status' | 'credits'>> & {
  readonly overrides: Readonly<AccountLimits>;
};

export interface AccountCache {
  /**
   * The account, or null for none; a promise when it must be read (rejects when the store fails).
   * `at`: the caller's reading of the cache's clock, when it has one (no second clock read).
   */
  lookupNow(id: string, at?: number): CachedAccount | null | Promise<CachedAccount | null>;
  /** Drops an account (null: every account), so the next request reads it again. */
  invalidate(id: string | null): void;
}

/** A cached "no such account". */
const NONE = Object.freeze({}) as CachedAccount;

/** The overrides of every account that has none. */
export const NO_OVERRIDES: Readonly<AccountLimits> = Object.freeze({});

// Plan names the cache has seen, so that accounts on one plan share its name (bounded: past it,
// names are only not shared).
const planNames = new Map<string, string>();
const MAX_PLAN_NAMES = 1024;

function shared(name: string): string {
  const known = planNames.get(name);
  if (known !== undefined) return known;
  if (planNames.size < MAX_PLAN_NAMES) planNames.set(name, name);
  return name;
}

function frozenOverrides(overrides: AccountLimits): Readonly<AccountLimits> {
  if (Object.keys(overrides).length === 0) return NO_OVERRIDES;
  const out: AccountLimits = {};
  if (overrides.rateLimits !== undefined)
    out.rateLimits = Object.freeze(overrides.rateLimits.map((spec) => Object.freeze({ ...spec }))) as never;
  if (overrides.quota !== undefined)
    out.quota = overrides.quota === null ? null : Object.freeze({ ...overrides.quota });
  if (overrides.maxKeys !== undefined) out.maxKeys = overrides.maxKeys;
  if (overrides.overage !== undefined) out.overage = overrides.overage;
  return Object.freeze(out);
}

/** What the cache keeps of a record read for `id`. */
export function cachedAccount(id: string, record: AccountRecord): CachedAccount {
  const status: AccountStatus = record.status === 'active' ? 'active' : 'suspended';
  return Object.freeze({
    id,
    plan: shared(record.plan),
    status,
    credits: record.credits,
    overrides: frozenOverrides(record.overrides),
  });
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
  const half = ttlMs / 2;
  // Read in the current half of the lifetime (`young`) or the one before (`old`).
  let young = new Map<string, CachedAccount>();
  let old = new Map<string, CachedAccount>();
  let turn = 0; // which half `young` is: floor(time / half)
  const loading = new Map<string, Promise<CachedAccount | null>>();

  /** Moves the generations on to the half `t` falls in. */
  function age(t: number): void {
    const current = Math.floor(t / half);
    if (current === turn) return;
    if (current === turn + 1) old = young;
    else old = new Map();
    young = new Map();
    turn = current;
  }

  function load(id: string): Promise<CachedAccount | null> {
    const pending = loading.get(id);
    if (pending !== undefined) return pending;
    const read = store!.get(id).then(
      (found) => {
        const account = found === null ? null : cachedAccount(id, found);
        // Dropped meanwhile (a change was announced): answer this request, keep nothing.
        if (loading.get(id) === read) {
          loading.delete(id);
          if (ttlMs > 0) {
            age(now());
            if (young.size + old.size >= maxAccounts && !young.has(id)) {
              // The oldest read first.
              const from = old.size > 0 ? old : young;
              from.delete(from.keys().next().value!);
            }
            old.delete(id);
            young.set(id, account ?? NONE);
          }
        }
        return account;
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
      if (ttlMs > 0) {
        age(at === undefined || ownClock ? now() : at);
        const found = young.get(id) ?? old.get(id);
        if (found !== undefined) return found === NONE ? null : found;
      }
      return load(id);
    },
    invalidate(id) {
      if (id === null) {
        young.clear();
        old.clear();
        loading.clear();
        return;
      }
      young.delete(id);
      old.delete(id);
      loading.delete(id);
    },
  };
}
