import type { QuotaSpec, RateLimitSpec } from '../keys/key-record.js';
import type { LimitCounter } from './limit-store.js';
import { quotaPeriod, rateWindow } from './windows.js';

/** A counter together with what the headers need to describe it. */
export interface PolicyCounter extends LimitCounter {
  policy: 'rate' | 'quota';
  /** Window length in seconds, for `RateLimit-Policy`'s `w`. */
  windowSeconds: number;
  /** Window length in ms (a calendar month's varies). */
  windowMs: number;
}

interface Plan {
  keyId: string | null;
  rateLimit: RateLimitSpec | null;
  quota: QuotaSpec | null;
  cost: number;
  rateCost: number;
  /** The counters hold from `from` until `until` (the first window end). */
  from: number;
  until: number;
  counters: readonly PolicyCounter[];
}

// The last counters built for each key (by its record): a warm request of a limited key reuses
// them, with their key strings (and so their cached string hashes) and window bounds, until a
// window ends or the charge differs. Read-only, so concurrent requests can share them; the record
// is the weak key, so a record dropped from the caches takes its plan with it.
const plans = new WeakMap<object, Plan>();

function sameSpec(a: RateLimitSpec | QuotaSpec | null, b: RateLimitSpec | QuotaSpec | null): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b); // only when a record was replaced: rare
}

/**
 * The counters charged for one request of a key: the rate limit counts requests (`rateCost`, 1
 * whatever the route's cost; 0 to only read it), the quota counts the route's cost. `limits` is
 * any object holding the key's `rateLimit` and `quota`; the same counters come back, frozen, while
 * nothing about them changed. With a null `keyId` the counters name no key (their `key` is
 * empty): a store that keeps keys' counters in slots takes the id apart, and every key with the
 * same `limits` object (a shared profile) shares them.
 */
export function keyCounters(
  keyId: string | null,
  limits: { rateLimit: RateLimitSpec | null; quota: QuotaSpec | null },
  charge: { cost: number; rateCost: number },
  now: number,
): readonly PolicyCounter[] {
  const plan = plans.get(limits);
  if (
    plan !== undefined &&
    now >= plan.from &&
    now < plan.until &&
    plan.cost === charge.cost &&
    plan.rateCost === charge.rateCost &&
    plan.keyId === keyId &&
    sameSpec(plan.rateLimit, limits.rateLimit) &&
    sameSpec(plan.quota, limits.quota)
  )
    return plan.counters;
  const counters = buildCounters(keyId, limits, charge, now);
  let from = Number.NEGATIVE_INFINITY;
  let until = Number.POSITIVE_INFINITY;
  for (const counter of counters) {
    from = Math.max(from, counter.resetAt - counter.windowMs);
    until = Math.min(until, counter.resetAt);
  }
  const { rateLimit, quota } = limits; // not `...limits`: that is the whole key record
  plans.set(limits, {
    keyId,
    rateLimit,
    quota,
    cost: charge.cost,
    rateCost: charge.rateCost,
    from,
    until,
    counters,
  });
  return counters;
}

function buildCounters(
  keyId: string | null,
  limits: { rateLimit: RateLimitSpec | null; quota: QuotaSpec | null },
  charge: { cost: number; rateCost: number },
  now: number,
): readonly PolicyCounter[] {
  const { rateLimit, quota } = limits;
  const { cost, rateCost } = charge;
  const counters: PolicyCounter[] = [];
  if (rateLimit) {
    const { start, end } = rateWindow(rateLimit.windowSeconds, now);
    counters.push({
      policy: 'rate',
      key: keyId === null ? '' : `kw:{${keyId}}:rate:${rateLimit.windowSeconds}:${start}`,
      limit: rateLimit.limit,
      resetAt: end,
      cost: rateCost,
      windowSeconds: rateLimit.windowSeconds,
      windowMs: end - start,
    });
  }
  if (quota) {
    const { start, end } = quotaPeriod(quota.period, now);
    counters.push({
      policy: 'quota',
      key: keyId === null ? '' : `kw:{${keyId}}:quota:${quota.period}:${start}`,
      limit: quota.limit,
      resetAt: end,
      cost,
      windowSeconds: Math.round((end - start) / 1000),
      windowMs: end - start,
    });
  }
  for (const counter of counters) Object.freeze(counter);
  return Object.freeze(counters.slice()); // exact length: a pushed-to array keeps spare capacity
}
