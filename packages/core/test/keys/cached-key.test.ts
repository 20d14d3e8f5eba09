import { describe, expect, it } from 'vitest';
import {
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  type KeyStore,
} from '../../src/index.js';
import { countingHasher, countingStore, frozenClock } from '../helpers.js';

/** A memory store whose `get` can answer another hash for every record (as an outside edit would). */
function setup() {
  const clock = frozenClock();
  const counted = countingStore(createMemoryKeyStore());
  const swap = { hash: null as string | null };
  const store: KeyStore = {
    ...counted.store,
    get: async (id) => {
      const record = await counted.store.get(id);
      return record && swap.hash !== null ? { ...record, hash: swap.hash } : record;
    },
  };
  const { hasher, calls: hashCalls } = countingHasher(createHmacHasher({ pepper: 'p'.repeat(32) }));
  const keys = createKeyManager({ store, hasher, now: clock.now });
  return { keys, clock, storeCalls: counted.calls, hashCalls, swap, hasher };
}

describe('one cache entry per key', () => {
  it('keeps a key verified when its record is read again with the same hash (a store reloading everything)', async () => {
    const { keys, storeCalls, hashCalls } = setup();
    const { key } = await keys.create({ name: 'a' });
    expect((await keys.verify(key)).ok).toBe(true);
    expect(hashCalls.verify).toBe(1);
    const reads = storeCalls.get;
    keys.invalidate(null);
    expect((await keys.verify(key)).ok).toBe(true);
    expect(storeCalls.get).toBe(reads + 1); // the record, read again
    expect(hashCalls.verify).toBe(1); // no second hash
    expect((await keys.verify(key)).ok).toBe(true);
    expect(storeCalls.get).toBe(reads + 1); // and trusted again
  });

  it('verifies again, against the new hash, a key whose record came back with another hash', async () => {
    const { keys, hashCalls, swap, hasher } = setup();
    const { key } = await keys.create({ name: 'a' });
    expect((await keys.verify(key)).ok).toBe(true);
    swap.hash = await hasher.hash(`${key}-another-secret`);
    keys.invalidate(null);
    const result = await keys.verify(key);
    expect(result).toMatchObject({ ok: false, reason: 'wrong_secret' });
    expect(hashCalls.verify).toBe(2);
  });

  it('reads a record again after recordTtlMs without hashing, and hashes again after verifiedTtlMs', async () => {
    const { keys, clock, storeCalls, hashCalls } = setup();
    const { key } = await keys.create({ name: 'a' });
    await keys.verify(key);
    const reads = storeCalls.get;
    clock.advance(30_001);
    expect((await keys.verify(key)).ok).toBe(true);
    expect(storeCalls.get).toBe(reads + 1);
    expect(hashCalls.verify).toBe(1);
    clock.advance(600_001);
    expect((await keys.verify(key)).ok).toBe(true);
    expect(hashCalls.verify).toBe(2);
  });

  it('answers a new, frozen info per call, the same content, without the hash', async () => {
    const { keys } = setup();
    const { key, record } = await keys.create({
      name: 'a',
      scopes: ['images:read'],
      metadata: { plan: 'pro' },
      ownerId: 'alice',
    });
    const first = await keys.verify(key);
    const second = await keys.verify(key);
    if (!first.ok || !second.ok) throw new Error('refused');
    expect(first.key).not.toBe(second.key);
    expect(first.key).toEqual(second.key);
    expect(Object.isFrozen(first.key)).toBe(true);
    expect(Object.isFrozen(first.key.scopes)).toBe(true);
    expect(first.key).not.toHaveProperty('hash');
    expect({ ...first.key, lastUsedAt: null }).toEqual({ ...record, lastUsedAt: null });
  });

  it('shares the settings of keys with the same scopes, paths and limits, and not those of others', async () => {
    const { keys } = setup();
    const a = await keys.create({ name: 'a', scopes: ['images:read'], paths: ['/v3/*'] });
    const b = await keys.create({ name: 'b', scopes: ['images:read'], paths: ['/v3/*'] });
    const c = await keys.create({ name: 'c', scopes: ['images:write'], paths: ['/v3/*'] });
    const [ra, rb, rc] = await Promise.all([a, b, c].map(({ key }) => keys.verify(key)));
    if (!ra?.ok || !rb?.ok || !rc?.ok) throw new Error('refused');
    expect(ra.key.scopes).toBe(rb.key.scopes);
    expect(ra.key.scopes).not.toBe(rc.key.scopes);
    expect(rc.key.scopes).toEqual(['images:write']);
  });

  it("makes a key's principal per request, with only the principal's fields", async () => {
    const { keys } = setup();
    const { key } = await keys.create({ name: 'a', scopes: ['images:read'] });
    const keywarden = createKeywarden({ keys, requireHttps: false, usage: false });
    const ask = () => keywarden.authenticate({ method: 'GET', url: '/x', headers: { 'x-api-key': key } });
    const first = await ask();
    const second = await ask();
    if (!first.ok || !second.ok) throw new Error('refused');
    expect(first.principal).not.toBe(second.principal);
    expect(Object.keys(first.principal).sort()).toEqual(
      [
        'expiresAt',
        'keyId',
        'kind',
        'lineageId',
        'metadata',
        'name',
        'ownerId',
        'paths',
        'scopes',
        'tokenId',
      ].sort(),
    );
    expect(JSON.parse(JSON.stringify(first.principal))).toEqual(JSON.parse(JSON.stringify(second.principal)));
  });
});
