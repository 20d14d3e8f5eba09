import type { PolicyCounter } from './key-counters.js';
import { secondsUntil } from './windows.js';

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
