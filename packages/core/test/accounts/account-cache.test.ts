import { describe, expect, it } from 'vitest';
import { createAccountCache, NO_OVERRIDES } from '../../src/accounts/account-cache.js';
import { createMemoryAccountStore } from '../../src/accounts/memory-account-store.js';

// The request path's account cache, alone: what it keeps of a record, and for how long when no
// change notification comes (a store whose notifications were lost).
function world(ttlMs = 30_000, maxAccounts = 100) {
  let time = Date.UTC(2026, 0, 15, 12);
  const store = createMemoryAccountStore();
  let reads = 0;
  const counted = {
    ...store,
    get: (id: string) => {
      reads++;
      return store.get(id);
    },
  };
  const cache = createAccountCache(counted, { ttlMs, maxAccounts, now: () => time });
  const at = (id: string) => cache.lookupNow(id);
  const record = (id: string, plan = 'free') => ({
    id,
    plan,
    status: 'active' as const,
    overrides: {},
    credits: 0,
    createdAt: new Date(time),
    updatedAt: new Date(time),
    metadata: { billing: 'cus_1' },
  });
  return { store, cache, at, record, reads: () => reads, advance: (ms: number) => (time += ms) };
}

describe('the account cache', () => {
  it('keeps only what a request reads, frozen, with shared empty overrides, and the id it was asked for', async () => {
    const { store, at, record } = world();
    await store.insert(record('acme'));
    await store.insert({ ...record('globex'), overrides: { maxKeys: 3 } });
    const id = ['ac', 'me'].join('');
    const acme = await at(id);
    expect(acme).toEqual({ id: 'acme', plan: 'free', status: 'active', credits: 0, overrides: {} });
    expect(Object.isFrozen(acme)).toBe(true);
    expect(acme!.overrides).toBe(NO_OVERRIDES);
    const globex = await at('globex');
    expect(globex!.overrides).toEqual({ maxKeys: 3 });
    expect(Object.isFrozen(globex!.overrides)).toBe(true);
    expect(globex!.plan).toBe(acme!.plan);
  });

  it('answers at once while cached, an unknown id too, and never from a read older than its lifetime', async () => {
    const { store, at, record, reads, advance } = world(30_000);
    await store.insert(record('acme'));
    expect(await at('acme')).toMatchObject({ plan: 'free' });
    expect(await at('nobody')).toBeNull();
    expect(reads()).toBe(2);
    expect(at('acme')).not.toBeInstanceOf(Promise);
    expect(at('nobody')).toBeNull();
    // Changed without a notification reaching the cache.
    await store.update('acme', { plan: 'pro' });
    const changedAt = reads();
    let seen = 'free';
    let waited = 0;
    while (seen === 'free') {
      advance(1000);
      waited += 1000;
      seen = (await at('acme'))!.plan;
    }
    expect(seen).toBe('pro');
    expect(waited).toBeLessThanOrEqual(30_000);
    expect(reads()).toBe(changedAt + 1);
  });

  it('drops an account on invalidate, and stays within its bound', async () => {
    const { store, cache, at, record, reads } = world(30_000, 3);
    for (const id of ['a', 'b', 'c', 'd']) await store.insert(record(id));
    for (const id of ['a', 'b', 'c', 'd']) await at(id);
    expect(reads()).toBe(4);
    await at('d');
    expect(reads()).toBe(4);
    await at('a'); // the oldest, dropped for d
    expect(reads()).toBe(5);
    cache.invalidate('a');
    await at('a');
    expect(reads()).toBe(6);
  });

  it('reads every time with a lifetime of 0', async () => {
    const { store, at, record, reads } = world(0);
    await store.insert(record('acme'));
    await at('acme');
    await at('acme');
    expect(reads()).toBe(2);
  });
});
