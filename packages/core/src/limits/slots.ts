// The memory limit store's counters of API keys and of accounts, compact. Counters by string
// (`kw:{id}:rate:...`) cost about 880 bytes a limited key in memory with the per-key counter
// objects that name them; here an owner (a key's rotation lineage, or an account) has one slot,
// found by its id, of one cell per counter: the end and count of its window, and which counter it
// is (a rate window's length in seconds, 0 for the quota), in typed arrays (about 70 bytes a key
// with the map entry: `pnpm bench`, "heap per cached verified key, with a rate limit counter").
// The counters a request charges are then the same for every key with the same limits and every
// account on the same terms, so keywarden shares them (counters.ts).
import { COUNTER_SLOTS } from '../links.js';
import type { PolicyCounter } from './counters.js';
import type { ConsumeResult, LimitStore } from './limit-store.js';

const INITIAL_CELLS = 2048;
/** Cells of one slot at most: a key's rate and quota, or an account's windows and quota. */
const MAX_WIDTH = 15;
/** A slot is `base * 16 + width` in its owner's map (a small integer: no heap number). */
const WIDTH_BITS = 16;
const MAX_CELLS = 2 ** 26;
/** Counters one consume takes at most: a key's two and an account's. */
const MAX_COUNTERS = 2 + MAX_WIDTH;

/** One owner's counters: its rate windows and its quota. */
export interface CounterSlots {
  /**
   * All or nothing, like {@link LimitStore.consume}, for the counters of one key (its rotation
   * lineage, `keyId`) and of its account (`accountId`, null for none): each counter's `owner` says
   * whose it is (at most one quota and one window of each length per owner; their `key` is not
   * read). Throws when a new owner finds no room.
   */
  consume(
    keyId: string,
    accountId: string | null,
    counters: readonly PolicyCounter[],
    now: number,
  ): ConsumeResult;
  /**
   * Gives back each counter's `cost` to the cells of the same owners (a released hold), where the
   * cell's window is still the one the counter names; never below 0.
   */
  giveBack(keyId: string, accountId: string | null, counters: readonly PolicyCounter[], now: number): void;
  /** Owners with a slot. */
  readonly size: number;
  /** Frees the slots whose windows have all ended. */
  sweep(now: number): void;
}

/** Which of its owner's counters a counter is: its window's length, 0 for the quota, -1 for credits. */
const kindOf = (counter: PolicyCounter) =>
  counter.policy === 'rate' ? counter.windowSeconds : counter.policy === 'quota' ? 0 : -1;

/** Makes the slots; `makeRoom(now, owners)` says whether `owners` new slots may be made. */
export function createCounterSlots(makeRoom: (now: number, owners: number) => boolean): CounterSlots {
  return new Slots(makeRoom);
}

class Slots implements CounterSlots {
  readonly #keys = new Map<string, number>();
  readonly #accounts = new Map<string, number>();
  #ends = new Float64Array(INITIAL_CELLS);
  #counts = new Float64Array(INITIAL_CELLS);
  #kinds = new Int32Array(INITIAL_CELLS);
  /** Freed slots' bases, by width. */
  readonly #free: number[][] = [];
  /** Cells ever handed out (the high-water mark). */
  #used = 0;
  /** Each counter's cell during one consume (synchronous: one consume at a time). */
  readonly #cells = new Int32Array(MAX_COUNTERS);
  readonly #makeRoom: (now: number, owners: number) => boolean;

  constructor(makeRoom: (now: number, owners: number) => boolean) {
    this.#makeRoom = makeRoom;
  }

  get size(): number {
    return this.#keys.size + this.#accounts.size;
  }

  // Synchronous, plain loops, no closure: this runs on every request of a limited key.
  consume(
    keyId: string,
    accountId: string | null,
    counters: readonly PolicyCounter[],
    now: number,
  ): ConsumeResult {
    if (counters.length > MAX_COUNTERS) throw new Error('keywarden: too many counters in one charge');
    const ends = this.#ends;
    const counts = this.#counts;
    const cells = this.#cells;
    const result = new Array<number>(counters.length);
    let allowed = true;
    let charging = false;
    const missing = this.#locate(keyId, accountId, counters);
    for (let i = 0; i < counters.length; i++) {
      const counter = counters[i]!;
      const cell = cells[i]!;
      const current =
        cell >= 0 && ends[cell] === counter.resetAt && counter.resetAt > now ? counts[cell]! : 0;
      result[i] = current;
      if (current + counter.cost > counter.limit) allowed = false;
      if (counter.cost > 0) charging = true;
    }
    if (!allowed || !charging) return { allowed, counts: result };
    if (missing !== 0) this.#claim(missing, { keyId, accountId, counters, now });
    this.#charge(counters, result);
    return { allowed, counts: result };
  }

  giveBack(keyId: string, accountId: string | null, counters: readonly PolicyCounter[], now: number): void {
    if (counters.length > MAX_COUNTERS) throw new Error('keywarden: too many counters in one charge');
    this.#locate(keyId, accountId, counters);
    for (let i = 0; i < counters.length; i++) {
      const counter = counters[i]!;
      const cell = this.#cells[i]!;
      if (counter.cost <= 0 || cell < 0 || this.#ends[cell] !== counter.resetAt || counter.resetAt <= now)
        continue;
      this.#counts[cell] = Math.max(0, this.#counts[cell]! - counter.cost);
    }
  }

  sweep(now: number): void {
    this.#sweep(this.#keys, now);
    this.#sweep(this.#accounts, now);
  }

  /** Adds each counter's cost to its cell (found), and to its count in `result`. */
  #charge(counters: readonly PolicyCounter[], result: number[]): void {
    const cells = this.#cells;
    for (let i = 0; i < counters.length; i++) {
      const counter = counters[i]!;
      if (counter.cost === 0) continue;
      const cell = cells[i]!;
      this.#counts[cell] = result[i]! + counter.cost;
      this.#ends[cell] = counter.resetAt;
      result[i]! += counter.cost;
    }
  }

  /**
   * Finds every counter's cell (-1: none); says which owner lacks a cell for a counter it charges
   * (1: the key, 2: the account, 3: both).
   */
  #locate(keyId: string, accountId: string | null, counters: readonly PolicyCounter[]): number {
    const keySlot = this.#keys.get(keyId);
    const accountSlot = accountId === null ? undefined : this.#accounts.get(accountId);
    let missing = 0;
    for (let i = 0; i < counters.length; i++) {
      const counter = counters[i]!;
      const ofKey = counter.owner === 'key';
      const cell = this.#cellOf(ofKey ? keySlot : accountSlot, kindOf(counter));
      this.#cells[i] = cell;
      if (cell < 0 && counter.cost > 0) missing |= ofKey ? 1 : 2;
    }
    return missing;
  }

  /** Gives the owners that lack cells slots that hold them; throws when a new owner finds no room. */
  #claim(
    missing: number,
    charge: { keyId: string; accountId: string | null; counters: readonly PolicyCounter[]; now: number },
  ): void {
    const { keyId, accountId, counters, now } = charge;
    let lacking = missing;
    const owners =
      (lacking & 1 && !this.#keys.has(keyId) ? 1 : 0) +
      (lacking & 2 && !this.#accounts.has(accountId!) ? 1 : 0);
    if (owners > 0) {
      if (!this.#makeRoom(now, owners)) throw new Error('keywarden: memory limit store is full');
      // Making room may have freed ended slots (whose counts read 0): look again.
      lacking = this.#locate(keyId, accountId, counters);
    }
    if (lacking & 1) this.#reshape(this.#keys, keyId, 'key', charge);
    if (lacking & 2) this.#reshape(this.#accounts, accountId!, 'account', charge);
    this.#locate(keyId, accountId, counters);
  }

  /** The cell of `slot` holding the counter of `kind`, or -1. */
  #cellOf(slot: number | undefined, kind: number): number {
    if (slot === undefined) return -1;
    const base = slot >> 4;
    const end = base + (slot & (WIDTH_BITS - 1));
    for (let cell = base; cell < end; cell++) if (this.#kinds[cell] === kind) return cell;
    return -1;
  }

  /**
   * A new slot for an owner holding the counters of `owner` in `counters`, and the cells of its old
   * slot whose windows have not ended (the quota while credits are charged, and back): what the
   * old slot held is kept (a plan change keeps the counts of the windows it keeps).
   */
  #reshape(
    map: Map<string, number>,
    id: string,
    owner: 'key' | 'account',
    charge: { counters: readonly PolicyCounter[]; now: number },
  ) {
    const { counters, now } = charge;
    const old = map.get(id);
    const kinds: number[] = [];
    for (const counter of counters) if (counter.owner === owner) kinds.push(kindOf(counter));
    if (old !== undefined) {
      const base = old >> 4;
      for (let cell = base; cell < base + (old & (WIDTH_BITS - 1)); cell++)
        if (this.#ends[cell]! > now && !kinds.includes(this.#kinds[cell]!) && kinds.length < MAX_WIDTH)
          kinds.push(this.#kinds[cell]!);
    }
    const base = this.#allocate(kinds.length);
    kinds.forEach((kind, i) => {
      const from = this.#cellOf(old, kind);
      this.#kinds[base + i] = kind;
      this.#ends[base + i] = from < 0 ? 0 : this.#ends[from]!;
      this.#counts[base + i] = from < 0 ? 0 : this.#counts[from]!;
    });
    if (old !== undefined) this.#release(old);
    map.set(id, base * WIDTH_BITS + kinds.length);
  }

  #allocate(width: number): number {
    const reused = this.#free[width]?.pop();
    if (reused !== undefined) return reused;
    while (this.#used + width > this.#ends.length) this.#grow();
    this.#used += width;
    return this.#used - width;
  }

  #grow(): void {
    const size = this.#ends.length * 2;
    if (size > MAX_CELLS) throw new Error('keywarden: memory limit store is full');
    const ends = new Float64Array(size);
    const counts = new Float64Array(size);
    const kinds = new Int32Array(size);
    ends.set(this.#ends);
    counts.set(this.#counts);
    kinds.set(this.#kinds);
    this.#ends = ends;
    this.#counts = counts;
    this.#kinds = kinds;
  }

  #release(slot: number): void {
    const width = slot & (WIDTH_BITS - 1);
    const list = this.#free[width];
    if (list === undefined) this.#free[width] = [slot >> 4];
    else list.push(slot >> 4);
  }

  #sweep(map: Map<string, number>, now: number): void {
    for (const [id, slot] of map) {
      const base = slot >> 4;
      const end = base + (slot & (WIDTH_BITS - 1));
      let live = false;
      for (let cell = base; cell < end && !live; cell++) if (this.#ends[cell]! > now) live = true;
      if (!live) {
        map.delete(id);
        this.#release(slot);
      }
    }
  }
}

/** Records that a store keeps keys' and accounts' counters in slots (the memory store does; a link: see links.ts). */
export function registerCounterSlots(store: LimitStore, slots: CounterSlots): void {
  COUNTER_SLOTS.set(store, slots);
}

/** The counter slots of a store, when it has them. */
export function counterSlotsOf(store: LimitStore): CounterSlots | undefined {
  return COUNTER_SLOTS.get(store);
}
