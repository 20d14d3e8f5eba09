import { integerOption, optionsObject } from '../errors/options.js';
import type { LimitStore } from './limit-store.js';

/** Options of {@link createMemoryLimitStore}. */
export interface MemoryLimitStoreOptions {
  /** Counters kept at most. @default 100000 */
  maxCounters?: number;
}

/**
 * A {@link LimitStore} in process memory: exact within one process (JavaScript runs one
 * `consume` at a time). Bounded: when full it first drops counters whose window has ended; if
 * none has, a new counter is refused (the call rejects, which the caller treats as a store
 * failure) rather than evicting a live one, so no spray can reset an active abuser's count.
 *
 * @example
 * ```ts
 * createKeywarden({ keys, limits: { store: createMemoryLimitStore() } });
 * ```
 */
export function createMemoryLimitStore(options: MemoryLimitStoreOptions = {}): LimitStore {
  const maxCounters = integerOption(
    'maxCounters',
    optionsObject('', options, ['maxCounters']).maxCounters,
    100_000,
  );
  const counters = new Map<string, { count: number; resetAt: number }>();
  let lastSweep = Number.NEGATIVE_INFINITY;

  function makeRoom(now: number): boolean {
    if (counters.size < maxCounters) return true;
    if (now - lastSweep >= 1000) {
      // At most one full sweep a second, so a flood of new counters cannot make each call O(n).
      lastSweep = now;
      for (const [key, entry] of counters) if (entry.resetAt <= now) counters.delete(key);
    }
    return counters.size < maxCounters;
  }

  return {
    async consume(list, now) {
      const current = list.map(({ key }) => {
        const entry = counters.get(key);
        return entry && entry.resetAt > now ? entry.count : 0;
      });
      const allowed = list.every((counter, i) => current[i]! + counter.cost <= counter.limit);
      if (!allowed) return { allowed, counts: current };
      const counts: number[] = [];
      for (const [i, counter] of list.entries()) {
        const entry = counters.get(counter.key);
        if (counter.cost === 0) {
          counts.push(current[i]!);
        } else if (entry && entry.resetAt > now) {
          entry.count += counter.cost;
          counts.push(entry.count);
        } else {
          if (!entry && !makeRoom(now)) throw new Error('keywarden: memory limit store is full');
          counters.set(counter.key, { count: current[i]! + counter.cost, resetAt: counter.resetAt });
          counts.push(current[i]! + counter.cost);
        }
      }
      return { allowed, counts };
    },
  };
}
