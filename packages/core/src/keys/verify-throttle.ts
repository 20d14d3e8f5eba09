// Budgets for the work failed verifications cause (a store read and an argon2 hash each), per
// client and per key id and client. The rule: a verification *reserves* one failure from both
// budgets before it starts its work, and gives it back when the secret matched. A reservation in
// flight counts as a failure until it settles, so however a client pipelines or parallelizes
// wrong secrets, at most its budget of them are hashed in a window. The key itself is never
// refused: only that client's new cold verifications are, and a key that is already verified
// (warm) answers without a hash and without this check.
//
// A client whose budget is taken by reservations still in flight (not by failures) waits for one
// to settle instead of being refused: a proxy in front of many customers whose keys are all cold
// after a restart is served in turn, not told to come back in a minute.
//
// The budgets live here, in process memory, not in the limit store: they protect this process's
// CPU, and they must never compete with the keys' own counters (a spray of failures once filled
// the shared limit store and turned every rate-limited key into a 503). The tables are bounded;
// when full (a spray from many addresses) new clients are counted under a coarser partition
// (IPv4 /16, IPv6 /32) with a larger budget. The coarse table holds 65,536 partitions, every IPv4
// /16 there is (12 MB of heap when full, measured): a botnet spread over 2,000 /16s used to fill a table of 1,250,
// push every new client into one last bucket and spend it, closing cold verification to everyone
// for a minute; now it spends the budgets of its own /16s only. Only IPv6 sprays over more than
// 65,536 /32s still reach the last bucket.
import { clientPartition } from '../request/client-partition.js';

/** Settings of {@link createVerifyThrottle}, validated by the key manager. */
export interface VerifyThrottleSettings {
  /** Failed verifications per key id and client per window. */
  maxKeyFailures: number;
  /** Failed verifications per client (any key) per window. */
  maxClientFailures: number;
  windowMs: number;
  /** Clients, and key id and client pairs, tracked at once. */
  maxTracked: number;
  /** Clock in epoch ms. */
  now: () => number;
}

/** A reserved failure: the work may start; `settle` must be called once when it is done. */
export interface Reservation {
  ok: true;
  /** The partition the client is counted under (its lane in the fair hash queue). */
  client: string;
  /** `true` when the work failed (unknown id, wrong secret): the failure stays counted. */
  settle(failed: boolean): void;
}

/** The client is over a budget: no work until `retryAt` (epoch ms). */
export interface ReservationRefused {
  ok: false;
  retryAt: number;
}

export interface VerifyThrottle {
  /** Reserves a failure for the client at `ip` and this key id; waits while its budget is in flight. */
  reserve(
    ip: string | undefined,
    keyId: string,
  ): Reservation | ReservationRefused | Promise<Reservation | ReservationRefused>;
}

interface Bucket {
  failures: number;
  /** End of the bucket's window; the window starts at its first reservation. */
  until: number;
  inflight: number;
  /** Reservations waiting for one in flight to settle (client buckets only). */
  waiting: (() => void)[];
}

/** A coarse partition's budget is this many times a client's; the last bucket's, LAST_FACTOR times. */
const COARSE_FACTOR = 16;
const LAST_FACTOR = 256;
const SWEEP_INTERVAL_MS = 1000;
/** Coarse partitions tracked at once: every IPv4 /16. */
const COARSE_PARTITIONS = 65_536;
/** Reservations one client may have waiting; beyond, it is asked to retry in a second. */
const MAX_WAITING = 1000;

/** The coarser partition of a client partition: IPv4 /16, IPv6 /32. */
export function coarsePartition(partition: string): string {
  if (partition.endsWith('::/64')) return `${partition.slice(0, 9)}::/32`;
  const dot = partition.indexOf('.', partition.indexOf('.') + 1);
  return dot === -1 ? partition : `${partition.slice(0, dot)}.0.0/16`;
}

const idle = (bucket: Bucket, now: number) =>
  bucket.until <= now && bucket.inflight === 0 && bucket.waiting.length === 0;

/** A bounded table of buckets that frees idle ones (at most once a second) before it refuses. */
function bucketTable(capacity: number) {
  const buckets = new Map<string, Bucket>();
  let lastSweep = Number.NEGATIVE_INFINITY;
  return {
    buckets,
    /** The bucket for `name`, made if there is room; undefined when full. */
    take(name: string, now: number): Bucket | undefined {
      let bucket = buckets.get(name);
      if (bucket === undefined) {
        if (buckets.size >= capacity && now - lastSweep >= SWEEP_INTERVAL_MS) {
          lastSweep = now;
          for (const [key, old] of buckets) if (idle(old, now)) buckets.delete(key);
        }
        if (buckets.size >= capacity) return undefined;
        bucket = { failures: 0, until: 0, inflight: 0, waiting: [] };
        buckets.set(name, bucket);
      }
      return bucket;
    },
  };
}

/** Starts a new window when the bucket's has ended (failures counted in it are forgotten). */
function refresh(bucket: Bucket, now: number, windowMs: number): void {
  if (bucket.until <= now) {
    bucket.failures = 0;
    bucket.until = now + windowMs;
  }
}

export function createVerifyThrottle(settings: VerifyThrottleSettings): VerifyThrottle {
  const { maxKeyFailures, maxClientFailures, windowMs, maxTracked, now: clock } = settings;
  const clients = bucketTable(maxTracked);
  const coarse = bucketTable(Math.max(COARSE_PARTITIONS, maxTracked));
  const last: Bucket = { failures: 0, until: 0, inflight: 0, waiting: [] };
  const keyClients = bucketTable(maxTracked);

  /** The client's bucket and budget: its own, else its coarse partition's, else the last one. */
  function clientBucket(exact: string, now: number): [string, Bucket, number] {
    const own = clients.take(exact, now);
    if (own) return [exact, own, maxClientFailures];
    const name = coarsePartition(exact);
    const shared = coarse.take(name, now);
    if (shared) return [name, shared, maxClientFailures * COARSE_FACTOR];
    return ['*', last, maxClientFailures * LAST_FACTOR];
  }

  // The bucket of a key id and client. When that table is full (a spray), a new pair goes
  // untracked rather than evicting one, and its client's budget alone bounds it: evicting would
  // churn the table on every request of the spray.
  const untracked: Bucket = { failures: 0, until: Number.POSITIVE_INFINITY, inflight: 0, waiting: [] };
  const keyBucket = (name: string, now: number): Bucket => keyClients.take(name, now) ?? untracked;

  function settleClient(bucket: Bucket, limit: number, failed: boolean, now: number): void {
    bucket.inflight--;
    if (failed) {
      refresh(bucket, now, windowMs);
      bucket.failures++;
    }
    // Out of budget: every waiting reservation is refused now. A returned unit: the next may go.
    if (bucket.failures >= limit) for (const wake of bucket.waiting.splice(0)) wake();
    else if (!failed) bucket.waiting.shift()?.();
  }

  function attempt(
    client: string,
    perClient: Bucket,
    limit: number,
    keyId: string,
  ): Reservation | ReservationRefused | Promise<Reservation | ReservationRefused> {
    const now = clock();
    refresh(perClient, now, windowMs);
    if (perClient.failures >= limit) return { ok: false, retryAt: perClient.until };
    // One key id from one client: a legitimate key is verified by one flight at a time
    // (single-flight), so reservations in flight here are guesses, and count as failures.
    const perKey = keyBucket(`${keyId} ${client}`, now);
    refresh(perKey, now, windowMs);
    if (perKey !== untracked && perKey.failures + perKey.inflight >= maxKeyFailures) {
      return { ok: false, retryAt: perKey.failures >= maxKeyFailures ? perKey.until : now + 1000 };
    }
    if (perClient.failures + perClient.inflight >= limit) {
      if (perClient.waiting.length >= MAX_WAITING) return { ok: false, retryAt: now + 1000 };
      return new Promise<void>((wake) => perClient.waiting.push(wake)).then(() => {
        const next = attempt(client, perClient, limit, keyId);
        // Refused for its key id: the unit it was woken for passes to the next in line.
        if (!(next instanceof Promise) && !next.ok) perClient.waiting.shift()?.();
        return next;
      });
    }
    perClient.inflight++;
    if (perKey !== untracked) perKey.inflight++;
    return {
      ok: true,
      client,
      settle(failed) {
        const at = clock();
        settleClient(perClient, limit, failed, at);
        if (perKey === untracked) return;
        perKey.inflight--;
        if (failed) {
          refresh(perKey, at, windowMs);
          perKey.failures++;
        }
      },
    };
  }

  return {
    reserve(ip, keyId) {
      const [client, perClient, limit] = clientBucket(clientPartition(ip) ?? 'unknown', clock());
      return attempt(client, perClient, limit, keyId);
    },
  };
}
