// Leases: three server instances (real Fastify servers on loopback, each with its own Redis
// limit store) against one real redis-server, fsyncing every write so a kill loses nothing.
// Never over a limit, whatever the interleaving; under only by units an instance holds.
import type { KeywardenEvent } from '@keywarden/core';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisLimitStore, type RedisLimitStore } from '../src/index.js';
import {
  accountQuotaOfHundred,
  admittedPerWindow,
  quotaOfHundred,
  rateOfFifty,
  sleep,
  statuses,
  succeeded,
  TEAM_PLANS,
  threeInstances,
  uneven,
  unevenReversed,
} from './instances.js';
import { type RedisServer, startRedis } from './redis-server.js';

let redis: RedisServer;
let inspector: Redis;
beforeAll(async () => {
  redis = await startRedis({ persistent: true });
  inspector = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  inspector.on('error', () => {});
}, 30_000);
afterAll(async () => {
  inspector.disconnect();
  await redis.destroy();
});

let prefixes = 0;
// Calls get 5 s (a busy 2-core CI machine can take over the default 500 ms to connect), except
// in the outage test, where every call to the stopped server waits out its timeout.
const storeOf = (timeoutMs: number) => () =>
  createRedisLimitStore({ url: redis.url, prefix: `lease${prefixes}:`, timeoutMs });
/** Three instances with a fresh prefix. */
const threeOnRedis = (options: Parameters<typeof threeInstances>[1] = {}, timeoutMs = 5_000) => {
  prefixes++;
  return threeInstances(storeOf(timeoutMs), options);
};

/** Lua calls Redis has run so far (EVALSHA, and EVAL when a script was not loaded yet). */
async function scriptCalls(): Promise<number> {
  const info = await inspector.info('commandstats');
  let calls = 0;
  for (const match of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) calls += Number(match[1]);
  return calls;
}

async function quotaCount(keyId: string): Promise<number> {
  const found = await inspector.keys(`lease*:kw:{${keyId}}:quota:*`);
  expect(found).toHaveLength(1);
  return Number(await inspector.get(found[0]!));
}

describe('leases across three instances', () => {
  it('an account quota of 100 over 5 keys, 1,000 parallel requests, keys made, rotated and revoked meanwhile: exactly 100 succeed', async () => {
    const cluster = await threeOnRedis({ plans: TEAM_PLANS });
    try {
      const id = await accountQuotaOfHundred(cluster);
      const found = await inspector.keys(`lease${prefixes}:kw:{a:${id}}:quota:*`);
      expect(found).toHaveLength(1); // one account counter, whatever the keys did
      expect(Number(await inspector.get(found[0]!))).toBe(100);
    } finally {
      await cluster.close();
    }
  }, 60_000);

  it('credits past the quota: a balance of 10 against 100 parallel calls, again a second later, admits exactly 10 more than the quota, never below none', async () => {
    const plans = { prepaid: { quota: { limit: 1, period: 'month' as const }, overage: 'credits' as const } };
    const cluster = await threeOnRedis({ plans });
    try {
      const id = `prepaid-${Math.random().toString(36).slice(2, 8)}`;
      await cluster.keys.accounts.create({ id, plan: 'prepaid' });
      await cluster.keys.accounts.credit(id, 10, { reason: 'test top-up' });
      const made = await Promise.all([0, 1].map((i) => cluster.keys.create({ name: `p${i}`, ownerId: id })));
      const keys = made.map((k) => k.key);
      const first = await cluster.burst(keys, 100, uneven);
      expect([...new Set(first.map((r) => r.status))].sort()).toEqual([200, 402]);
      await sleep(1000);
      const second = await cluster.burst(keys, 100, unevenReversed);
      expect(succeeded(first) + succeeded(second)).toBe(11); // 1 in the quota, 10 on credits
      const refused = second.find((r) => r.status === 402)!;
      expect(refused.headers.get('retry-after')).toBeNull();
      expect(await refused.json()).toMatchObject({ status: 402, code: 'credits_exhausted' });
      await sleep(1100); // leases given back
      const [counter] = await inspector.keys(`lease${prefixes}:kw:{a:${id}}:credits`);
      expect(Number(await inspector.get(counter!))).toBe(10);
    } finally {
      await cluster.close();
    }
  }, 60_000);

  it('holds on three instances: failed work gives its units back, a retry with the same Idempotency-Key on another instance is charged once, parallel holds never over-admit', async () => {
    const plans = { render: { quota: { limit: 30, period: 'month' as const } } };
    const cluster = await threeOnRedis({ plans });
    try {
      const id = `render-${Math.random().toString(36).slice(2, 8)}`;
      await cluster.keys.accounts.create({ id, plan: 'render' });
      const { key } = await cluster.keys.create({ name: 'r', ownerId: id });
      const accountCount = async () => {
        await sleep(1100); // leases given back
        const found = await inspector.keys(`lease${prefixes}:kw:{a:${id}}:quota:*`);
        return found.length === 0 ? 0 : Number(await inspector.get(found[0]!));
      };
      // 10 renders (30 units: the whole quota) that fail after reserving: nothing stays charged.
      const failed = await cluster.render(key, 10, uneven, () => ({ 'x-fail': '1' }));
      expect(statuses(failed)).toEqual([500]);
      expect(await accountCount()).toBe(0);
      // Each job sent to every instance with the same Idempotency-Key: charged once.
      for (const job of ['a', 'b']) {
        const sent = await cluster.render(
          key,
          3,
          (i) => i,
          () => ({ 'idempotency-key': `job-${job}` }),
        );
        const bodies = (await Promise.all(sent.map((r) => r.json()))) as { reused: boolean }[];
        expect(bodies.map((b) => b.reused).sort()).toEqual([false, true, true]);
      }
      expect(await accountCount()).toBe(6);
      // 40 parallel holds of 3 against the 24 units left: exactly 8 admitted.
      const rush = await cluster.render(key, 40, unevenReversed);
      expect(statuses(rush)).toEqual([200, 429]);
      expect(succeeded(rush)).toBe(8);
      expect(await accountCount()).toBe(30);
    } finally {
      await cluster.close();
    }
  }, 60_000);

  it('one usage.threshold event per crossing of an account quota, whichever of three instances saw it', async () => {
    const events: KeywardenEvent[] = [];
    const cluster = await threeOnRedis({ plans: TEAM_PLANS, onEvent: (event) => events.push(event) });
    try {
      const id = `mark-${Math.random().toString(36).slice(2, 8)}`;
      await cluster.keys.accounts.create({ id, plan: 'team' });
      const made = await Promise.all(
        [0, 1, 2].map((i) => cluster.keys.create({ name: `m${i}`, ownerId: id })),
      );
      const keys = made.map((k) => k.key);
      await cluster.burst(keys, 300, uneven);
      await sleep(1000);
      await cluster.burst(keys, 300, unevenReversed);
      await sleep(500);
      const crossings = events.filter(
        (e): e is Extract<KeywardenEvent, { type: 'usage.threshold' }> =>
          e.type === 'usage.threshold' && e.accountId === id,
      );
      expect(crossings.map((e) => (e.kind === 'quota' ? e.percent : 0)).sort((a, b) => a - b)).toEqual([
        80, 100,
      ]);
    } finally {
      await cluster.close();
    }
  }, 60_000);

  it('quota 100, 1,000 parallel requests spread unevenly, again a second later: exactly 100 succeed', async () => {
    const cluster = await threeOnRedis();
    try {
      const keyId = await quotaOfHundred(cluster);
      expect(await quotaCount(keyId)).toBe(100);
    } finally {
      await cluster.close();
    }
  }, 60_000);

  it('spends units locally (far fewer Redis calls than requests) and gives back what it holds on close', async () => {
    const now = Date.UTC(2026, 11, 1, 12, 0, 0); // frozen: no window ends during the test
    const cluster = await threeOnRedis({ now: () => now });
    try {
      const { key, record } = await cluster.keys.create({
        name: 'busy',
        rateLimit: { limit: 1_000_000, windowSeconds: 3600 },
        quota: { limit: 1_000_000, period: 'month' },
      });
      const before = await scriptCalls();
      let ok = 0;
      for (let wave = 0; wave < 30; wave++) ok += succeeded(await cluster.burst(key, 100, uneven));
      expect(ok).toBe(3000);
      const calls = (await scriptCalls()) - before;
      expect(calls).toBeLessThan(1000);
      // The instances still hold units (each counts as used in Redis) until they give them back.
      await Promise.all(cluster.stores.map((store) => store.close()));
      expect(await quotaCount(record.id)).toBe(3000);
      const [rate] = await inspector.keys(`lease*:kw:{${record.id}}:rate:*`);
      expect(Number(await inspector.get(rate!))).toBe(3000);
    } finally {
      await cluster.close();
    }
  }, 60_000);

  it('holds a rate limit of 50/s to 50 in each window, across instances', async () => {
    const cluster = await threeOnRedis();
    try {
      await rateOfFifty(cluster);
    } finally {
      await cluster.close();
    }
  }, 60_000);

  it('holds a larger rate limit (leased) to at most its limit in each window', async () => {
    const cluster = await threeOnRedis();
    try {
      const { key } = await cluster.keys.create({ name: 'big', rateLimit: { limit: 400, windowSeconds: 1 } });
      // Waves, so that the instances learn the pace and lease.
      const windows = await admittedPerWindow(cluster, key, { waves: 6, perWave: 100 });
      expect(windows).toHaveLength(3);
      for (const admitted of windows) {
        expect(admitted).toBeLessThanOrEqual(400);
        expect(admitted).toBeGreaterThanOrEqual(200); // under only by units held on lease at the window's end
      }
    } finally {
      await cluster.close();
    }
  }, 60_000);
});

describe('Redis stopped and restarted mid-run, with leases', () => {
  async function waitReady(stores: RedisLimitStore[]) {
    for (let i = 0; i < 100 && stores.some((store) => store.client.status !== 'ready'); i++) await sleep(100);
  }

  for (const failOpen of [false, true]) {
    it(`never admits a charged request beyond the quota (${failOpen ? 'fail open' : 'fail closed'})`, async () => {
      const cluster = await threeOnRedis({ failOpen }, 200);
      try {
        const { key, record } = await cluster.keys.create({
          name: 'down',
          quota: { limit: 300, period: 'month' },
        });
        const all: Response[] = [];
        const charged = () =>
          all.filter((r) => r.status === 200 && r.headers.get('ratelimit') !== null).length;
        for (let wave = 0; wave < 4; wave++) all.push(...(await cluster.burst(key, 40, uneven)));
        const beforeStop = charged();
        await redis.stop();
        const during = await cluster.burst(key, 60, uneven);
        all.push(...during);
        for (const response of during) {
          if (response.status === 200 && response.headers.get('ratelimit') !== null) continue; // units held on lease
          if (failOpen) expect([response.status, response.headers.get('ratelimit')]).toEqual([200, null]);
          else expect(response.status).toBe(503);
        }
        await redis.start();
        await waitReady(cluster.stores);
        // The count survived the restart (append-only file): what was charged is still counted.
        expect(await quotaCount(record.id)).toBeGreaterThanOrEqual(beforeStop);
        for (let round = 0; round < 3; round++) {
          all.push(...(await cluster.burst(key, 200, round % 2 ? uneven : unevenReversed)));
          await sleep(1000);
        }
        expect(all.every((r) => [200, 429, 503].includes(r.status))).toBe(true);
        expect(charged()).toBeLessThanOrEqual(300);
        expect(charged()).toBeGreaterThan(beforeStop);
        expect(await quotaCount(record.id)).toBeLessThanOrEqual(300);
      } finally {
        await cluster.close();
      }
    }, 60_000);
  }
});
