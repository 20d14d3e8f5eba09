// Usage metering on Redis: one hash per key and UTC day (`requests`, `units`, `refused:<code>`,
// and an account's `credits`),
// sharing the key's `{keyId}` hash tag, expiring `retentionDays` after its day began. Written by
// the meter in batches (one script call per key and day), so a request never waits for it.
import type { UsageDay, UsageStore } from '@keywarden/core';
import type { Connection } from './connection.js';

const DAY_MS = 86_400_000;
const REFUSED = 'refused:';

export function redisUsageStore(redis: Connection, prefix: string): UsageStore {
  const keyOf = (keyId: string, day: string) => `${prefix}usage:{${keyId}}:${day}`;
  return {
    async add(batch, retentionDays) {
      await Promise.all(
        batch.map(({ keyId, day, requests, units, refusals, credits }) => {
          const increments: (string | number)[] = ['requests', requests, 'units', units];
          if (credits) increments.push('credits', credits);
          for (const code in refusals) increments.push(REFUSED + code, refusals[code]!);
          const expireAt = Math.floor((Date.parse(day) + retentionDays * DAY_MS) / 1000);
          return redis.addUsage(keyOf(keyId, day), expireAt, increments);
        }),
      );
    },
    async read(keyId, from, to) {
      const days: string[] = [];
      for (let t = Date.parse(from); t <= Date.parse(to); t += DAY_MS)
        days.push(new Date(t).toISOString().slice(0, 10));
      const hashes = await Promise.all(days.map((day) => redis.readUsage(keyOf(keyId, day))));
      const found: UsageDay[] = [];
      hashes.forEach((hash, i) => {
        if (Object.keys(hash).length === 0) return;
        const refusals: Record<string, number> = {};
        for (const field in hash)
          if (field.startsWith(REFUSED)) refusals[field.slice(REFUSED.length)] = Number(hash[field]);
        found.push({
          day: days[i]!,
          requests: Number(hash.requests ?? 0),
          units: Number(hash.units ?? 0),
          refusals,
          ...(hash.credits ? { credits: Number(hash.credits) } : {}),
        });
      });
      return found;
    },
  };
}
