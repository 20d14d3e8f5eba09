// Usage metering's storage: per key and per UTC day, the requests admitted, the quota units
// charged and the refusals by error code. Written in batches by the meter (meter.ts), read by
// `keys.usage` and the CLI.

/** One key's usage on one UTC day. */
export interface UsageDay {
  /** The UTC day, `YYYY-MM-DD`. */
  day: string;
  /** Requests admitted (an access token's count toward its key). */
  requests: number;
  /** Quota units charged: the sum of the admitted requests' route costs. */
  units: number;
  /** Requests refused after the key was recognised, by error code (`rate_limited`, `quota_exceeded`, ...). */
  refusals: Record<string, number>;
  /**
   * Of `units`, those charged to the account's prepaid credits (past its quota); an account's days
   * only, and only when there are some.
   */
  credits?: number;
}

/** What the meter adds for one key (or account) on one day in one batch. */
export interface UsageIncrement extends UsageDay {
  /** The key's id, or an account's usage id ({@link accountUsageId}). */
  keyId: string;
}

/**
 * Where an account's usage is kept in a usage store: beside its keys', under `@` and its id
 * URI-encoded. A key id is 12 base62 characters, so none starts with `@`; the encoding keeps `{`,
 * `}` and `:` out (the Redis store names a day's hash `usage:{<id>}:<day>`, a hash tag).
 *
 * @example
 * ```ts
 * await usageStore.read(accountUsageId('alice'), '2026-12-01', '2026-12-31');
 * ```
 */
export function accountUsageId(accountId: string): string {
  return `@${encodeURIComponent(accountId)}`;
}

/**
 * Where usage is kept: in process memory ({@link createMemoryUsageStore}), in Redis (the Redis
 * limit store's `usage`) or in PostgreSQL (the PostgreSQL key store's `usage`).
 *
 * @example
 * ```ts
 * const usage: UsageStore = createMemoryUsageStore();
 * await usage.add([{ keyId: 'k1', day: '2026-12-01', requests: 3, units: 5, refusals: {} }], 90);
 * ```
 */
export interface UsageStore {
  /**
   * Adds each increment to its key's day (creating it), and forgets days more than
   * `retentionDays` before the newest day written (UTC). One call per batch, never per request.
   */
  add(batch: readonly UsageIncrement[], retentionDays: number): Promise<void>;
  /** The key's days from `from` to `to` (inclusive, `YYYY-MM-DD`), only those with usage, in order. */
  read(keyId: string, from: string, to: string): Promise<UsageDay[]>;
}

const DAY_MS = 86_400_000;

/**
 * The UTC day holding `time`, as `YYYY-MM-DD`.
 *
 * @example
 * ```ts
 * utcDay(Date.UTC(2026, 11, 1, 23, 59)); // '2026-12-01'
 * ```
 */
export function utcDay(time: number): string {
  return new Date(Math.floor(time / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
}

/** Every day from `from` to `to`, inclusive. */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let t = Date.parse(from); t <= Date.parse(to); t += DAY_MS) days.push(utcDay(t));
  return days;
}

/** The first day still kept under `retentionDays`, counting back from `now` (its day included). */
export function oldestKept(now: number, retentionDays: number): string {
  return utcDay(now - (retentionDays - 1) * DAY_MS);
}

/** Sums `increment` into `day` (same key, same day). */
export function addInto(day: UsageDay, increment: UsageDay): void {
  day.requests += increment.requests;
  day.units += increment.units;
  if (increment.credits) day.credits = (day.credits ?? 0) + increment.credits;
  for (const code in increment.refusals)
    day.refusals[code] = (day.refusals[code] ?? 0) + increment.refusals[code]!;
}
