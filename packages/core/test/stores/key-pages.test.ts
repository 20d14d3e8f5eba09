import { describe, expect, it } from 'vitest';
import { createKeyManager, createMemoryKeyStore, type KeyRecord, type KeyStore } from '../../src/index.js';
import { fastArgon2 } from '../helpers.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);

function record(n: number, overrides: Partial<KeyRecord> = {}): KeyRecord {
  const id = `pg${String(n).padStart(10, '0')}`;
  return {
    id,
    name: `key ${n}`,
    environment: 'live',
    prefix: 'kw_live',
    hash: '$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA',
    scopes: [],
    paths: ['*'],
    ips: [],
    createdAt: new Date(NOW - 400 * DAY + n * 1000),
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    rateLimit: null,
    quota: null,
    metadata: {},
    ownerId: n % 2 === 0 ? 'even' : 'odd',
    replacedBy: null,
    lineageId: id,
    ...overrides,
  };
}

/** The store without its `count`: what a custom store that lacks one gives the key manager. */
const withoutCount = (store: KeyStore): KeyStore => {
  const { count: _count, ...rest } = store;
  return rest;
};

describe('pages of keys in the key manager', () => {
  it('purges across many pages, deleting as it goes, and never a live key', async () => {
    // 1,203 keys: every third one revoked a year ago. The purge reads pages of 500 and deletes
    // from the page it holds; the next page was read first, so the cursor is never a deleted key.
    const store = createMemoryKeyStore(
      Array.from({ length: 1203 }, (_, n) =>
        record(n, n % 3 === 0 ? { revokedAt: new Date(NOW - 365 * DAY) } : {}),
      ),
    );
    const keys = createKeyManager({ store, hasher: fastArgon2(), now: () => NOW });
    expect(await keys.purge()).toBe(401);
    expect(await keys.count()).toBe(802);
    expect(await keys.count({ activeAt: new Date(NOW) })).toBe(802);
  });

  it('lists every key page by page in order, and counts with or without a store count', async () => {
    const records = Array.from({ length: 23 }, (_, n) =>
      record(n, {
        ...(n === 4 ? { revokedAt: new Date(NOW - DAY) } : {}),
        ...(n === 6 ? { expiresAt: new Date(NOW - 1) } : {}),
        ...(n === 8 ? { expiresAt: new Date(NOW + DAY) } : {}),
      }),
    );
    const store = createMemoryKeyStore([...records].reverse());
    for (const s of [store, withoutCount(store)]) {
      const keys = createKeyManager({ store: s, hasher: fastArgon2(), now: () => NOW });
      const ids: string[] = [];
      for await (const key of keys.listAll({ pageSize: 4 })) ids.push(key.id);
      expect(ids).toEqual(records.map((r) => r.id));
      const evens: string[] = [];
      for await (const key of keys.listAll({ ownerId: 'even', pageSize: 5 })) evens.push(key.id);
      expect(evens).toEqual(records.filter((_, n) => n % 2 === 0).map((r) => r.id));
      expect(await keys.count()).toBe(23);
      expect(await keys.count({ ownerId: 'even', activeAt: new Date(NOW) })).toBe(10); // 12 less 4 and 6
      expect(await keys.count({ ownerId: 'odd', activeAt: new Date(NOW) })).toBe(11);
      await expect(keys.count({ activeAt: new Date(Number.NaN) })).rejects.toThrow(TypeError);
      await expect(keys.list({ limit: 5, after: 'pgnotthere0' })).rejects.toThrow(RangeError);
      const iterate = async (pageSize: number) => {
        for await (const _ of keys.listAll({ pageSize })) break;
      };
      await expect(iterate(0)).rejects.toThrow(RangeError);
      await expect(iterate(1001)).rejects.toThrow(RangeError);
    }
  });
});
