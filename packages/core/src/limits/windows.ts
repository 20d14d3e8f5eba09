// Counters are fixed windows: a rate limit of N per W seconds counts in windows aligned to the
// epoch, a quota counts per calendar day or month in UTC. Inside one window a count only grows,
// so `remaining` never rises before the reset and never goes below zero.
import type { QuotaSpec } from '../keys/key-record.js';

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

/** Whole seconds from `now` until `at`, rounded up (never 0 while the window is open). */
export function secondsUntil(at: number, now: number): number {
  return Math.max(0, Math.ceil((at - now) / 1000));
}
