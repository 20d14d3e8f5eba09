import type { LimitStore, UsageStore } from '@keywarden/core';
import { checkedOption, conflict, integerOption, optionsObject } from '@keywarden/core/integration-kit';
import type { Cluster, Redis } from 'ioredis';
import { connect } from './connection.js';
import { LeaseBook } from './lease-book.js';
import { redisUsageStore } from './usage.js';

// Why not rate-limiter-flexible: its windows start at a key's first request, while keywarden's
// quotas are calendar periods in UTC, and it charges one limiter at a time, while a request must
// be charged to its rate limit and its quota all-or-nothing (a request refused by the quota must
// not use up rate). Both need one atomic step over several counters: the Lua scripts in
// scripts.ts. Leases (below) are ours too: no Redis limiter we know of spends units locally and
// still never admits beyond the limit.

/** Options of {@link createRedisLimitStore}. */
export interface RedisLimitStoreOptions {
  /**
   * An ioredis client you own (keywarden never closes it): a `Redis`, or a `Cluster` for Redis
   * Cluster. Give it `enableOfflineQueue: false` so a lost connection fails fast.
   */
  client?: Redis | Cluster;
  /** Or a URL: keywarden creates and closes a client set up to fail fast. */
  url?: string;
  /** Prefix of every key. @default 'keywarden:' */
  prefix?: string;
  /** A call that takes longer fails (and the request fails open or closed). @default 500 */
  timeoutMs?: number;
  /**
   * Hold units on lease and spend them without a round trip (see the README: never over the
   * limit; briefly under it, by units another instance holds). `false`: one Lua call a request,
   * and RateLimit headers that count exactly across instances. @default true
   */
  leases?: boolean;
  /** The most units one lease holds for one counter. @default 1000 */
  maxLeaseUnits?: number;
}

/** The store made by {@link createRedisLimitStore}. */
export interface RedisLimitStore extends LimitStore {
  /** The ioredis client in use. */
  readonly client: Redis | Cluster;
  /**
   * Usage metering on the same Redis (what `createKeywarden` writes to by default with this
   * store): one hash per key and UTC day, expiring after the retention. Survives restarts of
   * your servers (and of Redis, if it persists).
   */
  readonly usage: UsageStore;
  /** Gives back the units it holds on lease, then closes the client if keywarden created it (from `url`). */
  close(): Promise<void>;
}

/**
 * A `LimitStore` (`@keywarden/core`) on Redis, exact across any number of server instances: it
 * never admits a request beyond a limit. By default each instance holds small blocks of units on
 * lease, reserved atomically in Redis, and spends them locally, so a busy key makes about one
 * Redis call per block instead of one per request; near the limit every request goes to Redis.
 * Keys of one API key share a `{keyId}` hash tag, so the scripts run on Redis Cluster.
 *
 * @example
 * ```ts
 * const limits = createRedisLimitStore({ url: process.env.REDIS_URL });
 * const keywarden = createKeywarden({ keys, limits: { store: limits } });
 * process.on('SIGTERM', () => limits.close()); // gives back the units it holds
 * ```
 */
export function createRedisLimitStore(options: RedisLimitStoreOptions): RedisLimitStore {
  optionsObject('', options, ['client', 'url', 'prefix', 'timeoutMs', 'leases', 'maxLeaseUnits']);
  if (!options.client === !options.url) conflict('url', 'or client: give either client or url');
  const prefix = checkedOption('prefix', options.prefix, 'keywarden:', {
    valid: (v) => typeof v === 'string',
    expected: 'a string',
  });
  const timeoutMs = integerOption('timeoutMs', options.timeoutMs, 500);
  const leasing = checkedOption('leases', options.leases, true, {
    valid: (v) => typeof v === 'boolean',
    expected: 'true or false',
  });
  const maxLeaseUnits = integerOption('maxLeaseUnits', options.maxLeaseUnits, 1000);
  const redis = connect(options, timeoutMs);
  const book = new LeaseBook(redis, { prefix, leasing, maxLeaseUnits });
  return {
    client: redis.client,
    consumeNow: (list, now) => book.consume(list, now),
    consume: async (list, now) => book.consume(list, now),
    // A released hold: each counter on its own (a give-back needs no atomic step: it can only
    // lower a count, and one that fails leaves units spent, under the limit, never over).
    async giveBack(list) {
      const calls = list.filter((c) => c.cost > 0).map((c) => redis.giveBack(prefix + c.key, c.cost));
      await Promise.all(calls);
    },
    usage: redisUsageStore(redis, prefix),
    async close() {
      await book.close();
      await redis.close();
    },
  };
}
