import { describe, expect, it } from 'vitest';
import {
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  createMemoryLimitStore,
} from '../../src/index.js';
import { frozenClock } from '../helpers.js';

// The memory store keeps an API key's counters in one slot per key (lineage), an account's in one
// per account; these pin what that must keep of the counters by name: one count per key and per
// account whoever charges it, the bound, ended windows, a plan change.
function world(maxCounters?: number) {
  const clock = frozenClock(Date.UTC(2026, 0, 15, 12, 0, 0));
  const store = createMemoryKeyStore();
  const hasher = createHmacHasher({ pepper: 'p'.repeat(32) });
  const limitStore = createMemoryLimitStore(maxCounters === undefined ? {} : { maxCounters });
  const instance = () =>
    createKeywarden({
      keys: createKeyManager({ store, hasher, now: clock.now }),
      requireHttps: false,
      now: clock.now,
      usage: false,
      limits: { store: limitStore },
      plans: {
        small: { quota: { limit: 5, period: 'day' } },
        windows: { rateLimits: [{ limit: 100, windowSeconds: 60 }], quota: { limit: 5, period: 'day' } },
      },
    });
  const ask = (keywarden: ReturnType<typeof instance>, key: string) =>
    keywarden
      .authenticate({ method: 'GET', url: '/x', headers: { 'x-api-key': key } })
      .then((r) => (r.ok ? 200 : r.error.status));
  return { clock, store, hasher, instance, ask, creator: createKeyManager({ store, hasher }) };
}

describe('key counters in the memory store', () => {
  it('counts a key once when two key managers (two caches) charge it through one store', async () => {
    const { instance, ask, creator } = world();
    const { key } = await creator.create({ name: 'k', quota: { limit: 5, period: 'day' } });
    const [a, b] = [instance(), instance()];
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push(await ask(i % 2 === 0 ? a : b, key));
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
  });

  it('keeps keys with the same limits apart, and charges each its own', async () => {
    const { instance, ask, creator } = world();
    const limits = { rateLimit: { limit: 2, windowSeconds: 60 } };
    const first = await creator.create({ name: 'a', ...limits });
    const second = await creator.create({ name: 'b', ...limits });
    const keywarden = instance();
    expect([await ask(keywarden, first.key), await ask(keywarden, first.key)]).toEqual([200, 200]);
    expect(await ask(keywarden, first.key)).toBe(429);
    expect([await ask(keywarden, second.key), await ask(keywarden, second.key)]).toEqual([200, 200]);
    const peeked = await keywarden.peekLimits(second.record.id);
    expect(peeked?.rateLimit).toMatchObject({ limit: 2, used: 2, remaining: 0 });
  });

  it('stays bounded (a key counts as one counter): a new key is refused while the others are live, admitted once their windows end', async () => {
    const { clock, instance, ask, creator } = world(2);
    const limits = { rateLimit: { limit: 10, windowSeconds: 60 } };
    const keys = await Promise.all(['a', 'b', 'c'].map((name) => creator.create({ name, ...limits })));
    const keywarden = instance();
    expect(await ask(keywarden, keys[0]!.key)).toBe(200);
    expect(await ask(keywarden, keys[1]!.key)).toBe(200);
    expect(await ask(keywarden, keys[2]!.key)).toBe(503); // full: fail closed, nothing evicted
    expect(await ask(keywarden, keys[0]!.key)).toBe(200); // a live key still counts
    clock.advance(61_000);
    expect(await ask(keywarden, keys[2]!.key)).toBe(200);
    const peeked = await keywarden.peekLimits(keys[2]!.record.id);
    expect(peeked?.rateLimit).toMatchObject({ used: 1 });
  });

  it('starts a new count when a window ends, and when the limit changes to another window', async () => {
    const { clock, instance, ask, creator } = world();
    const { key, record } = await creator.create({ name: 'k', rateLimit: { limit: 1, windowSeconds: 60 } });
    const keywarden = instance();
    expect(await ask(keywarden, key)).toBe(200);
    expect(await ask(keywarden, key)).toBe(429);
    clock.advance(60_000);
    expect(await ask(keywarden, key)).toBe(200);
    await creator.update(record.id, { rateLimit: { limit: 1, windowSeconds: 7 } });
    clock.advance(31_000); // the record is read again
    expect(await ask(keywarden, key)).toBe(200);
    expect(await ask(keywarden, key)).toBe(429);
  });
});

describe('account counters in the memory store', () => {
  it('counts an account once over its keys and two managers, apart from another account on the same plan', async () => {
    const { instance, ask, creator } = world();
    await creator.accounts.create({ id: 'acme', plan: 'small' });
    await creator.accounts.create({ id: 'globex', plan: 'small' });
    const [a1, a2] = [
      await creator.create({ name: 'a1', ownerId: 'acme' }),
      await creator.create({ name: 'a2', ownerId: 'acme' }),
    ];
    const g = await creator.create({ name: 'g', ownerId: 'globex' });
    const [one, two] = [instance(), instance()];
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++)
      statuses.push(await ask(i % 2 === 0 ? one : two, (i % 3 === 0 ? a1 : a2).key));
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    expect(await ask(one, g.key)).toBe(200);
    const peeked = await two.peekLimits(g.record.id);
    expect(peeked?.account?.quota).toMatchObject({ limit: 5, used: 1 });
  });

  it('keeps the counts a plan change keeps: a window added to the plan leaves the quota where it was', async () => {
    const { instance, ask, creator, clock } = world();
    await creator.accounts.create({ id: 'acme', plan: 'small' });
    const { key, record } = await creator.create({ name: 'k', ownerId: 'acme' });
    const keywarden = instance();
    for (let i = 0; i < 3; i++) expect(await ask(keywarden, key)).toBe(200);
    await creator.accounts.update('acme', { plan: 'windows' });
    clock.advance(31_000); // another manager's cache: read again
    expect([await ask(keywarden, key), await ask(keywarden, key)]).toEqual([200, 200]);
    expect(await ask(keywarden, key)).toBe(429); // 5 of the day's 5, across the change
    const peeked = await keywarden.peekLimits(record.id);
    expect(peeked?.account?.rateLimits).toEqual([expect.objectContaining({ limit: 100, used: 2 })]);
    expect(peeked?.account?.quota).toMatchObject({ used: 5, remaining: 0 });
  });

  it('stays bounded (an account counts as one counter), and frees an account whose windows ended', async () => {
    const { clock, instance, ask, creator } = world(2);
    for (const id of ['acme', 'globex']) await creator.accounts.create({ id, plan: 'small' });
    const acme = await creator.create({ name: 'a', ownerId: 'acme' });
    const globex = await creator.create({ name: 'g', ownerId: 'globex' });
    const limited = await creator.create({ name: 'l', rateLimit: { limit: 10, windowSeconds: 60 } });
    const keywarden = instance();
    expect(await ask(keywarden, acme.key)).toBe(200);
    expect(await ask(keywarden, globex.key)).toBe(200);
    expect(await ask(keywarden, limited.key)).toBe(503); // full: fail closed, nothing evicted
    expect(await ask(keywarden, acme.key)).toBe(200);
    clock.advance(24 * 3600_000); // the day's quotas ended
    expect(await ask(keywarden, limited.key)).toBe(200);
    expect(await ask(keywarden, acme.key)).toBe(200); // a new day: one slot left, taken again
    expect(await ask(keywarden, globex.key)).toBe(503);
  });
});

describe('shared counter lists', () => {
  it('keeps one list per charge, so a route cost and a stacked extra cost alternating on keys of one profile rebuild nothing', async () => {
    const { keyCounters } = await import('../../src/limits/counters.js');
    const profile = {
      rateLimit: { limit: 10, windowSeconds: 60 },
      quota: { limit: 100, period: 'day' as const },
    };
    const t = Date.UTC(2026, 0, 15, 12, 0, 0);
    const route = keyCounters(null, profile, { cost: 1, rateCost: 1, now: t });
    const extra = keyCounters(null, profile, { cost: 4, rateCost: 0, now: t });
    expect(extra).not.toBe(route);
    expect(keyCounters(null, profile, { cost: 1, rateCost: 1, now: t + 1 })).toBe(route);
    expect(keyCounters(null, profile, { cost: 4, rateCost: 0, now: t + 2 })).toBe(extra);
    expect(route.map((c) => [c.policy, c.cost, c.key])).toEqual([
      ['rate', 1, ''],
      ['quota', 1, ''],
    ]);
    // A new window: new counters for that charge, with the new reset time.
    const next = keyCounters(null, profile, { cost: 1, rateCost: 1, now: t + 60_000 });
    expect(next).not.toBe(route);
    expect(next[0]!.resetAt).toBe(route[0]!.resetAt + 60_000);
  });
});
