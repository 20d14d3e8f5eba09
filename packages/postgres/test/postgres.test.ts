import {
  createArgon2Hasher,
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  DuplicateKeyIdError,
  type KeyRecord,
  type KeywardenEvent,
} from '@keywarden/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresKeyStore, MIGRATIONS, migrate, type PostgresKeyStore } from '../src/index.js';
import { type PostgresServer, startPostgres } from './pg-server.js';

let server: PostgresServer;
const stores: PostgresKeyStore[] = [];
beforeAll(async () => {
  server = await startPostgres();
  const store = open();
  await store.migrate();
}, 60_000);
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await server.destroy();
});

function open(options: { timeoutMs?: number; listen?: boolean } = {}): PostgresKeyStore {
  const store = createPostgresKeyStore({ connectionString: server.url, ...options });
  stores.push(store);
  return store;
}

let n = 0;
function record(overrides: Partial<KeyRecord> = {}): KeyRecord {
  n++;
  return {
    id: `pg${String(n).padStart(10, '0')}`,
    name: `key ${n}`,
    environment: 'live',
    prefix: 'kw_live',
    hash: '$hmac-sha256$k=1$abc',
    scopes: ['images:read'],
    paths: ['/v3/files/*'],
    ips: ['10.0.0.0/8'],
    createdAt: new Date(`2026-01-01T00:00:${String(n % 60).padStart(2, '0')}Z`),
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    rateLimit: { limit: 10, windowSeconds: 60 },
    quota: { limit: 50, period: 'month' },
    metadata: { plan: 'free', nested: { a: [1, 2] } },
    ownerId: 'owner-1',
    replacedBy: null,
    lineageId: `pg${String(n).padStart(10, '0')}`,
    portalBounds: { scopes: ['images:read', 'images:write'], paths: ['/v3/*'], ips: ['10.0.0.0/8'] },
    ...overrides,
  };
}

function nextChange(store: PostgresKeyStore, id: string): Promise<number> {
  const started = Date.now();
  return new Promise((resolve) => {
    const stop = store.subscribe((changed) => {
      if (changed === id) {
        stop();
        resolve(Date.now() - started);
      }
    });
  });
}

describe('postgres key store', () => {
  it('migrates once, and again safely (also from two callers at once)', async () => {
    const pool = new pg.Pool({ connectionString: server.url });
    expect(await Promise.all([migrate(pool), migrate(pool)])).toEqual([[], []]);
    const { rows } = await pool.query('SELECT version FROM keywarden_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    await pool.end();
  });

  it('inserts, gets, lists, updates and deletes records, with every field intact', async () => {
    const store = open({ listen: false });
    const a = record();
    const b = record({ ownerId: 'owner-2', expiresAt: new Date('2027-01-01T00:00:00Z') });
    await store.insert(a);
    await store.insert(b);
    expect(await store.get(a.id)).toEqual(a);
    expect(await store.get('missing00000')).toBeNull();
    expect((await store.list({ ownerId: 'owner-2' })).map((r) => r.id)).toEqual([b.id]);
    expect((await store.list()).map((r) => r.id)).toEqual(expect.arrayContaining([a.id, b.id]));
    const updated = await store.update(a.id, {
      scopes: [],
      revokedAt: new Date('2026-02-01T00:00:00Z'),
      quota: null,
    });
    expect(updated).toEqual({ ...a, scopes: [], revokedAt: new Date('2026-02-01T00:00:00Z'), quota: null });
    expect(await store.update('missing00000', { name: 'x' })).toBeNull();
    await expect(store.insert({ ...a, name: 'dup' })).rejects.toBeInstanceOf(DuplicateKeyIdError);
    await store.touch(a.id, new Date('2026-03-01T00:00:00Z'));
    await store.touch(a.id, new Date('2026-02-01T00:00:00Z')); // never moves back
    expect((await store.get(a.id))!.lastUsedAt).toEqual(new Date('2026-03-01T00:00:00Z'));
    expect(await store.delete(a.id)).toBe(true);
    expect(await store.delete(a.id)).toBe(false);
  });

  it('reads a row from before the lineage column as its own lineage, and keeps a rotated key in its lineage', async () => {
    const store = open({ listen: false });
    const a = record();
    await store.insert(a);
    const pool = new pg.Pool({ connectionString: server.url });
    await pool.query('UPDATE keywarden_keys SET lineage_id = NULL WHERE id = $1', [a.id]);
    await pool.end();
    expect((await store.get(a.id))!.lineageId).toBe(a.id);
    const keys = createKeyManager({ store, hasher: createHmacHasher({ pepper: 'p'.repeat(32) }) });
    const created = await keys.create({ name: 'k' });
    const rotated = (await keys.rotate(created.record.id))!;
    expect((await store.get(rotated.record.id))!.lineageId).toBe(created.record.id);
    keys.close();
  });

  it('gives rows from before portal bounds their own settings as bounds (its owner may only narrow them)', async () => {
    const store = open({ listen: false });
    const a = record({ portalBounds: null });
    await store.insert(a);
    const pool = new pg.Pool({ connectionString: server.url });
    // The schema as version 3 left it, then migrated again.
    await pool.query('ALTER TABLE keywarden_keys DROP COLUMN portal_bounds');
    await pool.query('DELETE FROM keywarden_migrations WHERE version = 4');
    expect(await migrate(pool)).toEqual([4]);
    await pool.end();
    expect((await store.get(a.id))!.portalBounds).toEqual({ scopes: a.scopes, paths: a.paths, ips: a.ips });
    const { portalBounds: _, ...older } = record(); // a record from an older caller: no bounds given
    await store.insert(older);
    expect((await store.get(older.id))!.portalBounds).toEqual({
      scopes: older.scopes,
      paths: older.paths,
      ips: older.ips,
    });
  });

  it('accounts: before migration 5 keys of an owner go on; after it a suspension reaches another instance within a second; a bad row fails closed', async () => {
    const pool = new pg.Pool({ connectionString: server.url });
    await pool.query('DROP TABLE keywarden_accounts; DROP FUNCTION keywarden_accounts_notify()');
    await pool.query('DELETE FROM keywarden_migrations WHERE version IN (5, 6)');
    const hasher = createHmacHasher({ pepper: 'p'.repeat(32) });
    const plans = { team: { quota: { limit: 1000, period: 'month' as const } } };
    const instance = () => {
      const keys = createKeyManager({ store: open(), hasher });
      return { keys, keywarden: createKeywarden({ keys, requireHttps: false, plans }) };
    };
    const a = instance();
    const b = instance();
    const { key } = await a.keys.create({ name: 'of acme', ownerId: 'acme' });
    const codeOn = async (on: typeof a) => {
      const result = await on.keywarden.authenticate({
        method: 'GET',
        url: '/x',
        headers: { 'x-api-key': key },
      });
      return result.ok ? 'ok' : result.error.code;
    };
    expect(await codeOn(a)).toBe('ok'); // no accounts table: no account, the key's own limits
    await expect(a.keys.accounts.create({ id: 'acme', plan: 'team' })).rejects.toThrow(/run the migrations/);
    expect(await migrate(pool)).toEqual([5, 6]);
    await a.keys.accounts.create({ id: 'acme', plan: 'team' });
    // Both instances see the account (b's cached "no account" was dropped by the notification).
    const until = async (on: typeof a, code: string) => {
      const start = Date.now();
      while ((await codeOn(on)) !== code) {
        if (Date.now() - start > 3000) throw new Error(`still not ${code}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return Date.now() - start;
    };
    await until(b, 'ok');
    await a.keys.accounts.suspend('acme');
    expect(await until(b, 'account_suspended')).toBeLessThan(1000);
    await a.keys.accounts.resume('acme');
    expect(await until(b, 'ok')).toBeLessThan(1000);
    // A row no keywarden wrote (plain SQL): never read as it stands, so 503 until it is fixed.
    await pool.query(`UPDATE keywarden_accounts SET plan = 'no such plan!' WHERE id = 'acme'`);
    expect(await until(b, 'auth_unavailable')).toBeLessThan(1000);
    await pool.query(`UPDATE keywarden_accounts SET plan = 'team' WHERE id = 'acme'`);
    expect(await until(b, 'ok')).toBeLessThan(1000);
    await pool.end();
  });

  it('keeps no plaintext: a key made through the manager is stored as a hash', async () => {
    const store = open({ listen: false });
    const keys = createKeyManager({ store, hasher: createHmacHasher({ pepper: 'p'.repeat(32) }) });
    const { key, record: created } = await keys.create({ name: 'secret' });
    const { rows } = await store.pool.query(
      'SELECT row_to_json(k)::text AS row FROM keywarden_keys k WHERE id = $1',
      [created.id],
    );
    expect(rows[0].row).not.toContain(key);
    expect(rows[0].row).not.toContain(key.slice(20, 52));
    expect((await keys.verify(key)).ok).toBe(true);
  });

  it('moves a key to another hasher once: three instances verify an argon2id key at once, one writes its HMAC hash', async () => {
    const argon2 = () => createArgon2Hasher({ memoryCost: 1024, timeCost: 1 });
    const hmac = () => createHmacHasher({ pepper: 'p'.repeat(32) });
    const { key, record: made } = await createKeyManager({ store: open(), hasher: argon2() }).create({
      name: 'moving',
    });
    const events: KeywardenEvent[] = [];
    const instances = [0, 1, 2].map(() =>
      createKeyManager({
        store: open(),
        hasher: hmac(),
        earlierHashers: [argon2()],
        onEvent: (e) => events.push(e),
      }),
    );
    const results = await Promise.all(instances.map((keys) => keys.verify(key)));
    expect(results.every((r) => r.ok)).toBe(true);
    const hashOf = async () =>
      (await stores[0]!.pool.query('SELECT hash FROM keywarden_keys WHERE id = $1', [made.id])).rows[0].hash;
    for (let i = 0; i < 100 && !(await hashOf()).startsWith('$hmac-sha256$'); i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await hashOf()).toMatch(/^\$hmac-sha256\$/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(events.filter((e) => e.type === 'key.rehashed' && e.keyId === made.id)).toHaveLength(1);
    // Every instance goes on verifying it (with the new hash), and an HMAC-only one too.
    for (const keys of instances) expect((await keys.verify(key)).ok).toBe(true);
    expect((await createKeyManager({ store: open(), hasher: hmac() }).verify(key)).ok).toBe(true);
  });

  it('tells other instances about a change within a second, also for plain SQL, but not for lastUsedAt', async () => {
    const writer = open({ listen: false });
    const reader = open();
    const a = record();
    await writer.insert(a);
    await new Promise((r) => setTimeout(r, 200)); // the reader's LISTEN is up
    const seen = nextChange(reader, a.id);
    await writer.update(a.id, { revokedAt: new Date() });
    expect(await seen).toBeLessThan(1000);
    const bySql = nextChange(reader, a.id);
    await writer.pool.query(`UPDATE keywarden_keys SET name = 'renamed' WHERE id = $1`, [a.id]);
    expect(await bySql).toBeLessThan(1000);
    let touched = false;
    const stop = reader.subscribe((id) => {
      if (id === a.id) touched = true;
    });
    await writer.touch(a.id, new Date());
    await new Promise((r) => setTimeout(r, 300));
    stop();
    expect(touched).toBe(false);
  });

  it('answers 503 while PostgreSQL is down, never 401 or success, and recovers by itself', async () => {
    const store = open({ timeoutMs: 500 });
    const keys = createKeyManager({
      store,
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
      cache: { recordTtlMs: 0 }, // every request reads the store, so the outage shows at once
    });
    const keywarden = createKeywarden({ keys, requireHttps: false });
    const { key } = await keys.create({ name: 'k' });
    const call = async () => {
      const r = await keywarden.authenticate({ method: 'GET', url: '/x', headers: { 'x-api-key': key } });
      return r.ok ? 200 : r.error.status;
    };
    expect(await call()).toBe(200);
    let resets = 0;
    store.subscribe((id) => {
      if (id === null) resets++;
    });
    await server.kill();
    const started = Date.now();
    expect(await call()).toBe(503);
    expect(await call()).toBe(503);
    expect(Date.now() - started).toBeLessThan(3000); // bounded by timeoutMs, not hanging
    await server.start();
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = await call();
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
    for (let i = 0; i < 50 && resets === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(resets).toBeGreaterThan(0); // the LISTEN connection came back and said so
    await keywarden.close(); // its meter would otherwise flush (and prune) under later tests
  }, 60_000);

  it('answers 503 when PostgreSQL is slow beyond timeoutMs, and recovers when it is fast again', async () => {
    const store = open({ timeoutMs: 300, listen: false });
    const keys = createKeyManager({
      store,
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
      cache: { recordTtlMs: 0 },
    });
    const keywarden = createKeywarden({ keys, requireHttps: false });
    const { key } = await keys.create({ name: 'slow' });
    const call = async () => {
      const r = await keywarden.authenticate({ method: 'GET', url: '/x', headers: { 'x-api-key': key } });
      return r.ok ? 200 : r.error.status;
    };
    // Another session holds an exclusive lock: every read of the table waits behind it.
    const blocker = new pg.Client({ connectionString: server.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE keywarden_keys IN ACCESS EXCLUSIVE MODE');
    const started = Date.now();
    expect(await call()).toBe(503);
    expect(Date.now() - started).toBeLessThan(2000);
    await blocker.query('ROLLBACK');
    await blocker.end();
    expect(await call()).toBe(200);
    await keywarden.close();
  }, 30_000);

  it('refuses bad options', () => {
    expect(() => createPostgresKeyStore({} as never)).toThrow(/pool or connectionString/);
    expect(() => createPostgresKeyStore({ connectionString: server.url, colour: 1 } as never)).toThrow(
      /unknown option/,
    );
  });
});

describe('usage metering in PostgreSQL', () => {
  it('keeps usage per key and UTC day across a restart, readable by a key manager alone', async () => {
    const hasher = createHmacHasher({ pepper: 'p'.repeat(32) });
    const store = open();
    const keys = createKeyManager({ store, hasher });
    const keywarden = createKeywarden({ keys, requireHttps: false });
    const { key, record } = await keys.create({
      name: 'metered',
      scopes: ['images:read'],
      quota: { limit: 5, period: 'day' },
    });
    const request = { method: 'GET', url: '/x', headers: { 'x-api-key': key } };
    expect((await keywarden.authenticate(request, { cost: 2 })).ok).toBe(true);
    expect((await keywarden.authenticate(request, { cost: 3 })).ok).toBe(true);
    expect((await keywarden.authenticate(request, { cost: 1 })).ok).toBe(false); // quota_exceeded
    expect((await keywarden.authenticate(request, { scopes: ['images:write'] })).ok).toBe(false);
    await keywarden.close();
    await store.close();
    // Another process: a key manager on a fresh store, no authenticator.
    const later = createKeyManager({ store: open(), hasher });
    const today = new Date().toISOString().slice(0, 10);
    expect(await later.usage(record.id)).toEqual([
      { day: today, requests: 2, units: 5, refusals: { insufficient_scope: 1, quota_exceeded: 1 } },
    ]);
  });

  it('sums a batch that names one key-day twice, and deletes days past the retention', async () => {
    const store = open();
    const keyId = 'usage-direct';
    const refusals = { rate_limited: 1 };
    // Days counted back from today: other test files share this server, and their meters prune
    // with today's clock, so a fixed calendar day could be deleted under this test.
    const day = (back: number) => new Date(Date.now() - back * 86_400_000).toISOString().slice(0, 10);
    await store.usage.add(
      [
        { keyId, day: day(9), requests: 1, units: 1, refusals: {} },
        { keyId, day: day(0), requests: 2, units: 3, refusals },
        { keyId, day: day(0), requests: 4, units: 5, refusals },
      ],
      5,
    );
    expect(await store.usage.read(keyId, day(30), day(0))).toEqual([
      { day: day(0), requests: 6, units: 8, refusals: { rate_limited: 2 } },
    ]);
  });
});
