// The exactness scenarios on a real three-master Redis Cluster, through ioredis' Cluster client.
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisLimitStore } from '../src/index.js';
import {
  accountQuotaOfHundred,
  quotaOfHundred,
  rateOfFifty,
  sleep,
  succeeded,
  TEAM_PLANS,
  threeInstances,
  uneven,
} from './instances.js';
import { type RedisCluster, startRedisCluster } from './redis-cluster.js';

let cluster: RedisCluster;
const clients: Cluster[] = [];
beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);
afterAll(async () => {
  for (const client of clients) client.disconnect();
  await cluster?.destroy();
});

/** An ioredis Cluster client, set up as the README advises (no offline queue). */
function clusterClient(): Cluster {
  const client = new Cluster(
    cluster.ports.map((port) => ({ host: '127.0.0.1', port })),
    { enableOfflineQueue: false, redisOptions: { maxRetriesPerRequest: 1 } },
  );
  client.on('error', () => {});
  clients.push(client);
  return client;
}

let prefixes = 0;
const threeOnCluster = (options: Parameters<typeof threeInstances>[1] = {}) => {
  const prefix = `cluster${++prefixes}:`;
  return threeInstances(
    () => createRedisLimitStore({ client: clusterClient(), prefix, timeoutMs: 5_000 }),
    options,
  );
};

/** Every limit counter of the test (not the usage hashes), from every master: where each lives, and its value. */
async function countersByMaster(prefix: string): Promise<Map<string, number>[]> {
  const inspector = clusterClient();
  await new Promise((resolve) => inspector.once('ready', resolve));
  return Promise.all(
    inspector.nodes('master').map(async (node) => {
      const found = new Map<string, number>();
      for (const key of await node.keys(`${prefix}kw:*`)) found.set(key, Number(await node.get(key)));
      return found;
    }),
  );
}

describe('Redis Cluster (three masters)', () => {
  it('quota 100, 1,000 parallel requests spread unevenly, again a second later: exactly 100 succeed', async () => {
    const instances = await threeOnCluster();
    try {
      const keyId = await quotaOfHundred(instances);
      const masters = await countersByMaster(`cluster${prefixes}:`);
      const counters = masters.flatMap((found) => [...found]);
      expect(counters).toEqual([[expect.stringContaining(`{${keyId}}:quota:`), 100]]);
    } finally {
      await instances.close();
    }
  }, 60_000);

  it('an account quota of 100 over 5 keys and 3 instances, keys changing meanwhile: exactly 100, every counter of the account on one master', async () => {
    const instances = await threeOnCluster({ plans: TEAM_PLANS });
    try {
      const id = await accountQuotaOfHundred(instances);
      const masters = await countersByMaster(`cluster${prefixes}:`);
      const holding = masters.filter((found) => [...found.keys()].some((key) => key.includes(`{a:${id}}`)));
      expect(holding).toHaveLength(1);
      expect([...holding[0]!].filter(([key]) => key.includes(':quota:'))).toEqual([
        [expect.stringContaining(`{a:${id}}:quota:`), 100],
      ]);
    } finally {
      await instances.close();
    }
  }, 60_000);

  it('holds a rate limit of 50/s to 50 in each window', async () => {
    const instances = await threeOnCluster();
    try {
      await rateOfFifty(instances);
    } finally {
      await instances.close();
    }
  }, 60_000);

  it('keeps 30 keys exact whichever master holds each: 10 of 40 parallel requests each, counters on every master', async () => {
    const instances = await threeOnCluster();
    try {
      const created = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          instances.keys.create({
            name: `k${i}`,
            rateLimit: { limit: 1000, windowSeconds: 3600 },
            quota: { limit: 10, period: 'month' },
          }),
        ),
      );
      const results = await Promise.all(created.map(({ key }) => instances.burst(key, 40, uneven)));
      await sleep(1000);
      const again = await Promise.all(created.map(({ key }) => instances.burst(key, 40, uneven)));
      expect(results.map((responses, i) => succeeded(responses) + succeeded(again[i]!))).toEqual(
        Array(30).fill(10),
      );
      const masters = await countersByMaster(`cluster${prefixes}:`);
      // Each key's rate and quota counters share a slot (the {keyId} hash tag), and the keys
      // spread over all three masters.
      for (const found of masters) expect(found.size).toBeGreaterThan(0);
      for (const { record } of created) {
        const holders = masters.filter((found) =>
          [...found.keys()].some((k) => k.includes(`{${record.id}}`)),
        );
        expect(holders).toHaveLength(1);
        const mine = [...holders[0]!].filter(([k]) => k.includes(`{${record.id}}`));
        expect(mine.map(([k]) => k.split(':')[3]).sort()).toEqual(['quota', 'rate']);
      }
    } finally {
      await instances.close();
    }
  }, 60_000);
});
