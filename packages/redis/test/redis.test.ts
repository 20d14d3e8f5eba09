import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  createMemoryLimitStore,
  type LimitCounter,
  type LimitStore,
  openFileKeyStore,
} from '@keywarden/core';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisLimitStore } from '../src/index.js';
import { type RedisServer, startRedis } from './redis-server.js';

/** The same cost on every counter. */
const charge = (list: readonly Omit<LimitCounter, 'cost'>[], cost: number): LimitCounter[] =>
  list.map((counter) => ({ ...counter, cost }));

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.destroy();
});

let prefixes = 0;
// Tests that are not about a slow Redis give calls 5 s: a busy 2-core CI machine can take over
// the default 500 ms to connect and load the scripts (a first call answered 503 in one CI run).
const patient = { timeoutMs: 5_000 };
const stores: [string, () => LimitStore][] = [
  ['memory', () => createMemoryLimitStore()],
  ['redis', () => createRedisLimitStore({ url: redis.url, prefix: `t${++prefixes}:`, ...patient })],
];

describe.each(stores)('%s limit store contract', (_name, make) => {
  it('adds the cost to every counter or to none, and reads with cost 0', async () => {
    const store = make();
    const a = { key: 'kw:{k}:a', limit: 3, resetAt: 60_000 };
    const b = { key: 'kw:{k}:b', limit: 1, resetAt: 60_000 };
    expect(await store.consume(charge([a, b], 1), 0)).toEqual({ allowed: true, counts: [1, 1] });
    expect(await store.consume(charge([a, b], 1), 0)).toEqual({ allowed: false, counts: [1, 1] });
    expect(await store.consume(charge([a], 2), 0)).toEqual({ allowed: true, counts: [3] });
    expect(await store.consume(charge([a], 0), 0)).toEqual({ allowed: true, counts: [3] });
    expect(await store.consume(charge([a], 1), 0)).toEqual({ allowed: false, counts: [3] });
    await store.close?.();
  });

  it('charges each counter its own cost, all or nothing', async () => {
    const store = make();
    const rate = { key: 'kw:{c}:rate', limit: 10, resetAt: 60_000 };
    const quota = { key: 'kw:{c}:quota', limit: 5, resetAt: 60_000 };
    expect(
      await store.consume(
        [
          { ...rate, cost: 1 },
          { ...quota, cost: 3 },
        ],
        0,
      ),
    ).toEqual({ allowed: true, counts: [1, 3] });
    expect(
      await store.consume(
        [
          { ...rate, cost: 1 },
          { ...quota, cost: 3 },
        ],
        0,
      ),
    ).toEqual({ allowed: false, counts: [1, 3] });
    expect(
      await store.consume(
        [
          { ...rate, cost: 1 },
          { ...quota, cost: 0 },
        ],
        0,
      ),
    ).toEqual({ allowed: true, counts: [2, 3] });
    await store.close?.();
  });

  it('is exact under concurrency: 1,000 parallel consumes against a limit of 100', async () => {
    const store = make();
    const counter = { key: 'kw:{k}:race', limit: 100, resetAt: 60_000 };
    const results = await Promise.all(
      Array.from({ length: 1000 }, () => store.consume(charge([counter], 1), 0)),
    );
    expect(results.filter((r) => r.allowed)).toHaveLength(100);
    expect(
      results
        .filter((r) => r.allowed)
        .map((r) => r.counts[0])
        .sort((x, y) => x! - y!),
    ).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    await store.close?.();
  });
});

describe('redis limit store', () => {
  it('expires counters at the end of their window, measured from the caller clock', async () => {
    const store = createRedisLimitStore({ url: redis.url, prefix: 'ttl:', ...patient });
    await store.consume(charge([{ key: 'kw:{k}:w', limit: 5, resetAt: 1_000_000 + 1500 }], 1), 1_000_000);
    const ttl = await store.client.pttl('ttl:kw:{k}:w');
    expect(ttl).toBeGreaterThan(1000);
    expect(ttl).toBeLessThanOrEqual(1500);
    await store.close();
  });

  it('refuses bad options', () => {
    expect(() => createRedisLimitStore({} as never)).toThrow(/client or url/);
    expect(() => createRedisLimitStore({ url: redis.url, colour: 1 } as never)).toThrow(/unknown option/);
    expect(() => createRedisLimitStore({ url: redis.url, timeoutMs: 0 })).toThrow(/timeoutMs/);
  });

  it('leaves a client it was given open', async () => {
    const client = new Redis(redis.url);
    const store = createRedisLimitStore({ client, prefix: 'own:', ...patient });
    await store.consume(charge([{ key: 'kw:{k}:x', limit: 1, resetAt: 10_000 }], 1), 0);
    await store.close();
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
  });
});

describe('windows and calendar periods on Redis (frozen clock)', () => {
  it('a monthly quota rolls over at 00:00 UTC on the 1st, a rate window at its end', async () => {
    let now = Date.UTC(2026, 0, 31, 23, 59, 59);
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
      now: () => now,
    });
    const store = createRedisLimitStore({ url: redis.url, prefix: 'roll:', ...patient });
    const keywarden = createKeywarden({ keys, requireHttps: false, now: () => now, limits: { store } });
    const monthly = await keys.create({ name: 'm', quota: { limit: 2, period: 'month' } });
    const perMinute = await keys.create({ name: 'r', rateLimit: { limit: 1, windowSeconds: 60 } });
    const call = async (key: string) => {
      const r = await keywarden.authenticate({ method: 'GET', url: '/x', headers: { 'x-api-key': key } });
      return r.ok ? r.headers.ratelimit : r.error.code;
    };
    expect(await call(monthly.key)).toBe('"quota";r=1;t=1');
    expect(await call(monthly.key)).toBe('"quota";r=0;t=1');
    expect(await call(monthly.key)).toBe('quota_exceeded');
    expect(await call(perMinute.key)).toBe('"rate";r=0;t=1');
    expect(await call(perMinute.key)).toBe('rate_limited');
    now = Date.UTC(2026, 1, 1); // February
    expect(await call(monthly.key)).toBe(`"quota";r=1;t=${28 * 86400}`);
    expect(await call(perMinute.key)).toBe('"rate";r=0;t=60');
    await store.close();
  });
});

describe('peekLimits on Redis', () => {
  it('reads counters that two instances charged, without charging them or writing a key', async () => {
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    });
    const stores = [0, 1].map(() => createRedisLimitStore({ url: redis.url, prefix: 'peek:', ...patient }));
    const [a, b] = stores.map((store) => createKeywarden({ keys, requireHttps: false, limits: { store } }));
    const { key, record } = await keys.create({
      name: 'peeked',
      rateLimit: { limit: 50, windowSeconds: 3600 },
      quota: { limit: 500, period: 'month' },
    });
    const client = new Redis(redis.url);
    const before = (await client.keys('peek:*')).length;
    // Reading an untouched key creates nothing in Redis.
    expect(await a!.peekLimits(record.id)).toMatchObject({ rateLimit: { used: 0 }, quota: { used: 0 } });
    expect((await client.keys('peek:*')).length).toBe(before);
    const request = { method: 'GET', url: '/x', headers: { 'x-api-key': key } };
    for (const instance of [a, b, b])
      expect((await instance!.authenticate(request, { cost: 5 })).ok).toBe(true);
    // b may hold quota units on lease (it charged twice): they count as used for everyone else
    // until b gives them back, within a second.
    expect(await b!.peekLimits(record.id)).toMatchObject({
      rateLimit: { limit: 50, used: 3, remaining: 47 },
      quota: { limit: 500, used: 15, remaining: 485 },
    });
    const early = await a!.peekLimits(record.id);
    expect(early!.quota!.used).toBeGreaterThanOrEqual(15);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    for (const instance of [a, b])
      expect(await instance!.peekLimits(record.id)).toMatchObject({
        rateLimit: { limit: 50, used: 3, remaining: 47 },
        quota: { limit: 500, used: 15, remaining: 485 },
      });
    await client.quit();
    for (const store of stores) await store.close();
  });
});

describe('Redis going down and coming back', () => {
  async function setup(failOpen: boolean) {
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    });
    const limitStore = createRedisLimitStore({ url: redis.url, prefix: `down${failOpen}:`, timeoutMs: 200 });
    const keywarden = createKeywarden({ keys, requireHttps: false, limits: { store: limitStore, failOpen } });
    const { key } = await keys.create({ name: 'k', quota: { limit: 1000, period: 'month' } });
    const call = () => keywarden.authenticate({ method: 'GET', url: '/x', headers: { 'x-api-key': key } });
    return { call, limitStore };
  }

  async function until(check: () => Promise<boolean>) {
    for (let i = 0; i < 100; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('did not recover within 10 s');
  }

  it('fails closed (503) or open (no headers), as configured, and recovers by itself', async () => {
    const closed = await setup(false);
    const open = await setup(true);
    expect((await closed.call()).ok).toBe(true);
    await redis.stop();
    const refused = await closed.call();
    expect(refused.ok ? 'ok' : [refused.error.code, refused.error.status]).toEqual(['auth_unavailable', 503]);
    const passed = await open.call();
    expect(passed.ok && passed.headers).toEqual({});
    await redis.start();
    await until(async () => (await closed.call()).ok);
    const recovered = await open.call();
    expect(recovered.ok && recovered.headers.ratelimit).toMatch(/^"quota";r=\d+;t=\d+$/);
    await closed.limitStore.close();
    await open.limitStore.close();
  }, 30_000);
});

describe('two server processes sharing one Redis', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) child.kill();
  });

  function startServer(env: Record<string, string>): Promise<number> {
    const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'server.mjs')], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    return new Promise((resolve, reject) => {
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening (\d+)/.exec(output);
        if (match) resolve(Number(match[1]));
      });
      child.stderr!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.on('exit', (code) => reject(new Error(`server exited ${code}: ${output}`)));
    });
  }

  it('without leases: quota 100, 1,000 parallel requests split over both: exactly 100 succeed, remaining counted exactly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keywarden-two-'));
    try {
      const pepper = 'p'.repeat(32);
      const keysFile = join(dir, 'keys.json');
      const store = await openFileKeyStore({ path: keysFile, watch: false });
      const keys = createKeyManager({ store, hasher: createHmacHasher({ pepper }) });
      const { key } = await keys.create({ name: 'shared', quota: { limit: 100, period: 'month' } });
      await store.close();
      const env = { KEYS_FILE: keysFile, PEPPER: pepper, REDIS_URL: redis.url, LEASES: 'off' };
      const ports = await Promise.all([startServer(env), startServer(env)]);
      const responses = await Promise.all(
        Array.from({ length: 1000 }, (_, i) =>
          fetch(`http://127.0.0.1:${ports[i % 2]}/v3/files/a.png`, { headers: { 'x-api-key': key } }),
        ),
      );
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(100);
      expect(statuses.filter((s) => s === 429)).toHaveLength(900);
      // Both processes served some of the successes.
      const okByPort = [0, 1].map((p) => responses.filter((r, i) => i % 2 === p && r.status === 200).length);
      expect(okByPort.every((n) => n > 0)).toBe(true);
      const remaining = responses
        .filter((r) => r.status === 200)
        .map((r) => Number(/r=(\d+)/.exec(r.headers.get('ratelimit')!)![1]))
        .sort((a, b) => a - b);
      expect(remaining).toEqual(Array.from({ length: 100 }, (_, i) => i));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
  /** A child process's stdout, line by line: resolves to the first line `match` accepts. */
  function lineOf(child: ChildProcess, match: RegExp): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const found = match.exec(output);
        if (found) resolve(found);
      });
      child.stderr!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
    });
  }

  it("with leases: an account quota of 100 over 5 keys on three server processes, 1,000 parallel requests while a fourth process makes, rotates and revokes the account's keys: exactly 100 succeed", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keywarden-churn-'));
    try {
      const pepper = 'p'.repeat(32);
      const keysFile = join(dir, 'keys.json');
      const store = await openFileKeyStore({ path: keysFile, watch: false });
      const keys = createKeyManager({ store, hasher: createHmacHasher({ pepper }) });
      const account = `churn-${Date.now()}`;
      await keys.accounts.create({ id: account, plan: 'team' });
      const made: { key: string; record: { id: string } }[] = [];
      for (let i = 0; i < 5; i++) made.push(await keys.create({ name: `k${i}`, ownerId: account }));
      const plans = JSON.stringify({ team: { quota: { limit: 100, period: 'month' } } });
      const env = { KEYS_FILE: keysFile, PEPPER: pepper, REDIS_URL: redis.url, PLANS: plans };
      const ports = await Promise.all([startServer(env), startServer(env), startServer(env)]);
      const burst = (pick: (i: number) => number) =>
        Promise.all(
          Array.from({ length: 1000 }, (_, i) =>
            fetch(`http://127.0.0.1:${ports[pick(i)]}/v3/files/a.png`, {
              headers: { 'x-api-key': made[i % 5]!.key },
            }),
          ),
        );
      // The churn runs round after round from before the burst until after it.
      const churn = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'churn.mjs')], {
        env: {
          ...process.env,
          KEYS_FILE: keysFile,
          PEPPER: pepper,
          ACCOUNT: account,
          TIP: made[4]!.record.id,
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      children.push(churn);
      const done = lineOf(churn, /done (\d+)/);
      await lineOf(churn, /round 1\b/);
      const first = await burst((i) => (i % 10 < 6 ? 0 : i % 10 < 9 ? 1 : 2));
      churn.stdin!.end('stop\n');
      const rounds = Number((await done)[1]);
      expect(rounds).toBeGreaterThanOrEqual(2);
      const ok = (responses: Response[]) => responses.filter((r) => r.status === 200).length;
      expect([...new Set(first.map((r) => r.status))].sort()).toEqual([200, 429]);
      expect(ok(first)).toBeLessThanOrEqual(100);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const second = await burst((i) => (i % 10 < 6 ? 2 : i % 10 < 9 ? 1 : 0));
      expect(ok(first) + ok(second)).toBe(100);
      // The churn is in the shared file: per round a key made, its successor, the tip's successor.
      const reader = await openFileKeyStore({ path: keysFile, watch: false });
      const ofAccount = (await reader.list()).filter((record) => record.ownerId === account);
      expect(ofAccount.length).toBe(5 + 3 * rounds);
      expect(ofAccount.filter((record) => record.revokedAt !== null).length).toBeGreaterThanOrEqual(rounds);
      await reader.close();
      await store.close();
    } finally {
      // The servers go now, not after the describe: the tests after this one need the cores.
      for (const child of children) child.kill();
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});

describe('usage metering on Redis', () => {
  it('two instances write one key usage per UTC day; it survives a restart of both, and expires after the retention', async () => {
    const pepper = 'p'.repeat(32);
    const keyStore = createMemoryKeyStore();
    const prefix = `usage${Date.now()}:`;
    const instance = () => {
      const keys = createKeyManager({ store: keyStore, hasher: createHmacHasher({ pepper }) });
      const store = createRedisLimitStore({ url: redis.url, prefix, ...patient });
      const keywarden = createKeywarden({
        keys,
        requireHttps: false,
        limits: { store },
        usage: { retentionDays: 30 },
      });
      return { keys, store, keywarden };
    };
    const [a, b] = [instance(), instance()];
    const { key, record } = await a.keys.create({
      name: 'metered',
      scopes: ['images:read'],
      quota: { limit: 4, period: 'month' },
    });
    const request = { method: 'GET', url: '/x', headers: { 'x-api-key': key } };
    const first = await a.keywarden.authenticate(request, { cost: 2 });
    expect(first.ok ? 'ok' : first.error).toBe('ok');
    expect((await b.keywarden.authenticate(request, { cost: 2 })).ok).toBe(true);
    expect((await b.keywarden.authenticate(request, { cost: 1 })).ok).toBe(false); // quota_exceeded
    expect((await a.keywarden.authenticate(request, { scopes: ['images:write'] })).ok).toBe(false);
    for (const { keywarden, store } of [a, b]) {
      await keywarden.close(); // writes what it counted
      await store.close();
    }
    // A new process: nothing in memory, everything from Redis.
    const c = instance();
    const today = new Date().toISOString().slice(0, 10);
    expect(await c.keys.usage(record.id)).toEqual([
      { day: today, requests: 2, units: 4, refusals: { quota_exceeded: 1, insufficient_scope: 1 } },
    ]);
    const client = new Redis(redis.url);
    const [hash] = await client.keys(`${prefix}usage:{${record.id}}:*`);
    const ttl = await client.ttl(hash!);
    // Expires 30 days after the day began: between 29 and 30 days from now.
    expect(ttl).toBeGreaterThan(29 * 86_400);
    expect(ttl).toBeLessThanOrEqual(30 * 86_400);
    await client.quit();
    await c.store.close();
  });

  it("two instances write an account's usage per UTC day (its keys summed, a revoked one's too, credits apart); a third reads it", async () => {
    const keyStore = createMemoryKeyStore();
    const prefix = `accountUsage${Date.now()}:`;
    const plans = { metered: { quota: { limit: 3, period: 'month' as const }, overage: 'credits' as const } };
    const instance = () => {
      const keys = createKeyManager({
        store: keyStore,
        hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
      });
      const store = createRedisLimitStore({ url: redis.url, prefix, ...patient });
      const keywarden = createKeywarden({ keys, requireHttps: false, limits: { store }, plans });
      return { keys, store, keywarden };
    };
    const [a, b] = [instance(), instance()];
    await a.keys.accounts.create({ id: 'acme co', plan: 'metered' });
    await a.keys.accounts.credit('acme co', 2, { reason: 'test' });
    const first = await a.keys.create({ name: 'first', ownerId: 'acme co' });
    const second = await a.keys.create({ name: 'second', ownerId: 'acme co' });
    const call = (at: typeof a, key: string) =>
      at.keywarden.authenticate({ method: 'GET', url: '/x', headers: { 'x-api-key': key } });
    const codes = [];
    for (const [at, key] of [
      [a, first.key],
      [b, second.key],
      [a, first.key],
      [b, second.key], // past the quota: on credits
      [a, first.key], // on credits
      [b, second.key], // none left: 402
    ] as const) {
      const result = await call(at, key);
      codes.push(result.ok ? 'ok' : result.error.code);
    }
    expect(codes).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'credits_exhausted']);
    await a.keys.revoke(first.record.id); // its usage stays the account's
    for (const { keywarden, store } of [a, b]) {
      await keywarden.close();
      await store.close();
    }
    const c = instance();
    const today = new Date().toISOString().slice(0, 10);
    expect(await c.keys.accounts.usage('acme co', { from: today, to: today })).toEqual([
      { day: today, requests: 5, units: 5, credits: 2, refusals: { credits_exhausted: 1 } },
    ]);
    await c.store.close();
  });
});
