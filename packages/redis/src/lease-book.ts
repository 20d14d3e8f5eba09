// Leases: the units this instance holds, reserved in Redis, and spends without a round trip.
//
// Redis counts a unit as spent when it is charged or granted to an instance, and grants only
// within the limit (scripts.ts), so the units instances spend locally are always within the
// limit: never over. Units granted and not spent are the price: they count as used for everyone
// until their instance spends them or gives them back (750 ms after the grant at the latest, or
// on close). The last 64 units of a window are never granted, so near the limit every request is
// decided in Redis, one at a time.
import type { ConsumeResult, LimitCounter } from '@keywarden/core';
import type { Connection } from './connection.js';

/** What this instance holds of one counter (one window of one key's limit). */
interface Lease {
  /** The window's end (the caller's clock): the lease is worth nothing after it. */
  readonly resetAt: number;
  /** Units Redis counts as spent that this instance has not spent yet. */
  units: number;
  /** The counter's value in Redis at the last answer, less what was given back since. */
  seen: number;
  /** Units this instance charged in this window, and since when (store clock): its pace. */
  spent: number;
  readonly since: number;
  /** When a grant last arrived (store clock); an unspent grant goes back soon after. */
  grantedAt: number;
  /** A call in flight that asked for a grant: requests short of units wait for it once. */
  pending: Promise<unknown> | null;
}

// A lease is asked for to cover about 250 ms of the instance's own pace on that counter (so a
// key used a few times a second never holds any), the sweep runs four times a second, and units
// unspent 750 ms after their grant go back: within a second of the grant.
const LEASE_MS = 250;
const SWEEP_MS = 250;
const GIVE_BACK_AFTER_MS = 750;
const FORGET_AFTER_MS = 2000;

/** One Redis call's plan: what each counter takes from its lease, and what it asks Redis for. */
interface Plan {
  keys: string[];
  /** need, want, limit, TTL for each counter (the lease script's ARGV). */
  params: number[];
  held: (Lease | undefined)[];
  taken: number[];
}

export class LeaseBook {
  readonly #leases = new Map<string, Lease>();
  #sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly redis: Connection,
    private readonly settings: { prefix: string; leasing: boolean; maxLeaseUnits: number },
  ) {}

  /** Charges `list`: at once from held units when they cover it, else through Redis. */
  consume(list: readonly LimitCounter[], now: number): ConsumeResult | Promise<ConsumeResult> {
    return this.#spendHeld(list) ?? this.#consumeInRedis(list, now);
  }

  /** Gives back every unit held (on shutdown), and stops the sweep. */
  async close(): Promise<void> {
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    this.#sweeper = null;
    const returns: Promise<unknown>[] = [];
    for (const [key, lease] of this.#leases) if (lease.units > 0) returns.push(this.#giveBack(key, lease));
    await Promise.all(returns);
    this.#leases.clear();
  }

  #current(counter: LimitCounter): Lease | undefined {
    const lease = this.#leases.get(counter.key);
    return lease !== undefined && lease.resetAt === counter.resetAt ? lease : undefined;
  }

  /** Spends held units when every counter has enough: the synchronous path, plain loops. */
  #spendHeld(list: readonly LimitCounter[]): ConsumeResult | null {
    let charges = false;
    for (let i = 0; i < list.length; i++) {
      const counter = list[i]!;
      const lease = this.#leases.get(counter.key);
      if (lease === undefined || lease.resetAt !== counter.resetAt || lease.units < counter.cost) return null;
      if (counter.cost > 0) charges = true;
    }
    if (!charges) return null; // a read asks Redis
    const counts = new Array<number>(list.length);
    for (let i = 0; i < list.length; i++) {
      const counter = list[i]!;
      const lease = this.#leases.get(counter.key)!;
      lease.units -= counter.cost;
      lease.spent += counter.cost;
      counts[i] = lease.seen - lease.units;
    }
    return { allowed: true, counts };
  }

  /** The Redis path: charges what held units do not cover, and asks for a new lease. */
  async #consumeInRedis(list: readonly LimitCounter[], now: number): Promise<ConsumeResult> {
    const inFlight = this.#grantInFlight(list);
    if (inFlight !== null) {
      await inFlight.catch(() => {});
      const spent = this.#spendHeld(list);
      if (spent !== null) return spent;
    }
    const plan = this.#plan(list, now);
    const answer = this.redis.lease(plan.keys, plan.params);
    for (let i = 0; i < list.length; i++) if (plan.params[4 * i + 1]! > 0) plan.held[i]!.pending = answer;
    let reply: number[];
    try {
      reply = await answer;
    } catch (error) {
      for (let i = 0; i < list.length; i++)
        if (plan.held[i] !== undefined) plan.held[i]!.units += plan.taken[i]!;
      throw error;
    } finally {
      for (const lease of plan.held) if (lease?.pending === answer) lease.pending = null;
    }
    return this.#settle(list, plan, reply);
  }

  /** A grant in flight for a counter this call is short of, if any. */
  #grantInFlight(list: readonly LimitCounter[]): Promise<unknown> | null {
    for (const counter of list) {
      const lease = this.#current(counter);
      if (lease?.pending && lease.units < counter.cost) return lease.pending;
    }
    return null;
  }

  #plan(list: readonly LimitCounter[], now: number): Plan {
    const clock = performance.now();
    const reads = list.every((counter) => counter.cost === 0);
    const plan: Plan = { keys: [], params: [], held: [], taken: [] };
    for (const counter of list) {
      let lease = this.#current(counter);
      if (lease === undefined && this.settings.leasing && !reads) {
        lease = {
          resetAt: counter.resetAt,
          units: 0,
          seen: 0,
          spent: 0,
          since: clock,
          grantedAt: clock,
          pending: null,
        };
        this.#leases.set(counter.key, lease);
        this.#startSweeper();
      }
      const take = Math.min(lease?.units ?? 0, counter.cost);
      if (lease !== undefined) lease.units -= take;
      plan.held.push(lease);
      plan.taken.push(take);
      plan.keys.push(this.settings.prefix + counter.key);
      const want = lease !== undefined && !reads ? this.#wanted(lease, clock) : 0;
      // TTL relative to the caller's clock, so a test clock (or a skewed host) cannot make
      // counters expire early or late on the server.
      plan.params.push(counter.cost - take, want, counter.limit, Math.max(1, counter.resetAt - now));
    }
    return plan;
  }

  /** What Redis answered, applied to the leases: the counts the caller reports. */
  #settle(list: readonly LimitCounter[], plan: Plan, reply: number[]): ConsumeResult {
    const allowed = reply[0] === 1;
    const counts = new Array<number>(list.length);
    for (let i = 0; i < list.length; i++) {
      const lease = plan.held[i];
      const count = reply[1 + 2 * i]!;
      if (lease === undefined || !allowed) {
        // Refused: what it took is still held, and the count is what Redis holds (others'
        // leases included): why it refused.
        if (lease !== undefined) lease.units += plan.taken[i]!;
        counts[i] = count;
        continue;
      }
      const grant = reply[2 + 2 * i]!;
      lease.units += grant;
      lease.seen = count;
      lease.spent += list[i]!.cost;
      if (grant > 0) lease.grantedAt = performance.now();
      counts[i] = Math.max(0, count - lease.units);
    }
    return { allowed, counts };
  }

  /** Units to ask for: about LEASE_MS of this instance's pace on the counter. */
  #wanted(lease: Lease, clock: number): number {
    const elapsed = Math.max(100, clock - lease.since);
    return Math.min(this.settings.maxLeaseUnits, Math.floor((lease.spent * LEASE_MS) / elapsed));
  }

  #startSweeper(): void {
    if (this.#sweeper !== null) return;
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_MS);
    this.#sweeper.unref();
  }

  /** Gives back grants left unspent, and forgets counters no longer in use. */
  #sweep(): void {
    const clock = performance.now();
    for (const [key, lease] of this.#leases) {
      if (lease.pending !== null || clock - lease.grantedAt < GIVE_BACK_AFTER_MS) continue;
      if (lease.units > 0) void this.#giveBack(key, lease);
      else if (clock - lease.grantedAt >= FORGET_AFTER_MS) this.#leases.delete(key);
    }
    if (this.#leases.size === 0 && this.#sweeper !== null) {
      clearInterval(this.#sweeper);
      this.#sweeper = null;
    }
  }

  #giveBack(key: string, lease: Lease): Promise<unknown> {
    const units = lease.units;
    lease.units = 0;
    lease.seen -= units;
    // A failed give-back leaves the units counted until the window ends: under the limit, never over.
    return this.redis.giveBack(this.settings.prefix + key, units).catch(() => {});
  }
}
