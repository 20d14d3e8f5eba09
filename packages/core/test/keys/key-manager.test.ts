import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createKeyManager,
  createMemoryKeyStore,
  formatApiKey,
  type Hasher,
  type KeyManagerOptions,
  type KeywardenEvent,
  openFileKeyStore,
  parseApiKey,
} from '../../src/index.js';
import { countingHasher, countingStore, fastArgon2, frozenClock, tempDir } from '../helpers.js';

function setup(options: Partial<KeyManagerOptions> = {}) {
  const clock = frozenClock();
  const { store, calls: storeCalls, state } = countingStore(createMemoryKeyStore());
  const { hasher, calls: hashCalls } = countingHasher(fastArgon2());
  const events: KeywardenEvent[] = [];
  const keys = createKeyManager({
    store,
    hasher,
    now: clock.now,
    onEvent: (e) => events.push(e),
    ...options,
  });
  const reset = () => {
    for (const k of Object.keys(storeCalls) as (keyof typeof storeCalls)[]) storeCalls[k] = 0;
    hashCalls.hash = 0;
    hashCalls.verify = 0;
  };
  return { keys, clock, storeCalls, hashCalls, state, events, reset };
}

/** Same id and prefix, another secret, right checksum: a well-formed wrong key. */
function wrongSecret(key: string): string {
  const parsed = parseApiKey(key);
  if (!parsed.ok) throw new Error('bad key');
  return formatApiKey(parsed.prefix, parsed.id, 'W'.repeat(32));
}

describe('refusals before any store or hash work', () => {
  it.each([
    ['not a string', 123],
    ['empty', ''],
    ['too long', `kw_live_${'a'.repeat(5000)}`],
    ['wrong prefix', formatApiKey('kw_prod', '0123456789ab', 'S'.repeat(32))],
    ['non-ASCII', `kw_live_${'é'.repeat(50)}`],
    ['bad checksum', `${formatApiKey('kw_live', '0123456789ab', 'S'.repeat(32)).slice(0, -1)}X`],
  ])('%s', async (_name, input) => {
    const { keys, storeCalls, hashCalls } = setup();
    await keys.create({ name: 'real' });
    const result = await keys.verify(input);
    expect(result.ok).toBe(false);
    expect(result).toMatchObject({ reason: expect.stringMatching(/^(malformed|bad_checksum)$/) });
    expect(storeCalls.get).toBe(0);
    expect(hashCalls.verify).toBe(0);
  });
});

describe('create', () => {
  it('returns the plaintext once and stores only a hash', async () => {
    const dir = await tempDir();
    const path = join(dir, 'keys.json');
    const store = await openFileKeyStore({ path, watch: false });
    const keys = createKeyManager({ store, hasher: fastArgon2() });
    const { key, record } = await keys.create({
      name: 'acme',
      environment: 'test',
      scopes: ['images:write'],
      paths: ['/v3/files/*'],
      ips: ['10.0.0.0/8', '::1'],
      quota: { limit: 50, period: 'month' },
    });
    expect(key.startsWith('kw_test_')).toBe(true);
    expect(record).not.toHaveProperty('hash');
    expect(record).toMatchObject({
      name: 'acme',
      prefix: 'kw_test',
      ips: ['10.0.0.0/8', '::1/128'],
      revokedAt: null,
    });
    const file = await readFile(path, 'utf8');
    expect(file).not.toContain(key);
    expect(file).not.toContain(key.slice(8 + 12, 8 + 44)); // the secret part
    expect(file).toContain('$argon2id$');
    expect(JSON.stringify(await keys.list())).not.toContain('$argon2id$');
    expect(await keys.verify(key)).toMatchObject({ ok: true, key: { id: record.id } });
  });

  it.each([
    [{}, /name/],
    [{ name: '' }, /name/],
    [{ name: 'x', environment: 'prod' }, /environment/],
    [{ name: 'x', paths: ['/a/*/b'] }, /paths/],
    [{ name: 'x', paths: [] }, /paths/],
    [{ name: 'x', scopes: ['has space'] }, /scopes/],
    [{ name: 'x', ips: ['10.0.0.0/33'] }, /ips/],
    [{ name: 'x', ips: ['example.com'] }, /ips/],
    [{ name: 'x', quota: { limit: 50, period: 'week' } }, /period/],
    [{ name: 'x', rateLimit: { limit: 0, windowSeconds: 60 } }, /limit/],
    [{ name: 'x', expiresIn: 0 }, /expiresIn/],
    [{ name: 'x', expiresIn: 60, expiresAt: new Date() }, /not both/],
    [{ name: 'x', expiresAt: new Date(0) }, /past/],
    [{ name: 'x', metadata: { big: 'x'.repeat(5000) } }, /4 KB/],
    [{ name: 'x', colour: 'red' }, /unknown/],
    // Text an operator reads: nothing that reorders or hides what is printed around it.
    [{ name: 'invoice\u202Egnp.exe' }, /name/],
    [{ name: 'a\u2066b\u2069' }, /name/],
    [{ name: 'a\u200Fb' }, /name/],
    [{ name: 'a\u0085b' }, /name/],
    [{ name: 'a\u009Bb' }, /name/],
    [{ name: 'a\u2028b' }, /name/],
    [{ name: 'a\x1b[2Jb' }, /name/],
    [{ name: 'x', ownerId: 'alice\u202E' }, /ownerId/],
    [{ name: 'x', ownerId: 'a\nb' }, /ownerId/],
    [{ name: 'x', metadata: { note: 'pay\u202Emoc.evil' } }, /metadata/],
    [{ name: 'x', metadata: { '\u202Ekey': 1 } }, /metadata/],
    [{ name: 'x', metadata: { deep: [{ note: 'a\u0085' }] } }, /metadata/],
  ])('refuses %j', async (input, message) => {
    const { keys, storeCalls } = setup();
    await expect(keys.create(input as never)).rejects.toThrow(message);
    expect(storeCalls.insert).toBe(0);
  });

  it('keeps names in any script, emoji sequences and metadata with line breaks', async () => {
    const { keys } = setup();
    const name = 'Équipe 東京 שלום 👩\u200D💻';
    const { record } = await keys.create({ name, ownerId: 'zoë', metadata: { note: 'two\nlines' } });
    expect(record).toMatchObject({ name, ownerId: 'zoë', metadata: { note: 'two\nlines' } });
  });

  it('does not keep or mutate the caller object', async () => {
    const { keys } = setup();
    const scopes = ['a'];
    const input = Object.freeze({ name: 'x', scopes });
    const { key } = await keys.create(input);
    scopes.push('admin');
    expect(await keys.verify(key)).toMatchObject({ ok: true, key: { scopes: ['a'] } });
  });
});

describe('verification', () => {
  it('accepts a valid key and refuses unknown ids and wrong secrets', async () => {
    const { keys } = setup();
    const { key, record } = await keys.create({ name: 'k', scopes: ['s'] });
    expect(await keys.verify(key)).toEqual({
      ok: true,
      key: expect.objectContaining({ id: record.id, scopes: ['s'] }),
    });
    expect(await keys.verify(wrongSecret(key))).toEqual({
      ok: false,
      reason: 'wrong_secret',
      keyId: record.id,
    });
    const unknown = formatApiKey('kw_live', 'ZZZZZZZZZZZZ', 'S'.repeat(32));
    expect(await keys.verify(unknown)).toEqual({ ok: false, reason: 'unknown_key', keyId: 'ZZZZZZZZZZZZ' });
  });

  it('runs one store read and one hash for 50 parallel first uses of a key', async () => {
    const { keys, storeCalls, hashCalls, reset } = setup();
    const { key } = await keys.create({ name: 'k' });
    reset();
    const results = await Promise.all(Array.from({ length: 50 }, () => keys.verify(key)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(storeCalls.get).toBe(1);
    expect(hashCalls.verify).toBe(1);
  });

  it('answers a warm key from the cache, and hashes again only after the cache lifetime', async () => {
    const { keys, clock, storeCalls, hashCalls, reset } = setup({
      cache: { verifiedTtlMs: 600_000, recordTtlMs: 30_000 },
    });
    const { key } = await keys.create({ name: 'k' });
    await keys.verify(key);
    reset();
    for (let i = 0; i < 100; i++) expect((await keys.verify(key)).ok).toBe(true);
    expect(storeCalls.get).toBe(0);
    expect(hashCalls.verify).toBe(0);
    clock.advance(30_000); // the record is re-read, the key is not re-hashed
    expect((await keys.verify(key)).ok).toBe(true);
    expect([storeCalls.get, hashCalls.verify]).toEqual([1, 0]);
    clock.advance(570_000);
    expect((await keys.verify(key)).ok).toBe(true);
    expect(hashCalls.verify).toBe(1);
  });

  it('remembers unknown ids for a short time', async () => {
    const { keys, clock, storeCalls } = setup({ cache: { unknownTtlMs: 10_000 } });
    const unknown = formatApiKey('kw_live', 'ZZZZZZZZZZZZ', 'S'.repeat(32));
    await keys.verify(unknown);
    await keys.verify(formatApiKey('kw_live', 'ZZZZZZZZZZZZ', 'T'.repeat(32)));
    expect(storeCalls.get).toBe(1);
    clock.advance(10_000);
    await keys.verify(unknown);
    expect(storeCalls.get).toBe(2);
  });

  it('keeps the unknown-id cache bounded: a spray evicts old entries instead of growing', async () => {
    // (The failure budgets are off: this counts store reads of a spray, which they would cut short.)
    const { keys, storeCalls } = setup({ cache: { maxUnknown: 100 }, failureThrottle: false });
    const ids = Array.from({ length: 300 }, (_, i) => `Z${String(i).padStart(11, '0')}`);
    for (const id of ids) await keys.verify(formatApiKey('kw_live', id, 'S'.repeat(32)));
    expect(storeCalls.get).toBe(300);
    await keys.verify(formatApiKey('kw_live', ids[299]!, 'S'.repeat(32))); // recent: cached
    expect(storeCalls.get).toBe(300);
    await keys.verify(formatApiKey('kw_live', ids[0]!, 'S'.repeat(32))); // evicted: read again
    expect(storeCalls.get).toBe(301);
  });

  it('throttles repeated wrong secrets per key id without hashing, then lets them through after the window', async () => {
    const { keys, clock, hashCalls, reset } = setup({
      failureThrottle: { maxFailures: 3, windowMs: 60_000 },
    });
    const { key } = await keys.create({ name: 'k' });
    await keys.verify(key); // the owner's key is warm
    reset();
    const bad = wrongSecret(key);
    for (let i = 0; i < 3; i++) expect(await keys.verify(bad)).toMatchObject({ reason: 'wrong_secret' });
    expect(hashCalls.verify).toBe(3);
    expect(await keys.verify(bad)).toMatchObject({ reason: 'throttled' });
    expect(await keys.verify(formatApiKey('kw_live', parseApiKeyId(key), 'V'.repeat(32)))).toMatchObject({
      reason: 'throttled',
    });
    expect(hashCalls.verify).toBe(3);
    expect((await keys.verify(key)).ok).toBe(true); // warm keys are not locked out
    clock.advance(60_000);
    expect(await keys.verify(bad)).toMatchObject({ reason: 'wrong_secret' });
    expect(hashCalls.verify).toBe(4);
  });

  it('bounds concurrent hash verifications and refuses when the queue is full', async () => {
    let active = 0;
    let peak = 0;
    const gates: (() => void)[] = [];
    const inner = fastArgon2();
    const slow: Hasher = {
      id: inner.id,
      hash: inner.hash,
      async verify(stored, key) {
        active++;
        peak = Math.max(peak, active);
        await new Promise<void>((open) => gates.push(open));
        active--;
        return inner.verify(stored, key);
      },
    };
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: slow,
      maxConcurrentHashes: 2,
      maxQueuedHashes: 3,
    });
    const created = await Promise.all(Array.from({ length: 6 }, (_, i) => keys.create({ name: `k${i}` })));
    const results = created.map((c) => keys.verify(c.key));
    let busy = 0;
    for (const r of results) void r.then((x) => !x.ok && x.reason === 'busy' && busy++);
    await new Promise((r) => setImmediate(r));
    expect(peak).toBe(2);
    // 2 running + 3 queued; the 6th is refused at once, before any hash finishes.
    expect(busy).toBe(1);
    let done = false;
    const all = Promise.all(results).finally(() => {
      done = true;
    });
    while (!done) {
      gates.shift()?.();
      await new Promise((r) => setTimeout(r, 1));
    }
    const outcomes = await all;
    expect(outcomes.filter((r) => r.ok)).toHaveLength(5);
    expect(peak).toBe(2);
  });

  it('turns store failures into store_unavailable, never a refusal or success, and recovers', async () => {
    const { keys, state, clock } = setup({ cache: { recordTtlMs: 1000 } });
    const { key } = await keys.create({ name: 'k' });
    const other = (await keys.create({ name: 'cold' })).key;
    await keys.verify(key);
    state.failing = true;
    expect(await keys.verify(other)).toMatchObject({ ok: false, reason: 'store_unavailable' });
    clock.advance(1000); // the warm key's record must be re-read too
    expect(await keys.verify(key)).toMatchObject({ ok: false, reason: 'store_unavailable' });
    state.failing = false;
    expect((await keys.verify(key)).ok).toBe(true);
    expect((await keys.verify(other)).ok).toBe(true);
  });

  it('writes lastUsedAt at most once a minute per key', async () => {
    const { keys, clock, storeCalls } = setup();
    const { key } = await keys.create({ name: 'k' });
    for (let i = 0; i < 10; i++) await keys.verify(key);
    expect(storeCalls.touch).toBe(1);
    clock.advance(59_999);
    await keys.verify(key);
    expect(storeCalls.touch).toBe(1);
    clock.advance(1);
    await keys.verify(key);
    expect(storeCalls.touch).toBe(2);
  });
});

function parseApiKeyId(key: string): string {
  const parsed = parseApiKey(key);
  if (!parsed.ok) throw new Error('bad key');
  return parsed.id;
}

describe('revocation and expiry', () => {
  it('revocation takes effect at once, even for a cached key', async () => {
    const { keys, events } = setup();
    const { key, record } = await keys.create({ name: 'k' });
    expect((await keys.verify(key)).ok).toBe(true);
    expect((await keys.revoke(record.id))?.revokedAt).toBeInstanceOf(Date);
    expect(await keys.verify(key)).toEqual({ ok: false, reason: 'revoked', keyId: record.id });
    expect(await keys.revoke(record.id)).not.toBeNull(); // idempotent
    expect(events.filter((e) => e.type === 'key.revoked')).toHaveLength(1);
    expect(await keys.revoke('ZZZZZZZZZZZZ')).toBeNull();
  });

  it('expiry is checked on every call: valid 1 ms before, refused at the instant', async () => {
    const { keys, clock } = setup();
    const { key } = await keys.create({ name: 'k', expiresIn: 60 });
    expect((await keys.verify(key)).ok).toBe(true);
    clock.advance(59_999);
    expect((await keys.verify(key)).ok).toBe(true);
    clock.advance(1);
    expect(await keys.verify(key)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('delete makes a key unknown, and update applies at once', async () => {
    const { keys } = setup();
    const { key, record } = await keys.create({ name: 'k', scopes: ['a'] });
    await keys.verify(key);
    expect(await keys.update(record.id, { scopes: ['a', 'b'] })).toMatchObject({ scopes: ['a', 'b'] });
    expect(await keys.verify(key)).toMatchObject({ ok: true, key: { scopes: ['a', 'b'] } });
    await expect(keys.update(record.id, { revokedAt: new Date() } as never)).rejects.toThrow(/unknown/);
    expect(await keys.update('ZZZZZZZZZZZZ', { name: 'x' })).toBeNull();
    expect(await keys.delete(record.id)).toBe(true);
    expect(await keys.verify(key)).toMatchObject({ ok: false, reason: 'unknown_key' });
    expect(await keys.get(record.id)).toBeNull();
  });

  it('a change made by another process reaches a cached key through the file watcher', async () => {
    const path = join(await tempDir(), 'keys.json');
    const serverStore = await openFileKeyStore({ path });
    const server = createKeyManager({ store: serverStore, hasher: fastArgon2() });
    const { key, record } = await server.create({ name: 'k' });
    expect((await server.verify(key)).ok).toBe(true);
    const reloaded = new Promise<void>((done) => serverStore.subscribe((id) => id === record.id && done()));
    const cli = createKeyManager({
      store: await openFileKeyStore({ path, watch: false }),
      hasher: fastArgon2(),
    });
    await cli.revoke(record.id);
    await reloaded;
    expect(await server.verify(key)).toMatchObject({ ok: false, reason: 'revoked' });
    server.close();
    await serverStore.close();
  });
});

describe('rotation', () => {
  it('copies the settings; the old key works until now + grace, not one millisecond more', async () => {
    const { keys, clock, events } = setup();
    const old = await keys.create({
      name: 'k',
      scopes: ['s'],
      paths: ['/v3/files/*'],
      ips: ['10.0.0.0/8'],
      rateLimit: { limit: 5, windowSeconds: 1 },
      quota: { limit: 50, period: 'month' },
      metadata: { plan: 'free' },
      ownerId: 'o',
    });
    clock.advance(1000);
    const rotated = (await keys.rotate(old.record.id, { gracePeriodSeconds: 100 }))!;
    expect(rotated.key).not.toBe(old.key);
    const { id: _a, createdAt: _b, ...copied } = rotated.record;
    const { id: _c, createdAt: _d, ...original } = old.record;
    expect(copied).toEqual(original);
    expect((await keys.get(old.record.id))?.replacedBy).toBe(rotated.record.id);
    clock.advance(99_999);
    expect((await keys.verify(old.key)).ok).toBe(true);
    expect((await keys.verify(rotated.key)).ok).toBe(true);
    clock.advance(1);
    expect(await keys.verify(old.key)).toMatchObject({ reason: 'expired' });
    expect((await keys.verify(rotated.key)).ok).toBe(true);
    expect(events.find((e) => e.type === 'key.rotated')).toMatchObject({
      keyId: old.record.id,
      newKeyId: rotated.record.id,
    });
  });

  it('never lengthens a life: the new key expires when the old one would have; only update extends it', async () => {
    const { keys, clock } = setup();
    const old = await keys.create({ name: 'k', expiresIn: 3600 });
    const expiry = old.record.expiresAt!.getTime();
    clock.advance(3000_000); // 600 s left
    const rotated = (await keys.rotate(old.record.id, { gracePeriodSeconds: 86_400 }))!;
    expect(rotated.record.expiresAt!.getTime()).toBe(expiry);
    // Rotating the successor again and again still ends at the first key's expiry.
    const again = (await keys.rotate(rotated.record.id, { gracePeriodSeconds: 0 }))!;
    expect(again.record.expiresAt!.getTime()).toBe(expiry);
    clock.advance(599_999);
    expect((await keys.verify(old.key)).ok).toBe(true);
    expect((await keys.verify(again.key)).ok).toBe(true);
    clock.advance(1);
    expect(await keys.verify(old.key)).toMatchObject({ reason: 'expired' });
    expect(await keys.verify(again.key)).toMatchObject({ reason: 'expired' });
    await expect(keys.rotate(again.record.id)).rejects.toThrow(/expired/);
    // An operator may give the key a new life explicitly.
    await keys.update(again.record.id, { expiresAt: new Date(clock.now() + 3600_000) });
    expect((await keys.verify(again.key)).ok).toBe(true);
    const never = await keys.create({ name: 'forever' });
    expect((await keys.rotate(never.record.id))!.record.expiresAt).toBeNull();
  });

  it('passes the lineage on through every rotation, so data kept per lineage follows the key', async () => {
    const { keys } = setup();
    const first = await keys.create({ name: 'k' });
    expect(first.record.lineageId).toBe(first.record.id);
    const second = (await keys.rotate(first.record.id))!;
    const third = (await keys.rotate(second.record.id))!;
    expect([second.record.lineageId, third.record.lineageId]).toEqual([first.record.id, first.record.id]);
    const other = await keys.create({ name: 'other' });
    expect(other.record.lineageId).toBe(other.record.id);
  });

  it('grace 0 ends the old key now; revoked keys cannot be rotated; unknown ids give null', async () => {
    const { keys } = setup();
    const a = await keys.create({ name: 'a' });
    await keys.rotate(a.record.id, { gracePeriodSeconds: 0 });
    expect(await keys.verify(a.key)).toMatchObject({ reason: 'expired' });
    const b = await keys.create({ name: 'b' });
    await keys.revoke(b.record.id);
    await expect(keys.rotate(b.record.id)).rejects.toThrow(/revoked/);
    expect(await keys.rotate('ZZZZZZZZZZZZ')).toBeNull();
    await expect(keys.rotate(a.record.id, { gracePeriodSeconds: -1 })).rejects.toThrow(RangeError);
  });
});

describe('options and events', () => {
  it.each([
    [{ colour: 'red' }, /unknown option colour/],
    [{ cache: { size: 1 } }, /unknown option cache.size/],
    [{ cache: { maxKeys: 0 } }, /maxKeys/],
    [{ environments: {} }, /at least one/],
    [{ environments: { live: 'KW' } }, /invalid prefix/],
    [{ environments: { a: 'kw_a', b: 'kw_a' } }, /share/],
    [{ defaultEnvironment: 'prod' }, /defaultEnvironment/],
    [{ maxConcurrentHashes: 0 }, /maxConcurrentHashes/],
    [{ store: {} }, /KeyStore/],
  ])('refuses %j at start-up', (options, message) => {
    expect(() =>
      createKeyManager({ store: createMemoryKeyStore(), ...(options as object) } as never),
    ).toThrow(message);
  });

  it('emits lifecycle events that never hold a secret, and survives a throwing hook', async () => {
    const events: KeywardenEvent[] = [];
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: fastArgon2(),
      onEvent: (e) => {
        events.push(e);
        throw new Error('logger crashed');
      },
    });
    const { key, record } = await keys.create({ name: 'k' });
    await keys.verify(key);
    await keys.verify(wrongSecret(key));
    await keys.update(record.id, { name: 'n' });
    const rotated = await keys.rotate(record.id);
    await keys.revoke(rotated!.record.id);
    await keys.delete(record.id);
    expect(events.map((e) => e.type)).toEqual([
      'key.created',
      'key.updated',
      'key.created',
      'key.rotated',
      'key.revoked',
      'key.deleted',
    ]);
    const text = JSON.stringify(events);
    for (const secretish of [key, rotated!.key, key.slice(20, 52), rotated!.key.slice(20, 52)]) {
      expect(text).not.toContain(secretish);
    }
  });
});
