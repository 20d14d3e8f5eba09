import type { QuotaSpec, RateLimitSpec } from '../keys/key-record.js';
import type { LimitCounter } from './limit-store.js';
import { quotaPeriod, rateWindow } from './windows.js';

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
  limits: { rateLimit: RateLimitSpec | null; quota: QuotaSpec | null },
  charge: { cost: number; rateCost: number },
  now: number,
): PolicyCounter[] {
  const { rateLimit, quota } = limits;
  const { cost, rateCost } = charge;
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
