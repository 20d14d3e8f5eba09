import type { ConsumeResult, LimitCounter, LimitStore } from '@keywarden/core';
import { checkedOption, conflict, integerOption, optionsObject } from '@keywarden/core/adapter';
import { Redis, type RedisOptions } from 'ioredis';

// Why not rate-limiter-flexible: its windows start at a key's first request, while keywarden's
// quotas are calendar periods in UTC, and it charges one limiter at a time, while a request must
// be charged to its rate limit and its quota all-or-nothing (a request refused by the quota must
// not use up rate). Both need one atomic step over several counters: this Lua script.
//
// KEYS: the counters. ARGV: cost, limit and TTL in ms for each counter, in turn.
// Reads every counter; if each stays within its limit after adding its cost, adds the costs and
// sets the expiry of counters it creates. Answers { allowed (1/0), count... }.
const CONSUME = `
local counts = {}
local allowed = 1
for i = 1, #KEYS do
  local current = tonumber(redis.call('GET', KEYS[i]) or '0')
  counts[i] = current
  if current + tonumber(ARGV[3 * i - 2]) > tonumber(ARGV[3 * i - 1]) then allowed = 0 end
end
if allowed == 1 then
  for i = 1, #KEYS do
    local cost = tonumber(ARGV[3 * i - 2])
    if cost > 0 then
      counts[i] = redis.call('INCRBY', KEYS[i], cost)
      if counts[i] == cost then redis.call('PEXPIRE', KEYS[i], ARGV[3 * i]) end
    end
  end
end
table.insert(counts, 1, allowed)
return counts
`;

/** Options of {@link createRedisLimitStore}. */
export interface RedisLimitStoreOptions {
  /** An ioredis client you own (keywarden never closes it). Give it `enableOfflineQueue: false` so a lost connection fails fast. */
  client?: Redis;
  /** Or a URL: keywarden creates and closes a client set up to fail fast. */
  url?: string;
  /** Prefix of every key. @default 'keywarden:' */
  prefix?: string;
  /** A call that takes longer fails (and the request fails open or closed). @default 500 */
  timeoutMs?: number;
}

/** The store made by {@link createRedisLimitStore}. */
export interface RedisLimitStore extends LimitStore {
  /** The ioredis client in use. */
  readonly client: Redis;
  /** Closes the client if keywarden created it (from `url`). */
  close(): Promise<void>;
}

type ConsumeCommand = (numberOfKeys: number, ...args: (string | number)[]) => Promise<number[]>;

/**
 * A `LimitStore` (`@keywarden/core`) on Redis: one atomic Lua call per request, so counters are exact across
 * any number of server instances. Keys of one API key share a `{keyId}` hash tag, so the script
 * works on Redis Cluster.
 *
 * @example
 * ```ts
 * const keywarden = createKeywarden({ keys, limits: { store: createRedisLimitStore({ url: process.env.REDIS_URL }) } });
 * ```
 */
export function createRedisLimitStore(options: RedisLimitStoreOptions): RedisLimitStore {
  optionsObject('', options, ['client', 'url', 'prefix', 'timeoutMs']);
  if (!options.client === !options.url) conflict('url', 'or client: give either client or url');
  const prefix = checkedOption('prefix', options.prefix, 'keywarden:', {
    valid: (v) => typeof v === 'string',
    expected: 'a string',
  });
  const timeoutMs = integerOption('timeoutMs', options.timeoutMs, 500);
  const owned = !options.client;
  const failFast: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
  };
  const client = options.client ?? new Redis(options.url!, failFast);
  client.on('error', () => {}); // connection errors surface as rejected calls; keep them off stderr
  client.defineCommand('keywardenConsume', { lua: CONSUME });
  const consume = (client as unknown as { keywardenConsume: ConsumeCommand }).keywardenConsume.bind(client);
  // Commands fail at once while disconnected (no offline queue), so wait for the connection,
  // within the call's timeout. One shared promise per outage: no listener per waiting request.
  let waiting: Promise<void> | null = null;
  const whenReady = (): Promise<void> => {
    if (client.status === 'ready') return Promise.resolve();
    waiting ??= new Promise<void>((resolve) => {
      client.once('ready', () => {
        waiting = null;
        resolve();
      });
    });
    return waiting;
  };

  return {
    client,
    async consume(counters: readonly LimitCounter[], now: number): Promise<ConsumeResult> {
      const args: (string | number)[] = [];
      const keys: string[] = [];
      const params: number[] = [];
      for (const counter of counters) {
        keys.push(prefix + counter.key);
        // TTL relative to the caller's clock, so a test clock (or a skewed host) cannot make
        // counters expire early or late on the server.
        params.push(counter.cost, counter.limit, Math.max(1, counter.resetAt - now));
      }
      args.push(...keys, ...params);
      let timer: NodeJS.Timeout | undefined;
      let timedOut = false;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          reject(new Error('@keywarden/redis: timed out'));
        }, timeoutMs);
      });
      try {
        // A request already answered (timed out) must not be charged when Redis comes back. A
        // script already sent can still land; that is the price of any timeout.
        const call = whenReady().then(() => {
          if (timedOut) throw new Error('@keywarden/redis: timed out');
          return consume(keys.length, ...args);
        });
        call.catch(() => {}); // the race below reports the outcome
        const [allowed, ...counts] = await Promise.race([call, timeout]);
        return { allowed: allowed === 1, counts };
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      if (owned) await client.quit().catch(() => client.disconnect());
    },
  };
}
