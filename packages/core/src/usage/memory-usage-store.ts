import { addInto, daysBetween, oldestKept, type UsageDay, type UsageStore } from './usage-store.js';

/**
 * A {@link UsageStore} in process memory: what the memory limit store keeps (usage does not survive
 * a restart; use Redis or PostgreSQL for that). Only keys that were verified are metered, so it
 * holds at most one entry per real key and kept day.
 *
 * @example
 * ```ts
 * const usage = createMemoryUsageStore();
 * ```
 */
export function createMemoryUsageStore(): UsageStore {
  const days = new Map<string, Map<string, UsageDay>>(); // day -> keyId -> usage
  // Retention counts back from the newest day written (the meter's clock), not this process's.
  let newest = '';
  return {
    async add(batch, retentionDays) {
      for (const { keyId, ...increment } of batch) {
        if (increment.day > newest) newest = increment.day;
        let keys = days.get(increment.day);
        if (keys === undefined) {
          keys = new Map();
          days.set(increment.day, keys);
        }
        const day = keys.get(keyId);
        if (day === undefined) keys.set(keyId, { ...increment, refusals: { ...increment.refusals } });
        else addInto(day, increment);
      }
      const oldest = oldestKept(Date.parse(newest), retentionDays);
      for (const day of days.keys()) if (day < oldest) days.delete(day);
    },
    async read(keyId, from, to) {
      const found: UsageDay[] = [];
      for (const day of daysBetween(from, to)) {
        const usage = days.get(day)?.get(keyId);
        if (usage !== undefined) found.push({ ...usage, refusals: { ...usage.refusals } });
      }
      return found;
    },
  };
}
