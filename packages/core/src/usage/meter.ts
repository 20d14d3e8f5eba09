// The meter: counts each request of a verified key in memory, per key and UTC day, and per account
// beside it, and writes the sums to the usage store in one batch a second (by default), so
// metering adds no round trip to a request and, on the request path, one Map lookup a key and one
// an account (it is given the request's time: no clock read).
import { accountUsageId, addInto, type UsageIncrement, type UsageStore, utcDay } from './usage-store.js';

export interface Meter {
  /**
   * An admitted request of `keyId` (a token's key) that charged `units`; `requests` 0 adds units
   * only. `at`: the request's time (epoch ms). @default the meter's clock
   */
  admitted(keyId: string, units: number, requests?: number, at?: number): void;
  /** A refusal with `code` of a request whose key was recognised, at `at` (default: the meter's clock). */
  refused(keyId: string, code: string, at?: number): void;
  /** The same for an account: its keys' admitted requests, summed (`at`: the request's time). */
  accountAdmitted(accountId: string, units: number, requests: number, at: number): void;
  /** A refusal of an account's key once its account was known. */
  accountRefused(accountId: string, code: string, at: number): void;
  /** Units of an admitted request of the account that its credits paid (counted in its units too). */
  accountCredits(accountId: string, units: number, at: number): void;
  /** Writes what is counted now; resolves when the store has it (rejects if it failed: kept for the next try). */
  flush(): Promise<void>;
  /** Stops the timer and writes what is left. */
  close(): Promise<void>;
}

export interface MeterSettings {
  store: UsageStore;
  retentionDays: number;
  flushMs: number;
  now: () => number;
  /** A failed write: the batch is kept and tried again with the next one. */
  onError(error: unknown): void;
}

// Counts kept while the store fails: beyond this many key-days the oldest are dropped (and the
// failure reported), so an outage cannot grow the process without bound.
const MAX_PENDING = 100_000;
const DAY_MS = 86_400_000;

/** One more of `code`. */
function countOne(refusals: Record<string, number>, code: string): void {
  refusals[code] = (refusals[code] ?? 0) + 1;
}

export function createMeter(settings: MeterSettings): Meter {
  const { store, retentionDays, flushMs, now, onError } = settings;
  let current = new Map<string, UsageIncrement>(); // keyId -> today's counts
  let accounts = new Map<string, UsageIncrement>(); // account id -> today's counts
  let earlier: UsageIncrement[] = []; // counts of an earlier day, or of a batch that failed
  let day = '';
  let dayStart = 0;
  let dayEnd = 0;
  let timer: NodeJS.Timeout | null = null;
  let writing: Promise<void> = Promise.resolve();
  // The last key counted and its counts (in `current`): a run of requests of one key reads the Map once.
  let lastCounts: UsageIncrement | null = null;

  function today(t: number): void {
    if (current.size > 0) earlier.push(...current.values());
    if (accounts.size > 0) earlier.push(...accounts.values());
    current = new Map();
    accounts = new Map();
    lastCounts = null;
    dayStart = Math.floor(t / DAY_MS) * DAY_MS;
    dayEnd = dayStart + DAY_MS;
    day = utcDay(t);
  }

  function countsOf(keyId: string, t: number): UsageIncrement {
    if (t >= dayEnd || t < dayStart) today(t);
    if (lastCounts !== null && lastCounts.keyId === keyId) return lastCounts;
    lastCounts = current.get(keyId) ?? started(current, keyId, keyId);
    return lastCounts;
  }

  function accountCountsOf(accountId: string, t: number): UsageIncrement {
    if (t >= dayEnd || t < dayStart) today(t);
    return accounts.get(accountId) ?? started(accounts, accountId, accountUsageId(accountId));
  }

  /** Today's counts of a key or account seen first today (`usageId`: where the store keeps them). */
  function started(map: Map<string, UsageIncrement>, id: string, usageId: string): UsageIncrement {
    const counts = { keyId: usageId, day, requests: 0, units: 0, refusals: {} };
    map.set(id, counts);
    timer ??= setTimeout(() => void flush().catch(() => {}), flushMs);
    timer.unref?.();
    return counts;
  }

  function write(): Promise<void> {
    timer = null;
    const batch = earlier.concat([...current.values()], [...accounts.values()]);
    earlier = [];
    current = new Map();
    accounts = new Map();
    lastCounts = null;
    if (batch.length === 0) return Promise.resolve();
    return store.add(batch, retentionDays).catch((error: unknown) => {
      onError(error);
      keep(batch);
      throw error;
    });
  }

  /** A failed batch goes back in front of what was counted since, merged by key and day. */
  function keep(batch: UsageIncrement[]): void {
    const merged = new Map<string, UsageIncrement>();
    for (const counts of batch.concat(earlier)) {
      const id = `${counts.keyId}\n${counts.day}`;
      const into = merged.get(id);
      if (into === undefined) merged.set(id, counts);
      else addInto(into, counts);
    }
    earlier = [...merged.values()].slice(-MAX_PENDING);
    timer ??= setTimeout(() => void flush().catch(() => {}), flushMs);
    timer.unref?.();
  }

  function flush(): Promise<void> {
    if (timer !== null) clearTimeout(timer);
    // One write at a time, in order, so a batch never overtakes the one before it.
    writing = writing.catch(() => {}).then(write);
    return writing;
  }

  return {
    admitted(keyId, units, requests = 1, at = now()) {
      const counts = countsOf(keyId, at);
      counts.requests += requests;
      counts.units += units;
    },
    refused(keyId, code, at = now()) {
      countOne(countsOf(keyId, at).refusals, code);
    },
    accountAdmitted(accountId, units, requests, at) {
      const counts = accountCountsOf(accountId, at);
      counts.requests += requests;
      counts.units += units;
    },
    accountCredits(accountId, units, at) {
      const counts = accountCountsOf(accountId, at);
      counts.credits = (counts.credits ?? 0) + units;
    },
    accountRefused(accountId, code, at) {
      countOne(accountCountsOf(accountId, at).refusals, code);
    },
    flush,
    async close() {
      await flush();
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}
