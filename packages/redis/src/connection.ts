// The Redis side: the client, the two scripts, and one bounded call at a time.
import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { ADD_USAGE, GIVE_BACK, LEASE } from './scripts.js';

/** The scripts as calls on a live connection, each bounded by the store's `timeoutMs`. */
export interface Connection {
  readonly client: Redis | Cluster;
  /** Runs the lease script: KEYS are `keys`, ARGV `params` (see scripts.ts). */
  lease(keys: readonly string[], params: readonly number[]): Promise<number[]>;
  /** Gives back `units` of one counter. */
  giveBack(key: string, units: number): Promise<number>;
  /** Adds field increments to a usage hash and sets when it expires (epoch seconds). */
  addUsage(key: string, expireAt: number, increments: readonly (string | number)[]): Promise<number>;
  /** A usage hash (empty when absent). */
  readUsage(key: string): Promise<Record<string, string>>;
  /** Closes the client when the store created it. */
  close(): Promise<void>;
}

type LeaseCommand = (numberOfKeys: number, ...args: (string | number)[]) => Promise<number[]>;
type GiveBackCommand = (key: string, units: number) => Promise<number>;
type AddUsageCommand = (key: string, ...args: (string | number)[]) => Promise<number>;

/** Uses `client`, or creates one from `url` set up to fail fast (and closes it on `close`). */
export function connect(target: { client?: Redis | Cluster; url?: string }, timeoutMs: number): Connection {
  const failFast: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
  };
  const client = target.client ?? new Redis(target.url!, failFast);
  client.on('error', () => {}); // connection errors surface as rejected calls; keep them off stderr
  client.defineCommand('keywardenLease', { lua: LEASE });
  client.defineCommand('keywardenGiveBack', { lua: GIVE_BACK, numberOfKeys: 1 });
  client.defineCommand('keywardenAddUsage', { lua: ADD_USAGE, numberOfKeys: 1 });
  const scripts = client as unknown as {
    keywardenLease: LeaseCommand;
    keywardenGiveBack: GiveBackCommand;
    keywardenAddUsage: AddUsageCommand;
  };
  const ready = readiness(client);

  /** One script call, bounded by `timeoutMs`; a call that timed out is never sent later. */
  async function bounded<T>(run: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new Error('@keywarden/redis: timed out'));
      }, timeoutMs);
    });
    try {
      // A script already sent can still land after the timeout: a charge is then counted for a
      // request that was answered 503 (or let through), and a grant is stranded until its window
      // ends. Both err on the side of admitting less.
      const sent = ready().then(() => {
        if (timedOut) throw new Error('@keywarden/redis: timed out');
        return run();
      });
      sent.catch(() => {}); // the race below reports the outcome
      return await Promise.race([sent, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    client,
    lease: (keys, params) => bounded(() => scripts.keywardenLease(keys.length, ...keys, ...params)),
    giveBack: (key, units) => bounded(() => scripts.keywardenGiveBack(key, units)),
    addUsage: (key, expireAt, increments) =>
      bounded(() => scripts.keywardenAddUsage(key, expireAt, ...increments)),
    readUsage: (key) => bounded(() => client.hgetall(key)),
    async close() {
      if (!target.client) await client.quit().catch(() => client.disconnect());
    },
  };
}

/**
 * Commands fail at once while disconnected (no offline queue), so a call first waits for the
 * connection, within its timeout. One shared promise per outage: no listener per waiting request.
 */
function readiness(client: Redis | Cluster): () => Promise<void> {
  let waiting: Promise<void> | null = null;
  return () => {
    if (client.status === 'ready') return Promise.resolve();
    waiting ??= new Promise<void>((resolve) => {
      client.once('ready', () => {
        waiting = null;
        resolve();
      });
    });
    return waiting;
  };
}
