// Usage metering in PostgreSQL: one row per key, UTC day and metric, summed by upsert. The meter
// writes a batch a second at most (one statement), so a request never waits for it; days past
// the retention are deleted at most once an hour per process.
import type { UsageDay, UsageIncrement, UsageStore } from '@keywarden/core';
import type pg from 'pg';

const DAY_MS = 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;
const REFUSED = 'refused:';

type Query = <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => Promise<pg.QueryResult<R>>;

/** The batch as rows, one per key, day and metric, summed (an upsert must not touch a row twice). */
function rowsOf(batch: readonly UsageIncrement[]): Map<string, [string, string, string, number]> {
  const rows = new Map<string, [string, string, string, number]>();
  const add = (keyId: string, day: string, metric: string, value: number) => {
    if (value === 0) return;
    const id = `${keyId}\n${day}\n${metric}`;
    const row = rows.get(id);
    if (row === undefined) rows.set(id, [keyId, day, metric, value]);
    else row[3] += value;
  };
  for (const { keyId, day, requests, units, refusals, credits } of batch) {
    add(keyId, day, 'requests', requests);
    add(keyId, day, 'units', units);
    add(keyId, day, 'credits', credits ?? 0);
    for (const code in refusals) add(keyId, day, REFUSED + code, refusals[code]!);
  }
  return rows;
}

export function postgresUsageStore(query: Query): UsageStore {
  let prunedAt = Number.NEGATIVE_INFINITY;
  return {
    async add(batch, retentionDays) {
      const rows = [...rowsOf(batch).values()];
      if (rows.length > 0) {
        await query(
          `INSERT INTO keywarden_usage (key_id, day, metric, value)
           SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::bigint[])
           ON CONFLICT (key_id, day, metric) DO UPDATE SET value = keywarden_usage.value + EXCLUDED.value`,
          [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2]), rows.map((r) => r[3])],
        );
      }
      if (Date.now() - prunedAt < PRUNE_EVERY_MS || batch.length === 0) return;
      prunedAt = Date.now();
      // Retention counts back from the newest day written (the meter's clock), as in every store.
      const newest = batch
        .map((b) => b.day)
        .sort()
        .at(-1)!; // YYYY-MM-DD sorts as dates do
      const oldest = new Date(Date.parse(newest) - (retentionDays - 1) * DAY_MS).toISOString().slice(0, 10);
      await query('DELETE FROM keywarden_usage WHERE day < $1', [oldest]);
    },
    async read(keyId, from, to) {
      const { rows } = await query<{ day: string; metric: string; value: string }>(
        `SELECT to_char(day, 'YYYY-MM-DD') AS day, metric, value FROM keywarden_usage
         WHERE key_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day, metric`,
        [keyId, from, to],
      );
      const days: UsageDay[] = [];
      for (const { day, metric, value } of rows) {
        let usage = days.at(-1);
        if (usage?.day !== day) {
          usage = { day, requests: 0, units: 0, refusals: {} };
          days.push(usage);
        }
        if (metric === 'requests') usage.requests = Number(value);
        else if (metric === 'units') usage.units = Number(value);
        else if (metric === 'credits') usage.credits = Number(value);
        else if (metric.startsWith(REFUSED)) usage.refusals[metric.slice(REFUSED.length)] = Number(value);
      }
      return days;
    },
  };
}
