// The reads of key records that the caches miss, bounded per process. A spray of well-formed keys
// with random ids misses every cache (the ids are new, each address has a budget of failures of
// its own, and a botnet has many addresses), so without a bound each sprayed key is one store
// read: one PostgreSQL query per request from the botnet. Within `perSecond` reads a second each
// miss is its own read, with no added wait; past it, the misses wait for the next read and go
// together, as one `getMany` of up to 1,000 ids. A key that exists is always read and always
// found: the bound delays misses (by at most 1 / perSecond seconds, plus the read), never
// refuses one. A filter of the ids that exist would also spare the reads, but it must be loaded
// whole and kept current through notifications, and until a new key's notification arrives it
// answers "unknown" for a key that exists; batching needs neither.

import type { KeyStore } from '../stores/key-store.js';
import type { KeyRecord } from './key-record.js';

/** Ids per batched read: one query's worth (PostgreSQL: one `= ANY($1)` lookup of the primary key). */
const MAX_BATCH = 1000;

interface Waiter {
  resolve(record: KeyRecord | null): void;
  reject(error: unknown): void;
}

/**
 * A reader of records by id that makes at most `perSecond` store calls a second (a tenth of a
 * second's worth at once), batching what comes past that through the store's `getMany`. With `perSecond` 0, or
 * a store without `getMany`, every read is its own `get`. Timed by the monotonic clock, not the
 * key manager's (which tests freeze).
 */
export function createStoreReader(
  store: KeyStore,
  perSecond: number,
): (id: string) => Promise<KeyRecord | null> {
  const getMany = store.getMany?.bind(store);
  if (perSecond === 0 || getMany === undefined) return (id) => store.get(id);
  // A tenth of a second's worth at once: in any second, at most 1.1 x perSecond calls.
  const burst = Math.max(1, perSecond / 10);
  let tokens = burst;
  let last = performance.now();
  const pending = new Map<string, Waiter[]>();
  let timer: ReturnType<typeof setTimeout> | null = null;

  const refill = () => {
    const t = performance.now();
    tokens = Math.min(burst, tokens + ((t - last) * perSecond) / 1000);
    last = t;
  };
  const schedule = () => {
    if (timer === null) timer = setTimeout(flush, Math.max(1, Math.ceil(((1 - tokens) * 1000) / perSecond)));
  };
  function flush(): void {
    timer = null;
    refill();
    if (tokens < 1) {
      schedule();
      return;
    }
    tokens -= 1;
    const batch = new Map<string, Waiter[]>();
    for (const [id, waiters] of pending) {
      batch.set(id, waiters);
      pending.delete(id);
      if (batch.size === MAX_BATCH) break;
    }
    if (pending.size > 0) schedule();
    // Called inside a promise: a store that throws instead of rejecting fails these reads, not the
    // process (this runs in a timer, where a throw would be uncaught).
    const ids = [...batch.keys()];
    Promise.resolve()
      .then(() => getMany!(ids))
      .then((records) => {
        const found = new Map(records.map((record) => [record.id, record]));
        for (const [id, waiters] of batch) for (const w of waiters) w.resolve(found.get(id) ?? null);
      })
      .catch((error: unknown) => {
        // Also an answer that is not a list: every read of the batch fails (a settled one stays).
        for (const waiters of batch.values()) for (const w of waiters) w.reject(error);
      });
  }

  return (id) => {
    refill();
    if (tokens >= 1 && pending.size === 0) {
      tokens -= 1;
      return store.get(id);
    }
    return new Promise((resolve, reject) => {
      const waiters = pending.get(id);
      if (waiters) waiters.push({ resolve, reject });
      else pending.set(id, [{ resolve, reject }]);
      schedule();
    });
  };
}
