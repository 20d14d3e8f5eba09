// Three server instances (real Fastify servers on loopback, each with its own limit store) for the
// lease and Cluster tests, and the exactness scenarios both run.
import {
  AuthError,
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  type KeyManager,
  type KeywardenEvent,
  type Plans,
} from '@keywarden/core';
import { renderProblem } from '@keywarden/core/integration-kit';
import { getAuth, keywardenFastify } from '@keywarden/fastify';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { expect } from 'vitest';
import type { RedisLimitStore } from '../src/index.js';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Instances {
  keys: KeyManager;
  stores: RedisLimitStore[];
  /** `count` parallel requests; request i goes to instance `pick(i)`, with key `key[i % length]`. */
  burst(key: string | readonly string[], count: number, pick: (i: number) => number): Promise<Response[]>;
  /**
   * `count` parallel renders (POST /v1/render: a hold of 3 units; `x-fail: 1` releases it and
   * answers 500), request i to instance `pick(i)` with the headers `headersOf(i)`.
   */
  render(
    key: string,
    count: number,
    pick: (i: number) => number,
    headersOf?: (i: number) => Record<string, string>,
  ): Promise<Response[]>;
  close(): Promise<void>;
}

/** Three instances sharing keys (one memory key store), each with the limit store `makeStore` gives. */
export async function threeInstances(
  makeStore: () => RedisLimitStore,
  options: {
    failOpen?: boolean;
    now?: () => number;
    plans?: Plans;
    onEvent?: (event: KeywardenEvent) => void;
  } = {},
): Promise<Instances> {
  const hasher = createHmacHasher({ pepper: 'p'.repeat(32) });
  const keyStore = createMemoryKeyStore();
  const clock = options.now ? { now: options.now } : {};
  const stores: RedisLimitStore[] = [];
  const apps: ReturnType<typeof Fastify>[] = [];
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) {
    const store = makeStore();
    const keywarden = createKeywarden({
      keys: createKeyManager({ store: keyStore, hasher }),
      requireHttps: false,
      limits: { store, failOpen: options.failOpen ?? false },
      ...(options.plans ? { plans: options.plans } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...clock,
    });
    const app = Fastify();
    await app.register(keywardenFastify, { keywarden });
    app.get('/v1/remove-background', async () => ({ ok: true }));
    app.post('/v1/render', { config: { keywarden: { cost: 0 } } }, renderHandler);
    await app.listen({ port: 0, host: '127.0.0.1' });
    stores.push(store);
    apps.push(app);
    ports.push((app.server.address() as { port: number }).port);
  }
  return {
    keys: createKeyManager({ store: keyStore, hasher, ...clock }),
    stores,
    burst: (key, count, pick) => {
      const list = typeof key === 'string' ? [key] : key;
      return Promise.all(
        Array.from({ length: count }, (_, i) =>
          fetch(`http://127.0.0.1:${ports[pick(i)]}/v1/remove-background`, {
            headers: { 'x-api-key': list[i % list.length]! },
          }),
        ),
      );
    },
    render: (key, count, pick, headersOf = () => ({})) =>
      Promise.all(
        Array.from({ length: count }, (_, i) =>
          fetch(`http://127.0.0.1:${ports[pick(i)]}/v1/render`, {
            method: 'POST',
            headers: { 'x-api-key': key, ...headersOf(i) },
          }),
        ),
      ),
    async close() {
      for (const app of apps) await app.close();
      for (const store of stores) await store.close();
    },
  };
}

/** Pays for its work with a hold of 3 units: released when the work fails (`x-fail: 1`). */
async function renderHandler(request: FastifyRequest, reply: FastifyReply) {
  try {
    const idempotencyKey = request.headers['idempotency-key'];
    const hold = await getAuth(request).reserve(3, { idempotencyKey });
    if (request.headers['x-fail'] === '1') {
      await hold.release();
      return reply.code(500).send({ failed: true });
    }
    hold.commit();
    return { reused: hold.reused };
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    const problem = renderProblem(error);
    return reply.code(problem.status).headers(problem.headers).send(problem.body);
  }
}

/** 60% of requests to the first instance, 30% to the second, 10% to the third (or reversed). */
export const uneven = (i: number) => (i % 10 < 6 ? 0 : i % 10 < 9 ? 1 : 2);
export const unevenReversed = (i: number) => 2 - uneven(i);
export const succeeded = (responses: Response[]) => responses.filter((r) => r.status === 200).length;
export const statuses = (responses: Response[]) => [...new Set(responses.map((r) => r.status))].sort();

/**
 * Quota 100, 1,000 parallel requests spread unevenly, again a second later: exactly 100 succeed
 * in total (the first round may fall short only by units other instances held on lease, and the
 * last 64 units of a window are never on lease).
 */
export async function quotaOfHundred(instances: Instances): Promise<string> {
  const { key, record } = await instances.keys.create({ name: 'q', quota: { limit: 100, period: 'month' } });
  const first = await instances.burst(key, 1000, uneven);
  expect(statuses(first)).toEqual([200, 429]);
  expect(succeeded(first)).toBeLessThanOrEqual(100);
  expect(succeeded(first)).toBeGreaterThanOrEqual(64);
  await sleep(1000);
  const second = await instances.burst(key, 1000, unevenReversed);
  expect(succeeded(first) + succeeded(second)).toBe(100);
  return record.id;
}

/** The plans the account scenario needs. */
export const TEAM_PLANS: Plans = { team: { quota: { limit: 100, period: 'month' } } };

/**
 * An account quota of 100 (plan `team`) over 5 keys of the account: 1,000 parallel requests
 * spread unevenly over the keys and the instances, again a second later, while keys of the account
 * are created, rotated and revoked: exactly 100 succeed in total. Returns the account id.
 */
export async function accountQuotaOfHundred(instances: Instances): Promise<string> {
  const { keys } = instances;
  const id = `team-${Math.random().toString(36).slice(2, 8)}`;
  await keys.accounts.create({ id, plan: 'team' });
  const made = await Promise.all(
    Array.from({ length: 5 }, (_, i) => keys.create({ name: `t${i}`, ownerId: id })),
  );
  const churn = (async () => {
    let tip = made[4]!.record.id; // rotated with a grace: the key the burst holds keeps working
    for (let i = 0; i < 10; i++) {
      const extra = await keys.create({ name: `extra${i}`, ownerId: id });
      const successor = await keys.rotate(extra.record.id, { gracePeriodSeconds: 0 });
      await keys.revoke(successor!.record.id);
      tip = (await keys.rotate(tip, { gracePeriodSeconds: 3600 }))!.record.id;
    }
  })();
  const first = await instances.burst(
    made.map((k) => k.key),
    1000,
    uneven,
  );
  await churn;
  expect(statuses(first)).toEqual([200, 429]);
  expect(succeeded(first)).toBeLessThanOrEqual(100);
  await sleep(1000);
  const second = await instances.burst(
    made.map((k) => k.key),
    1000,
    unevenReversed,
  );
  expect(succeeded(first) + succeeded(second)).toBe(100);
  return id;
}

/** A rate limit of 50/s: exactly 50 admitted in each of three windows, across the instances. */
export async function rateOfFifty(instances: Instances): Promise<void> {
  const { key } = await instances.keys.create({ name: 'r', rateLimit: { limit: 50, windowSeconds: 1 } });
  expect(await admittedPerWindow(instances, key, { waves: 1, perWave: 200 })).toEqual([50, 50, 50]);
}

/**
 * Bursts of `perBurst` requests (in `waves` sequential waves) that start and end inside one
 * second, so every request of a burst was charged to one window of a per-second rate limit:
 * what each of three windows admitted.
 */
export async function admittedPerWindow(
  instances: Instances,
  key: string,
  burst: { waves: number; perWave: number },
): Promise<number[]> {
  const windows: number[] = [];
  for (let attempt = 0; attempt < 20 && windows.length < 3; attempt++) {
    while (Date.now() % 1000 > 100) await sleep(5);
    const started = Date.now();
    const responses: Response[] = [];
    for (let wave = 0; wave < burst.waves; wave++)
      responses.push(...(await instances.burst(key, burst.perWave, uneven)));
    if (Math.floor(Date.now() / 1000) !== Math.floor(started / 1000)) continue; // crossed a window: retry
    expect(statuses(responses)).toEqual([200, 429]);
    windows.push(succeeded(responses));
    await sleep(1000 - (Date.now() % 1000) + 50);
  }
  return windows;
}
