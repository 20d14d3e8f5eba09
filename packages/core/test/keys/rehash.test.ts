// Changing the hasher on a live store: keys of an earlier hasher verify with it and are hashed
// again with the current one, once, whichever instance gets there first.
import { describe, expect, it } from 'vitest';
import {
  createHmacHasher,
  createKeyManager,
  createMemoryKeyStore,
  formatApiKey,
  type KeyStore,
  KeywardenConfigError,
  type KeywardenEvent,
  parseApiKey,
} from '../../src/index.js';
import { fastArgon2 } from '../helpers.js';

const pepper = 'p'.repeat(32);
const hmac = () => createHmacHasher({ pepper });
/** A key manager moving `store` from argon2id to HMAC, its events into `events`. */
const moving = (store: KeyStore, events: KeywardenEvent[]) =>
  createKeyManager({
    store,
    hasher: hmac(),
    earlierHashers: [fastArgon2()],
    onEvent: (event) => events.push(event),
    failureThrottle: false,
  });
const until = async (check: () => Promise<boolean> | boolean) => {
  for (let i = 0; i < 200 && !(await check()); i++) await new Promise((resolve) => setTimeout(resolve, 10));
};

describe('earlierHashers: moving a live store to another hasher', () => {
  it('verifies a key of an earlier hasher with it, then stores it hashed by the current one', async () => {
    const store = createMemoryKeyStore();
    const before = createKeyManager({ store, hasher: fastArgon2() });
    const { key, record } = await before.create({ name: 'old' });
    expect((await store.get(record.id))?.hash).toMatch(/^\$argon2id\$/);
    const events: KeywardenEvent[] = [];
    const after = moving(store, events);
    expect(await after.hashKinds()).toEqual({ argon2id: 1 });
    const first = await after.verify(key);
    expect(first.ok).toBe(true);
    await until(() => events.some((e) => e.type === 'key.rehashed'));
    expect(events.filter((e) => e.type === 'key.rehashed')).toEqual([
      { type: 'key.rehashed', time: expect.any(Date), keyId: record.id, from: 'argon2id', to: 'hmac-sha256' },
    ]);
    expect((await store.get(record.id))?.hash).toMatch(/^\$hmac-sha256\$/);
    expect(await after.hashKinds()).toEqual({ 'hmac-sha256': 1 });
    expect((await after.verify(key)).ok).toBe(true);
    // Now an HMAC-only manager verifies it; a wrong secret is still wrong.
    const only = createKeyManager({ store, hasher: hmac() });
    expect((await only.verify(key)).ok).toBe(true);
    const wrong = `${key.slice(0, -10)}${key.slice(-10).split('').reverse().join('')}`;
    expect((await only.verify(wrong)).ok).toBe(false);
  });

  it('re-hashes nothing on a wrong secret, and keeps refusing keys of a hasher it is not told of', async () => {
    const store = createMemoryKeyStore();
    const before = createKeyManager({ store, hasher: fastArgon2() });
    const { key, record } = await before.create({ name: 'old' });
    const events: KeywardenEvent[] = [];
    const after = moving(store, events);
    // The same id, another secret, the right checksum: a well-formed wrong key.
    const parsed = parseApiKey(key);
    if (!parsed.ok) throw new Error('bad key');
    const refused = await after.verify(formatApiKey(parsed.prefix, parsed.id, 'W'.repeat(32)));
    expect(refused.ok ? 'ok' : refused.reason).toBe('wrong_secret');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events.some((e) => e.type === 'key.rehashed' && e.keyId === record.id)).toBe(false);
    expect((await store.get(record.id))?.hash).toMatch(/^\$argon2id\$/);
    const unaware = createKeyManager({ store, hasher: hmac() });
    const mismatch = await unaware.verify(key);
    expect(mismatch.ok ? 'ok' : mismatch.reason).toBe('hash_mismatch');
  });

  it('of three instances verifying one old key at once, one stores the new hash', async () => {
    const store = createMemoryKeyStore();
    const { key, record } = await createKeyManager({ store, hasher: fastArgon2() }).create({ name: 'old' });
    const events: KeywardenEvent[] = [];
    const instances = [0, 1, 2].map(() => moving(store, events));
    const results = await Promise.all(instances.map((keys) => keys.verify(key)));
    expect(results.every((r) => r.ok)).toBe(true);
    await until(() => events.some((e) => e.type === 'key.rehashed'));
    await new Promise((resolve) => setTimeout(resolve, 100)); // any second write would be in by now
    expect(events.filter((e) => e.type === 'key.rehashed' && e.keyId === record.id)).toHaveLength(1);
    for (const keys of instances) expect((await keys.verify(key)).ok).toBe(true);
  });

  it('takes only a list of hashers', () => {
    const store = createMemoryKeyStore();
    for (const bad of ['argon2id', [{}], [null], {}])
      expect(() => createKeyManager({ store, hasher: hmac(), earlierHashers: bad as never })).toThrow(
        KeywardenConfigError,
      );
  });
});
