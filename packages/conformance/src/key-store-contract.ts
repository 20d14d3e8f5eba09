// The contract every KeyStore keeps, as a vitest suite: run it against a new store
// (`runKeyStoreContract('mine', async () => ({ store, reader }))`). The conformance package runs
// it against the memory, file and PostgreSQL stores.
import { randomBytes } from 'node:crypto';
import {
  type AccountRecord,
  DuplicateAccountError,
  DuplicateKeyIdError,
  type KeyRecord,
  type KeyStore,
} from '@keywarden/core';
import { describe, expect, it } from 'vitest';

/** A fresh, empty store, and a way to open a second handle on the same data (after the first closes). */
export interface KeyStoreUnderTest {
  store: KeyStore;
  /** Another handle on the same data: the same object for a memory store. */
  reader(): Promise<KeyStore>;
}

const run = randomBytes(3).toString('hex');
let n = 0;
/** A record with a fresh id, valid in every field. */
export function testRecord(overrides: Partial<KeyRecord> = {}): KeyRecord {
  n++;
  const id = `c${run}${String(n).padStart(5, '0')}`;
  return {
    id,
    name: `key ${n}`,
    environment: 'live',
    prefix: 'kw_live',
    hash: '$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA',
    scopes: ['images:read'],
    paths: ['*'],
    ips: [],
    createdAt: new Date('2026-01-01T00:00:00Z'),
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    rateLimit: { limit: 10, windowSeconds: 60 },
    quota: { limit: 50, period: 'month' },
    metadata: { plan: 'free' },
    ownerId: `owner-${run}-1`,
    replacedBy: null,
    lineageId: id,
    portalBounds: { scopes: ['images:read', 'images:write'], paths: ['/v3/*'], ips: ['10.0.0.0/8'] },
    ...overrides,
  };
}

/** An account with a fresh id, valid in every field. */
export function testAccount(overrides: Partial<AccountRecord> = {}): AccountRecord {
  n++;
  return {
    id: `acct-${run}-${n}`,
    plan: 'free',
    status: 'active',
    overrides: {
      rateLimits: [{ limit: 10, windowSeconds: 1 }],
      quota: { limit: 50, period: 'month' },
      maxKeys: 3,
    },
    credits: 250,
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n % 60)),
    updatedAt: new Date(Date.UTC(2026, 0, 2)),
    metadata: { billing: { id: `cus_${n}` } },
    ...overrides,
  };
}

/** Waits until `check` holds, up to `ms`. */
async function eventually(check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The accounts half of the contract: stores that keep accounts (every store keywarden ships). */
function accountContract(open: () => Promise<KeyStoreUnderTest>): void {
  describe('accounts', () => {
    it('inserts, gets, lists (oldest first, by plan and status), updates and deletes, durably', async () => {
      const { store, reader } = await open();
      const accounts = store.accounts!;
      const a = testAccount({ createdAt: new Date('2026-01-01T00:00:02Z') });
      const b = testAccount({ plan: 'pro', createdAt: new Date('2026-01-01T00:00:01Z') });
      await accounts.insert(a);
      await accounts.insert(b);
      expect(await accounts.get(a.id)).toEqual(a);
      expect(await accounts.get('nobody')).toBeNull();
      const ids = (list: AccountRecord[]) => list.map((x) => x.id).filter((id) => id === a.id || id === b.id);
      expect(ids(await accounts.list())).toEqual([b.id, a.id]);
      expect(ids(await accounts.list({ plan: 'pro' }))).toEqual([b.id]);
      const later = new Date('2026-03-01T00:00:00Z');
      const updated = await accounts.update(a.id, {
        status: 'suspended',
        overrides: { quota: null },
        updatedAt: later,
      });
      expect(updated).toEqual({ ...a, status: 'suspended', overrides: { quota: null }, updatedAt: later });
      expect(ids(await accounts.list({ status: 'suspended' }))).toEqual([a.id]);
      expect(await accounts.update('nobody', { plan: 'pro' })).toBeNull();
      expect(await accounts.delete(b.id)).toBe(true);
      expect(await accounts.delete(b.id)).toBe(false);
      await store.close?.();
      const other = await reader();
      expect(await other.accounts!.get(a.id)).toEqual(updated);
      expect(await other.accounts!.get(b.id)).toBeNull();
      if (other !== store) await other.close?.();
    });

    it('refuses a duplicate id, and hands out copies', async () => {
      const { store } = await open();
      const accounts = store.accounts!;
      const a = testAccount();
      await accounts.insert(a);
      await expect(accounts.insert({ ...a, plan: 'pro' })).rejects.toBeInstanceOf(DuplicateAccountError);
      (a.overrides as { maxKeys?: number }).maxKeys = 99;
      const got = (await accounts.get(a.id))!;
      expect(got.overrides.maxKeys).toBe(3);
      got.metadata.billing = 'changed';
      expect((await accounts.get(a.id))!.metadata).toEqual({ billing: { id: expect.any(String) } });
      expect((await accounts.get(a.id))!.plan).toBe('free');
      await store.close?.();
    });

    it('adds credits atomically: twenty top-ups at once through two handles all count', async () => {
      const { store, reader } = await open();
      const other = await reader();
      const a = testAccount({ credits: 0 });
      await store.accounts!.insert(a);
      const at = new Date(Date.UTC(2026, 5, 1));
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? store : other).accounts!.addCredits(a.id, 5, at)),
      );
      // Read through a new handle: each of the two may not have heard the other's last write yet.
      const fresh = await reader();
      const got = (await fresh.accounts!.get(a.id))!;
      expect([got.credits, got.updatedAt]).toEqual([100, at]);
      expect(await store.accounts!.addCredits('nobody', 5, at)).toBeNull();
      for (const handle of new Set([other, fresh])) if (handle !== store) await handle.close?.();
      await store.close?.();
    });

    it('tells subscribers which account changed, also when the change comes from elsewhere', async () => {
      const { store, reader } = await open();
      const heard: (string | null)[] = [];
      const stop = store.accounts!.subscribe!((id) => heard.push(id));
      /** Makes a change until it is heard: a store's notification channel may still be connecting. */
      const heardAfter = async (change: () => Promise<unknown>, id: string) => {
        heard.length = 0;
        for (let tries = 0; tries < 25; tries++) {
          await change();
          try {
            return await eventually(() => heard.includes(id) || heard.includes(null), 200);
          } catch {}
        }
        throw new Error(`no notification for ${id}`);
      };
      const a = testAccount();
      await store.accounts!.insert(a);
      await heardAfter(() => store.accounts!.update(a.id, { updatedAt: new Date() }), a.id);
      const other = await reader();
      await heardAfter(
        () => other.accounts!.update(a.id, { status: 'suspended', updatedAt: new Date() }),
        a.id,
      );
      stop();
      if (other !== store) await other.close?.();
      await store.close?.();
    });
  });
}

/**
 * Registers the key-store contract tests for one store.
 *
 * @example
 * ```ts
 * runKeyStoreContract('memory', async () => {
 *   const store = createMemoryKeyStore();
 *   return { store, reader: async () => store };
 * });
 * ```
 */
export function runKeyStoreContract(name: string, open: () => Promise<KeyStoreUnderTest>): void {
  describe(`${name} store contract`, () => {
    it('inserts, gets, lists, updates and deletes', async () => {
      const { store } = await open();
      const a = testRecord();
      const b = testRecord({ ownerId: `owner-${run}-2`, portalBounds: null });
      await store.insert(a);
      await store.insert(b);
      expect(await store.get(a.id)).toEqual(a);
      expect(await store.get(b.id)).toEqual(b); // null bounds (a key made in the portal) stay null
      expect(await store.get('missing00000')).toBeNull();
      expect((await store.list()).map((r) => r.id).filter((id) => id === a.id || id === b.id)).toEqual([
        a.id,
        b.id,
      ]);
      expect((await store.list({ ownerId: `owner-${run}-2` })).map((r) => r.id)).toEqual([b.id]);
      const updated = await store.update(a.id, { name: 'renamed', scopes: [], portalBounds: null });
      expect(updated).toEqual({ ...a, name: 'renamed', scopes: [], portalBounds: null });
      expect(await store.get(a.id)).toEqual(updated);
      expect(await store.update('missing00000', { name: 'x' })).toBeNull();
      expect(await store.delete(a.id)).toBe(true);
      expect(await store.delete(a.id)).toBe(false);
      expect(await store.get(a.id)).toBeNull();
      await store.close?.();
    });

    it('refuses a duplicate id', async () => {
      const { store } = await open();
      const a = testRecord();
      await store.insert(a);
      await expect(store.insert({ ...a, name: 'other' })).rejects.toBeInstanceOf(DuplicateKeyIdError);
      expect((await store.get(a.id))?.name).toBe(a.name);
      await store.close?.();
    });

    it('hands out copies: mutating a result or an input changes nothing stored', async () => {
      const { store } = await open();
      const a = testRecord();
      await store.insert(a);
      a.scopes.push('admin');
      const got = (await store.get(a.id))!;
      got.scopes.push('admin');
      got.createdAt.setTime(0);
      expect((await store.get(a.id))!.scopes).toEqual(['images:read']);
      expect((await store.get(a.id))!.createdAt.toISOString()).toBe('2026-01-01T00:00:00.000Z');
      await store.close?.();
    });

    it('replaces a hash only while it is the one named (compare and set), and another handle reads the new one', async () => {
      const { store, reader } = await open();
      const a = testRecord();
      await store.insert(a);
      expect(store.replaceHash).toBeTypeOf('function');
      const to = '$hmac-sha256$v1$k1$' + 'ab'.repeat(32);
      expect(await store.replaceHash!(a.id, '$argon2id$something-else', to)).toBe(false);
      expect((await store.get(a.id))?.hash).toBe(a.hash);
      const both = await Promise.all([
        store.replaceHash!(a.id, a.hash, to),
        store.replaceHash!(a.id, a.hash, to + 'x'),
      ]);
      expect(both.filter(Boolean)).toHaveLength(1); // one wins
      const won = both[0] ? to : to + 'x';
      expect((await store.get(a.id))?.hash).toBe(won);
      expect(await store.replaceHash!('nope', a.hash, to)).toBe(false);
      await store.close?.();
      const again = await reader();
      expect((await again.get(a.id))?.hash).toBe(won);
      if (again !== store) await again.close?.();
    });

    it('records lastUsedAt through touch, and never moves it back', async () => {
      const { store, reader } = await open();
      const a = testRecord();
      await store.insert(a);
      const at = new Date('2026-02-02T00:00:00Z');
      await store.touch(a.id, at);
      await store.touch(a.id, new Date('2026-02-01T00:00:00Z'));
      await store.close?.(); // a store may batch touches and write them on close
      const other = await reader();
      expect((await other.get(a.id))!.lastUsedAt?.toISOString()).toBe(at.toISOString());
      if (other !== store) await other.close?.();
    });

    accountContract(open);
    pagingContract(open);
  });
}

/** Pages in list order, the cursor, and counting. */
function pagingContract(open: () => Promise<KeyStoreUnderTest>): void {
  it('pages keys in creation order with a cursor, and counts them', async () => {
    const { store } = await open();
    const ownerId = `owner-${run}-pages`;
    const at = (minute: number) => new Date(Date.UTC(2031, 0, 1, 0, minute));
    // Inserted out of order; two share a creation time (the id breaks the tie).
    const made = [5, 1, 3, 3, 0, 4, 2].map((minute) => testRecord({ ownerId, createdAt: at(minute) }));
    for (const record of made) await store.insert(record);
    const order = [...made]
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1))
      .map((r) => r.id);
    const seen: string[] = [];
    let page = await store.list({ ownerId, limit: 3 });
    while (page.length > 0) {
      expect(page.length).toBeLessThanOrEqual(3);
      seen.push(...page.map((r) => r.id));
      page = await store.list({ ownerId, limit: 3, after: page.at(-1)!.id });
    }
    expect(seen).toEqual(order);
    expect((await store.list({ ownerId })).map((r) => r.id)).toEqual(order);
    // Across owners the order is the same: the two keys after the third of ours are ours.
    expect((await store.list({ limit: 2, after: order[2]! })).map((r) => r.id)).toEqual(order.slice(3, 5));
    for (const filter of [{ limit: 0 }, { limit: 1001 }, { limit: 1.5 }, { after: '' }, { bogus: 1 }])
      await expect(async () => store.list(filter as never)).rejects.toThrow();
    await expect(store.list({ ownerId, after: `x${run}gone000` })).rejects.toThrow(RangeError);
    if (store.getMany) {
      const many = await store.getMany([order[1]!, `x${run}gone000`, order[4]!]);
      expect(many.map((r) => r.id).sort()).toEqual([order[1]!, order[4]!].sort());
      expect(many.find((r) => r.id === order[4])).toEqual(made.find((r) => r.id === order[4]));
      expect(await store.getMany([])).toEqual([]);
    }
    if (store.count) {
      expect(await store.count({ ownerId })).toBe(7);
      await store.update(order[0]!, { revokedAt: at(9) });
      await store.update(order[1]!, { expiresAt: at(8) });
      await store.update(order[2]!, { expiresAt: at(20) });
      expect(await store.count({ ownerId, activeAt: at(10) })).toBe(5);
      expect(await store.count({ ownerId: `${ownerId}-none` })).toBe(0);
      expect(await store.count({})).toBeGreaterThanOrEqual(7);
    }
    await store.close?.();
  });
}
