// The counter store's interface: where rate-limit and quota counters live.
import type { UsageStore } from '../usage/usage-store.js';

/** One counter of a {@link LimitStore.consume} call. */
export interface LimitCounter {
  /** Store key; keys of one API key share a `{keyId}` hash tag (Redis Cluster slot). */
  key: string;
  limit: number;
  /** When this window ends, in epoch ms; the store may forget the counter then. */
  resetAt: number;
  /** Units this call adds (0 reads). */
  cost: number;
}

/** Outcome of {@link LimitStore.consume}. */
export interface ConsumeResult {
  /** True when every counter's cost was added. */
  allowed: boolean;
  /** Each counter's count after the call (unchanged when refused). */
  counts: number[];
}

/**
 * Where counters live: in process memory ({@link createMemoryLimitStore}) or shared by several
 * instances (`@keywarden/redis`).
 *
 * @example
 * ```ts
 * const limits: LimitStore = createMemoryLimitStore({ maxCounters: 100_000 });
 * ```
 */
export interface LimitStore {
  /**
   * All or nothing, atomically: when every counter plus its `cost` stays within its limit, adds
   * each cost and answers `allowed`; otherwise changes nothing. Costs of 0 read the counts.
   * Rejects when the store cannot answer (the caller then fails open or closed).
   */
  consume(counters: readonly LimitCounter[], now: number): Promise<ConsumeResult>;
  /**
   * The same as `consume`, answered at once when the store can decide without I/O: the memory
   * store always can, the Redis store when the request fits in units it holds on lease; otherwise
   * a promise (and it may throw or reject when it cannot answer). When present keywarden calls it
   * instead of `consume`, so a limited request decided locally stays synchronous, with no promise
   * and no microtask turn.
   */
  consumeNow?(counters: readonly LimitCounter[], now: number): ConsumeResult | Promise<ConsumeResult>;
  /**
   * Gives back each counter's `cost` (units a released hold took): a counter whose window has
   * ended (its `resetAt` is not the one it was charged with) stays as it is, and no count goes
   * below 0. Without it a released hold's units stay spent (under the limit, never over).
   */
  giveBack?(counters: readonly LimitCounter[], now: number): void | Promise<void>;
  /** Where usage metering writes by default when the key store keeps none (the same backend). */
  readonly usage?: UsageStore;
  /** Releases connections or timers the store owns; keywarden never calls it for you. */
  close?(): Promise<void>;
}
