// Rate limits and quotas: counters, windows, headers, and client partitions.
//
// Counters are fixed windows: a rate limit of N per W seconds counts in windows aligned to the
// epoch, a quota counts per calendar day or month in UTC. Inside one window a count only grows,
// so `remaining` never rises before the reset and never goes below zero.
import { isIP } from 'node:net';
import type { QuotaSpec, RateLimitSpec } from './record.js';

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
  /** Releases connections or timers the store owns; keywarden never calls it for you. */
  close?(): Promise<void>;
}

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
  const maxCounters = options.maxCounters ?? 100_000;
  if (!Number.isSafeInteger(maxCounters) || maxCounters < 1)
    throw new RangeError('keywarden: maxCounters must be >= 1');
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

/**
 * Start and end (epoch ms) of the calendar period holding `now`, in UTC.
 *
 * @example
 * ```ts
 * quotaPeriod('month', Date.UTC(2026, 10, 23)); // { start: Date.UTC(2026, 10, 1), end: Date.UTC(2026, 11, 1) }
 * ```
 */
export function quotaPeriod(period: QuotaSpec['period'], now: number): { start: number; end: number } {
  const date = new Date(now);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  if (period === 'day') {
    const start = Date.UTC(year, month, date.getUTCDate());
    return { start, end: start + 86_400_000 };
  }
  return { start: Date.UTC(year, month, 1), end: Date.UTC(year, month + 1, 1) };
}

/** Start and end of the fixed rate-limit window holding `now`. */
export function rateWindow(windowSeconds: number, now: number): { start: number; end: number } {
  const size = windowSeconds * 1000;
  const start = Math.floor(now / size) * size;
  return { start, end: start + size };
}

/** A counter together with what the headers need to describe it. */
export interface PolicyCounter extends LimitCounter {
  policy: 'rate' | 'quota';
  /** Window length in seconds, for `RateLimit-Policy`'s `w`. */
  windowSeconds: number;
}

/**
 * The counters charged for one request of a key: the rate limit counts requests (`rateCost`, 1
 * whatever the route's cost; 0 to only read it), the quota counts the route's cost.
 */
export function keyCounters(
  keyId: string,
  rateLimit: RateLimitSpec | null,
  quota: QuotaSpec | null,
  cost: number,
  now: number,
  rateCost = 1,
): PolicyCounter[] {
  const counters: PolicyCounter[] = [];
  if (rateLimit) {
    const { start, end } = rateWindow(rateLimit.windowSeconds, now);
    counters.push({
      policy: 'rate',
      key: `kw:{${keyId}}:rate:${rateLimit.windowSeconds}:${start}`,
      limit: rateLimit.limit,
      resetAt: end,
      cost: rateCost,
      windowSeconds: rateLimit.windowSeconds,
    });
  }
  if (quota) {
    const { start, end } = quotaPeriod(quota.period, now);
    counters.push({
      policy: 'quota',
      key: `kw:{${keyId}}:quota:${quota.period}:${start}`,
      limit: quota.limit,
      resetAt: end,
      cost,
      windowSeconds: Math.round((end - start) / 1000),
    });
  }
  return counters;
}

/**
 * The IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers-11) for counters after a
 * consume: `RateLimit-Policy: "rate";q=100;w=60, "quota";q=50;w=2678400` and
 * `RateLimit: "rate";r=99;t=42, "quota";r=49;t=1234567`.
 */
export function rateLimitHeaders(counters: readonly PolicyCounter[], counts: readonly number[], now: number) {
  const policy = counters.map((c) => `"${c.policy}";q=${c.limit};w=${c.windowSeconds}`).join(', ');
  const state = counters
    .map((c, i) => `"${c.policy}";r=${Math.max(0, c.limit - counts[i]!)};t=${secondsUntil(c.resetAt, now)}`)
    .join(', ');
  return { 'ratelimit-policy': policy, ratelimit: state };
}

/** Whole seconds from `now` until `at`, rounded up (never 0 while the window is open). */
export function secondsUntil(at: number, now: number): number {
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * The partition a client address is throttled under: an IPv4 address itself, an IPv6 address by
 * its /64 (one subscriber usually holds a whole /64, so per-address counting would not stop them).
 */
export function clientPartition(ip: string | undefined): string | null {
  if (typeof ip !== 'string') return null;
  let address = ip;
  if (address.length > 7 && address.slice(0, 7).toLowerCase() === '::ffff:' && isIP(address.slice(7)) === 4) {
    address = address.slice(7);
  }
  const family = isIP(address);
  if (family === 4) return address;
  if (family !== 6) return null;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.padStart(4, '0'))
    .join(':')}::/64`;
}
