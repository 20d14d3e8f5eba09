import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createHmacHasher,
  createKeyManager,
  createMemoryKeyStore,
  formatApiKey,
  type KeyStore,
  parseApiKey,
} from '../../src/index.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const randomText = (n: number) => [...randomBytes(n)].map((b) => ALPHABET[b % 62]).join('');

/** A memory store with a `getMany`, whose `get` and `getMany` are counted, and can fail. */
function counted() {
  const inner = createMemoryKeyStore();
  const calls = { get: 0, getMany: 0, ids: 0, failing: false as boolean | 'throws' | 'junk' };
  const store: KeyStore = {
    ...inner,
    get(id) {
      calls.get++;
      return calls.failing ? Promise.reject(new Error('down')) : inner.get(id);
    },
    getMany(ids) {
      calls.getMany++;
      calls.ids += ids.length;
      if (calls.failing === 'throws') throw new Error('down, and says so without a promise');
      if (calls.failing === 'junk') return Promise.resolve('not a list' as never);
      if (calls.failing) return Promise.reject(new Error('down'));
      // The memory store has no getMany (its reads cost no query): one made of its gets.
      return Promise.all(ids.map((id) => inner.get(id))).then((found) => found.filter((r) => r !== null));
    },
  };
  return { store, calls };
}

async function sprayAndKeys(perSecond: number) {
  const { store, calls } = counted();
  const keys = createKeyManager({
    store,
    hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    failureThrottle: false, // the budgets per address are another defence; this one is per process
    cache: { maxStoreReadsPerSecond: perSecond },
  });
  const made = [];
  for (let i = 0; i < 20; i++) made.push((await keys.create({ name: `real ${i}` })).key);
  // Another manager on the same store: nothing cached, like an instance that just started.
  const fresh = createKeyManager({
    store,
    hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    failureThrottle: false,
    cache: { maxStoreReadsPerSecond: perSecond },
  });
  const parsed = parseApiKey(made[0]!);
  if (!parsed.ok) throw new Error('bad key');
  const sprayed = Array.from({ length: 2000 }, () =>
    formatApiKey(parsed.prefix, randomText(parsed.id.length), randomText(32)),
  );
  calls.get = 0;
  const started = performance.now();
  const [spray, real] = await Promise.all([
    Promise.all(sprayed.map((key, i) => fresh.verify(key, { ip: `10.${i >> 8}.${i & 255}.1` }))),
    Promise.all(made.map((key) => fresh.verify(key, { ip: '192.0.2.1' }))),
  ]);
  return { spray, real, calls, seconds: (performance.now() - started) / 1000, fresh };
}

describe('store reads of cache misses, bounded per process', () => {
  it('answers a spray of 2,000 random ids with a bounded number of store calls, and never refuses a real key', async () => {
    const { spray, real, calls, seconds } = await sprayAndKeys(50);
    expect(spray.every((r) => !r.ok && r.reason === 'unknown_key')).toBe(true);
    expect(real.every((r) => r.ok)).toBe(true); // every real key read, found and verified
    // A second's worth at once, then one call per token: far below one read per sprayed key.
    expect(calls.get + calls.getMany).toBeLessThanOrEqual(50 + Math.ceil(seconds * 50) + 1);
    expect(calls.get + calls.ids).toBe(2020); // every id was looked up, most of them in batches
    expect(calls.getMany).toBeGreaterThan(0);
  });

  it('reads every miss on its own with 0, and fails the batched misses closed when the store fails', async () => {
    const off = await sprayAndKeys(0);
    expect([off.calls.get, off.calls.getMany]).toEqual([2020, 0]);
    expect(off.real.every((r) => r.ok)).toBe(true);

    const { store, calls } = counted();
    const keys = createKeyManager({
      store,
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
      failureThrottle: false,
      cache: { maxStoreReadsPerSecond: 1 },
    });
    const key = (await keys.create({ name: 'x' })).key;
    const parsed = parseApiKey(key);
    if (!parsed.ok) throw new Error('bad key');
    calls.failing = true;
    const many = Array.from({ length: 5 }, () =>
      formatApiKey(parsed.prefix, randomText(parsed.id.length), randomText(32)),
    );
    const results = await Promise.all(many.map((k) => keys.verify(k)));
    expect(results.map((r) => !r.ok && r.reason)).toEqual(Array(5).fill('store_unavailable'));
    expect(calls.getMany).toBeGreaterThan(0);
    // A store that throws instead of rejecting, or answers junk, fails the batch closed, not the process.
    for (const failing of ['throws', 'junk'] as const) {
      calls.failing = failing;
      const again = Array.from({ length: 3 }, () =>
        formatApiKey(parsed.prefix, randomText(parsed.id.length), randomText(32)),
      );
      const answered = await Promise.all(again.map((k) => keys.verify(k)));
      expect(answered.map((r) => !r.ok && r.reason)).toEqual(Array(3).fill('store_unavailable'));
    }
    expect(() => createKeyManager({ store, cache: { maxStoreReadsPerSecond: -1 } })).toThrow(
      /maxStoreReadsPerSecond/,
    );
  });
});
