// The memory limit store's counters of API keys, compact. Counters by string (`kw:{id}:rate:...`)
// cost about 880 bytes a limited key in memory with the per-key counter objects that name them;
// here a key has one slot, found by its id, holding the end and count of its rate window and of
// its quota period in typed arrays (about 70 bytes a key with the map entry: `pnpm bench`, "heap
// per cached verified key, with a rate limit counter"). The counters a request charges are then
// the same for every key with the same limits, so keywarden shares them (key-counters.ts).
import { KEY_SLOTS } from '../links.js';
import type { PolicyCounter } from './key-counters.js';
import type { ConsumeResult, LimitStore } from './limit-store.js';

const RATE = 0;
const QUOTA = 1;
const INITIAL_SLOTS = 1024;

/** One key's counters: its rate window and its quota period. */
export interface KeySlots {
  /**
   * All or nothing, like {@link LimitStore.consume}, for one key's counters (at most one of each
   * policy; their `key` is not read). Throws when a new key finds no room.
   */
  consume(keyId: string, counters: readonly PolicyCounter[], now: number): ConsumeResult;
  /** Keys with a slot. */
  readonly size: number;
  /** Frees the slots whose windows have all ended. */
  sweep(now: number): void;
}

export function createKeySlots(makeRoom: (now: number) => boolean): KeySlots {
  const ids = new Map<string, number>();
  let ends = new Float64Array(INITIAL_SLOTS * 2);
  let counts = new Float64Array(INITIAL_SLOTS * 2);
  const free: number[] = [];
  let used = 0; // slots ever handed out (the high-water mark)

  function take(): number {
    const reused = free.pop();
    if (reused !== undefined) return reused;
    if (used * 2 === ends.length) {
      const grownEnds = new Float64Array(ends.length * 2);
      grownEnds.set(ends);
      ends = grownEnds;
      const grownCounts = new Float64Array(counts.length * 2);
      grownCounts.set(counts);
      counts = grownCounts;
    }
    return used++;
  }

  // Synchronous, plain loops, no closure: this runs on every request of a limited key.
  function consume(keyId: string, counters: readonly PolicyCounter[], now: number): ConsumeResult {
    let slot = ids.get(keyId);
    const result = new Array<number>(counters.length);
    let allowed = true;
    let charging = false;
    for (let i = 0; i < counters.length; i++) {
      const counter = counters[i]!;
      const at = slot === undefined ? -1 : slot * 2 + (counter.policy === 'rate' ? RATE : QUOTA);
      const current = at >= 0 && ends[at] === counter.resetAt && counter.resetAt > now ? counts[at]! : 0;
      result[i] = current;
      if (current + counter.cost > counter.limit) allowed = false;
      if (counter.cost > 0) charging = true;
    }
    if (!allowed || !charging) return { allowed, counts: result };
    if (slot === undefined) {
      if (!makeRoom(now)) throw new Error('keywarden: memory limit store is full');
      slot = take();
      ends[slot * 2 + RATE] = 0;
      ends[slot * 2 + QUOTA] = 0;
      ids.set(keyId, slot);
    }
    for (let i = 0; i < counters.length; i++) {
      const counter = counters[i]!;
      if (counter.cost === 0) continue;
      const at = slot * 2 + (counter.policy === 'rate' ? RATE : QUOTA);
      counts[at] = result[i]! + counter.cost;
      ends[at] = counter.resetAt;
      result[i]! += counter.cost;
    }
    return { allowed, counts: result };
  }

  return {
    consume,
    get size() {
      return ids.size;
    },
    sweep(now) {
      for (const [id, slot] of ids) {
        if (ends[slot * 2 + RATE]! <= now && ends[slot * 2 + QUOTA]! <= now) {
          ids.delete(id);
          free.push(slot);
        }
      }
    },
  };
}

/** Records that a store keeps keys' counters in slots (the memory store does; a link: see links.ts). */
export function registerKeySlots(store: LimitStore, slots: KeySlots): void {
  KEY_SLOTS.set(store, slots);
}

/** The key slots of a store, when it has them. */
export function keySlotsOf(store: LimitStore): KeySlots | undefined {
  return KEY_SLOTS.get(store);
}
