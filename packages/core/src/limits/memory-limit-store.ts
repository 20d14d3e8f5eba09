import { createMemoryUsageStore } from '../usage/memory-usage-store.js';
import { checkedOption, integerOption, optionsObject } from '../util/options.js';
import type { ConsumeResult, LimitCounter, LimitStore } from './limit-store.js';
import { createCounterSlots, registerCounterSlots } from './slots.js';

/** Options of {@link createMemoryLimitStore}. */
export interface MemoryLimitStoreOptions {
  /**
   * Counters kept at most (an API key's rate limit and quota count as one, and so do an account's
   * windows and quota). @default 100000
   */
  maxCounters?: number;
  /**
   * What a full store does with a new counter once no window has ended: `'refuse'` it (the call
   * rejects; right for API keys, whose counts a spray must never reset), or `'evict-oldest'`
   * counter to make room (right for budgets of anonymous clients, such as a public route per
   * address, where refusing would turn a spray from many addresses into a refusal of everyone).
   * @default 'refuse'
   */
  whenFull?: 'refuse' | 'evict-oldest';
}

/**
 * A {@link LimitStore} in process memory, with usage metering in memory as well: exact within one process (JavaScript runs one
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
  const o = optionsObject('', options, ['maxCounters', 'whenFull']);
  const maxCounters = integerOption('maxCounters', o.maxCounters, 100_000);
  const evict =
    checkedOption('whenFull', o.whenFull, 'refuse', {
      valid: (v) => v === 'refuse' || v === 'evict-oldest',
      expected: "'refuse' or 'evict-oldest'",
    }) === 'evict-oldest';
  const counters = new Map<string, { count: number; resetAt: number }>();
  let lastSweep = Number.NEGATIVE_INFINITY;

  // An API key's counters live in its slot, an account's in its own (slots.ts); a slot counts as
  // one counter here.
  const slots = createCounterSlots(makeRoom);

  function makeRoom(now: number, needed: number): boolean {
    if (counters.size + slots.size + needed <= maxCounters) return true;
    if (now - lastSweep >= 1000) {
      // At most one full sweep a second, so a flood of new counters cannot make each call O(n).
      lastSweep = now;
      for (const [key, entry] of counters) if (entry.resetAt <= now) counters.delete(key);
      slots.sweep(now);
    }
    if (evict) {
      // A Map iterates in insertion order: the first counters are the oldest.
      for (const key of counters.keys()) {
        if (counters.size + slots.size + needed <= maxCounters) break;
        counters.delete(key);
      }
    }
    return counters.size + slots.size + needed <= maxCounters;
  }

  // Synchronous, with plain loops: this runs on every request of a limited key (no promise, no
  // closure; `pnpm bench`, the micro row for limits).
  function consumeNow(list: readonly LimitCounter[], now: number): ConsumeResult {
    const counts = new Array<number>(list.length);
    let allowed = true;
    let added = 0;
    for (let i = 0; i < list.length; i++) {
      const counter = list[i]!;
      const entry = counters.get(counter.key);
      const current = entry !== undefined && entry.resetAt > now ? entry.count : 0;
      counts[i] = current;
      if (current + counter.cost > counter.limit) allowed = false;
      if (entry === undefined && counter.cost > 0) added++;
    }
    if (!allowed) return { allowed, counts };
    // Room for every new counter first, so that a full store changes nothing (all or nothing).
    if (added > 0 && !makeRoom(now, added)) throw new Error('keywarden: memory limit store is full');
    for (let i = 0; i < list.length; i++) {
      const counter = list[i]!;
      if (counter.cost === 0) continue;
      const entry = counters.get(counter.key);
      if (entry !== undefined && entry.resetAt > now) {
        entry.count += counter.cost;
      } else {
        counters.set(counter.key, { count: counts[i]! + counter.cost, resetAt: counter.resetAt });
      }
      counts[i]! += counter.cost;
    }
    return { allowed, counts };
  }

  function giveBack(list: readonly LimitCounter[], now: number): void {
    for (const counter of list) {
      const entry = counters.get(counter.key);
      if (
        counter.cost <= 0 ||
        entry === undefined ||
        entry.resetAt !== counter.resetAt ||
        entry.resetAt <= now
      )
        continue;
      entry.count = Math.max(0, entry.count - counter.cost);
    }
  }

  const store: LimitStore = {
    consumeNow,
    giveBack,
    consume: async (list, now) => consumeNow(list, now),
    usage: createMemoryUsageStore(),
  };
  registerCounterSlots(store, slots);
  return store;
}
