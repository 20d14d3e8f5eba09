import type { QuotaSpec, RateLimitSpec } from '../keys/key-record.js';
import type { LimitCounter } from './limit-store.js';
import { quotaPeriod, rateWindow } from './windows.js';

/** A counter together with what the headers need to describe it. */
export interface PolicyCounter extends LimitCounter {
  policy: 'rate' | 'quota';
  /**
   * The limit's name in the RateLimit headers and a 429's detail: `rate` and `quota` for a key's
   * own, `account-rate-<seconds>s` and `account-quota` for its account's.
   */
  label: string;
  /** Whose limit it is: the key's, or its account's. */
  owner: 'key' | 'account';
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

// The last counters built for each key (by its record, or its shared profile), one plan per charge
// (a route's cost, and a stacked middleware's extra cost with rateCost 0, alternate on one key): a
// warm request of a limited key reuses them, with their key strings (and so their cached string
// hashes) and window bounds, until a window ends. Read-only, so concurrent requests can share them;
// the record is the weak key, so a record dropped from the caches takes its plans with it.
const plans = new WeakMap<object, Plan[]>();
const MAX_PLANS = 4;

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
  const list = plans.get(limits);
  if (list !== undefined) {
    for (const plan of list) {
      if (
        plan.cost === charge.cost &&
        plan.rateCost === charge.rateCost &&
        now >= plan.from &&
        now < plan.until &&
        plan.keyId === keyId &&
        sameSpec(plan.rateLimit, limits.rateLimit) &&
        sameSpec(plan.quota, limits.quota)
      )
        return plan.counters;
    }
  }
  const counters = buildCounters(keyId, limits, charge, now);
  let from = Number.NEGATIVE_INFINITY;
  let until = Number.POSITIVE_INFINITY;
  for (const counter of counters) {
    from = Math.max(from, counter.resetAt - counter.windowMs);
    until = Math.min(until, counter.resetAt);
  }
  const { rateLimit, quota } = limits; // not `...limits`: that is the whole key record
  const plan: Plan = {
    keyId,
    rateLimit,
    quota,
    cost: charge.cost,
    rateCost: charge.rateCost,
    from,
    until,
    counters,
  };
  // The new plan replaces the one for the same charge (its window ended), else the oldest past four.
  const kept = (list ?? []).filter((p) => p.cost !== plan.cost || p.rateCost !== plan.rateCost);
  plans.set(limits, [plan, ...kept.slice(0, MAX_PLANS - 1)]);
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
      label: 'rate',
      owner: 'key',
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
      label: 'quota',
      owner: 'key',
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
