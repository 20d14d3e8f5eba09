import { describe, expect, it } from 'vitest';
import {
  type AuthRequest,
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  createMemoryLimitStore,
  formatApiKey,
  generateTokenSecret,
  type KeyManagerOptions,
} from '../../src/index.js';
import { createFairQueue } from '../../src/keys/hash-queue.js';
import { coarsePartition } from '../../src/keys/verify-throttle.js';
import { countingHasher, countingStore, frozenClock } from '../helpers.js';

const ALICE = '203.0.113.7';
const BOB = '198.51.100.9';

function setup(options: Partial<KeyManagerOptions> = {}) {
  const clock = frozenClock();
  const { hasher, calls: hashCalls } = countingHasher(createHmacHasher({ pepper: 'p'.repeat(32) }));
  const { store, calls: storeCalls } = countingStore(createMemoryKeyStore());
  const keys = createKeyManager({ store, hasher, now: clock.now, ...options });
  return { keys, clock, hashCalls, storeCalls };
}

/** The key with its secret replaced: same id, valid checksum, wrong secret. */
const withSecret = (key: string, id: string, secret: string) => formatApiKey(key.slice(0, 7), id, secret);
const randomSecret = (i: number) => `S${String(i).padStart(31, '0')}`;
const idOf = (key: string) => key.slice(8, 20);

describe('failure budgets: work is reserved before it starts', () => {
  it('runs at most maxFailures hashes for one key id and client, however many wrong secrets arrive at once', async () => {
    const { keys, hashCalls } = setup({ failureThrottle: { maxFailures: 10, maxClientFailures: 30 } });
    const { key, record } = await keys.create({ name: 'victim' });
    hashCalls.verify = 0;
    const results = await Promise.all(
      Array.from({ length: 1100 }, (_, i) =>
        keys.verify(withSecret(key, record.id, randomSecret(i)), { ip: ALICE }),
      ),
    );
    expect(hashCalls.verify).toBe(10);
    expect(results.filter((r) => !r.ok && r.reason === 'wrong_secret')).toHaveLength(10);
    const throttled = results.filter((r) => !r.ok && r.reason === 'throttled');
    expect(throttled).toHaveLength(1090);
    // Refused while the 10 were still in flight: asked to retry in a second.
    expect(throttled[0]).toMatchObject({ keyId: record.id, retryAfter: 1 });
    // Now that they failed: until the window ends.
    expect(await keys.verify(withSecret(key, record.id, randomSecret(0)), { ip: ALICE })).toMatchObject({
      reason: 'throttled',
      retryAfter: 60,
    });
    expect(hashCalls.verify).toBe(10);
  });

  it('runs at most maxClientFailures store reads and hashes for one client across many key ids', async () => {
    const { keys, hashCalls, storeCalls } = setup({ failureThrottle: { maxClientFailures: 30 } });
    const created = await Promise.all(Array.from({ length: 40 }, (_, i) => keys.create({ name: `k${i}` })));
    hashCalls.verify = 0;
    storeCalls.get = 0;
    const wrong = created.map(({ key, record }, i) => withSecret(key, record.id, randomSecret(i)));
    const unknownIds = Array.from({ length: 500 }, (_, i) =>
      formatApiKey('kw_live', `U${String(i).padStart(11, '0')}`, randomSecret(i)),
    );
    const results = await Promise.all([...wrong, ...unknownIds].map((k) => keys.verify(k, { ip: ALICE })));
    // 30 reservations: each pays for one store read, and a hash when the id exists.
    expect(results.filter((r) => !r.ok && r.reason === 'throttled')).toHaveLength(540 - 30);
    expect(storeCalls.get).toBeLessThanOrEqual(30);
    expect(hashCalls.verify).toBeLessThanOrEqual(30);
  });

  it('never refuses the right secret because others failed on its id: other clients and warm keys pass', async () => {
    const { keys, clock } = setup({ failureThrottle: { maxFailures: 3 } });
    const { key, record } = await keys.create({ name: 'customer' });
    for (let i = 0; i < 50; i++)
      await keys.verify(withSecret(key, record.id, randomSecret(i)), { ip: ALICE });
    // The owner, from another address, verifies cold (its first use) and is accepted.
    expect(await keys.verify(key, { ip: BOB })).toMatchObject({ ok: true });
    // Once verified, the key is warm: accepted from the attacker's address too, without a hash.
    expect(await keys.verify(key, { ip: ALICE })).toMatchObject({ ok: true });
    // When the verified entry has expired, the owner's address still verifies it cold.
    clock.advance(600_001);
    for (let i = 0; i < 50; i++)
      await keys.verify(withSecret(key, record.id, randomSecret(i)), { ip: ALICE });
    expect(await keys.verify(key, { ip: BOB })).toMatchObject({ ok: true });
  });

  it('gives a reservation back when the secret matched: a client with many cold keys is not throttled', async () => {
    const { keys } = setup({ failureThrottle: { maxClientFailures: 5 } });
    const created = await Promise.all(Array.from({ length: 40 }, (_, i) => keys.create({ name: `k${i}` })));
    for (const { key } of created) expect(await keys.verify(key, { ip: ALICE })).toMatchObject({ ok: true });
    // Four failures leave one unit: the budget is intact after 40 successes.
    for (let i = 0; i < 4; i++)
      await keys.verify(withSecret(created[0]!.key, idOf(created[0]!.key), randomSecret(i)), { ip: ALICE });
    const fresh = await keys.create({ name: 'fresh' });
    expect(await keys.verify(fresh.key, { ip: ALICE })).toMatchObject({ ok: true });
  });

  it('lets a client whose budget is only in flight wait its turn: 200 parallel cold keys from one proxy all pass', async () => {
    const { keys, hashCalls } = setup({ failureThrottle: { maxClientFailures: 5 } });
    const created = await Promise.all(Array.from({ length: 200 }, (_, i) => keys.create({ name: `k${i}` })));
    hashCalls.verify = 0;
    const results = await Promise.all(created.map(({ key }) => keys.verify(key, { ip: ALICE })));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(hashCalls.verify).toBe(200);
    // Mixed with guesses: the guesses use up the budget, the waiting keys are then refused, not hashed.
    const more = await Promise.all(Array.from({ length: 20 }, (_, i) => keys.create({ name: `m${i}` })));
    hashCalls.verify = 0;
    const mixed = await Promise.all([
      ...more.map(({ key, record }, i) =>
        keys.verify(withSecret(key, record.id, randomSecret(i)), { ip: BOB }),
      ),
      ...created.slice(0, 3).map(() => keys.verify(more[0]!.key, { ip: BOB })),
    ]);
    expect(hashCalls.verify).toBeLessThanOrEqual(5 + 1);
    expect(mixed.filter((r) => !r.ok && r.reason === 'wrong_secret').length).toBeLessThanOrEqual(5);
  });

  it('counts every request without an address as one client (fail closed), and opens again after the window', async () => {
    const { keys, clock, hashCalls } = setup({ failureThrottle: { maxClientFailures: 3, windowMs: 10_000 } });
    const created = await Promise.all(Array.from({ length: 4 }, (_, i) => keys.create({ name: `k${i}` })));
    hashCalls.verify = 0;
    for (const { key, record } of created) await keys.verify(withSecret(key, record.id, randomSecret(1)));
    expect(hashCalls.verify).toBe(3);
    expect(await keys.verify(created[0]!.key, { ip: 'not an address' })).toMatchObject({
      reason: 'throttled',
      retryAfter: 10,
    });
    clock.advance(10_000);
    expect(await keys.verify(created[0]!.key)).toMatchObject({ ok: true });
  });

  it("keeps a key its holder verified before usable from an address where others spent the key's and the client's budgets", async () => {
    const { keys, clock, hashCalls } = setup({
      cache: { verifiedTtlMs: 60_000 },
      failureThrottle: { maxFailures: 10, maxClientFailures: 30, windowMs: 600_000 },
    });
    const victim = await keys.create({ name: 'victim at a carrier NAT' });
    const never = await keys.create({ name: 'never used from here' });
    const others = await Promise.all(Array.from({ length: 3 }, (_, i) => keys.create({ name: `o${i}` })));
    expect(await keys.verify(victim.key, { ip: ALICE })).toMatchObject({ ok: true });
    // Someone behind the same address: ten guesses a minute on the victim's id, more on others.
    for (let i = 0; i < 10; i++)
      await keys.verify(withSecret(victim.key, victim.record.id, randomSecret(i)), { ip: ALICE });
    for (const [n, other] of others.entries())
      for (let i = 0; i < 10; i++)
        await keys.verify(withSecret(other.key, other.record.id, randomSecret(100 * n + i)), { ip: ALICE });
    clock.advance(61_000); // the victim's verification lapses
    hashCalls.verify = 0;
    expect(await keys.verify(victim.key, { ip: ALICE })).toMatchObject({ ok: true });
    expect(hashCalls.verify).toBe(1); // verified again, by a hash, without a budget
    // What remains: a key never verified in this process waits for the address's window to end.
    expect(await keys.verify(never.key, { ip: ALICE })).toMatchObject({ ok: false, reason: 'throttled' });
    // A guess is no holder: still refused without a hash.
    hashCalls.verify = 0;
    const guess = await keys.verify(withSecret(victim.key, victim.record.id, randomSecret(99)), {
      ip: ALICE,
    });
    expect([guess.ok, hashCalls.verify]).toEqual([false, 0]);
  });

  it('keeps a botnet spread over 2,000 /16s from closing cold verification to a client that never failed', async () => {
    const { keys, hashCalls } = setup({ failureThrottle: { maxTracked: 100, maxClientFailures: 30 } });
    const target = await keys.create({ name: 'sprayed' });
    const fresh = await keys.create({ name: 'a new customer' });
    let n = 0;
    for (let net = 0; net < 2000; net++)
      for (let host = 1; host <= 5; host++) {
        const ip = `${11 + (net >> 8)}.${net & 255}.7.${host}`;
        await keys.verify(withSecret(target.key, target.record.id, randomSecret(n++)), { ip });
      }
    expect(hashCalls.verify).toBeGreaterThan(9000); // the spray was hashed: it is not what is bounded here
    expect(await keys.verify(fresh.key, { ip: '203.0.113.50' })).toMatchObject({ ok: true });
  });

  it('is off with failureThrottle: false', async () => {
    const { keys, hashCalls } = setup({ failureThrottle: false });
    const { key, record } = await keys.create({ name: 'k' });
    hashCalls.verify = 0;
    for (let i = 0; i < 100; i++)
      await keys.verify(withSecret(key, record.id, randomSecret(i)), { ip: ALICE });
    expect(hashCalls.verify).toBe(100);
  });

  it.each([
    ['maxClientFailures', 0],
    ['maxFailures', 1.5],
    ['windowMs', -1],
    ['unknown', 1],
  ])('refuses failureThrottle.%s = %s at start-up', (name, value) => {
    expect(() => setup({ failureThrottle: { [name]: value } })).toThrow(/failureThrottle/);
  });
});

describe('failure budgets through createKeywarden', () => {
  async function server(options: Partial<KeyManagerOptions> = {}) {
    const { keys, clock, hashCalls } = setup(options);
    const keywarden = createKeywarden({
      keys,
      requireHttps: false,
      now: clock.now,
      tokens: { secrets: [{ id: 't', secret: generateTokenSecret() }] },
    });
    const call = (key: string, ip: string, extra: Partial<AuthRequest> = {}) =>
      keywarden.authenticate({
        method: 'GET',
        url: '/v3/files/a.png',
        headers: { 'x-api-key': key },
        ip,
        ...extra,
      });
    return { keys, keywarden, clock, hashCalls, call };
  }

  it('answers a throttled client 429 with Retry-After for cold keys, and still serves its warm keys and tokens', async () => {
    const { keys, keywarden, call } = await server({ failureThrottle: { maxClientFailures: 3 } });
    const warm = await keys.create({ name: 'warm', rateLimit: { limit: 100, windowSeconds: 60 } });
    const cold = await keys.create({ name: 'cold' });
    expect(await call(warm.key, ALICE)).toMatchObject({ ok: true });
    const token = (await keywarden.mintAccessToken(warm.record.id)).token;
    for (let i = 0; i < 3; i++) {
      const refused = await call(withSecret(cold.key, cold.record.id, randomSecret(i)), ALICE);
      expect(refused).toMatchObject({ ok: false, error: { code: 'invalid_credentials' } });
    }
    const throttled = await call(cold.key, ALICE);
    expect(throttled.ok).toBe(false);
    if (throttled.ok) return;
    expect(throttled.error.status).toBe(429);
    expect(throttled.error.code).toBe('rate_limited');
    expect(throttled.error.headers['retry-after']).toBe('60');
    expect(await call(warm.key, ALICE)).toMatchObject({ ok: true });
    const viaToken = await keywarden.authenticate({
      method: 'GET',
      url: '/v3/files/a.png',
      headers: { authorization: `AccessToken ${token}` },
      ip: ALICE,
    });
    expect(viaToken).toMatchObject({ ok: true });
    expect(await call(cold.key, BOB)).toMatchObject({ ok: true });
  });

  it('refuses the options that moved to the key manager, naming where they went', () => {
    const { keys } = setup();
    expect(() => createKeywarden({ keys, limits: { failedAuth: false } as never })).toThrow(
      /unknown option limits.failedAuth \(moved to createKeyManager\(\{ failureThrottle \}\)/,
    );
  });

  it('keeps failures out of the limit store: 100,000 from distinct /64s leave rate-limited keys working', async () => {
    const clock = frozenClock();
    const limitStore = createMemoryLimitStore({ maxCounters: 1000 });
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
      now: clock.now,
      failureThrottle: { maxTracked: 1000 },
    });
    const keywarden = createKeywarden({
      keys,
      requireHttps: false,
      now: clock.now,
      limits: { store: limitStore },
    });
    const limited = await Promise.all(
      Array.from({ length: 3 }, (_, i) =>
        keys.create({ name: `l${i}`, rateLimit: { limit: 1000, windowSeconds: 60 } }),
      ),
    );
    const call = (key: string, ip: string) =>
      keywarden.authenticate({ method: 'GET', url: '/', headers: { 'x-api-key': key }, ip });
    expect(await call(limited[0]!.key, ALICE)).toMatchObject({ ok: true }); // warm before the spray
    const codes = new Map<string, number>();
    for (let i = 0; i < 100_000; i++) {
      const ip = `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`;
      const unknown = formatApiKey('kw_live', `U${String(i).padStart(11, '0')}`, randomSecret(i));
      const result = await call(unknown, ip);
      const code = result.ok ? 'ok' : result.error.code;
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    // Unknown ids are refused (401) until the coarse partitions' budgets run out (429); never a 503.
    expect([...codes.keys()].sort()).toEqual(['invalid_credentials', 'rate_limited']);
    // Valid keys never fail: a warm one from anywhere, a cold one from an address outside the spray.
    expect(await call(limited[0]!.key, '2001:db8:0:1::5')).toMatchObject({ ok: true });
    expect(await call(limited[1]!.key, '192.0.2.1')).toMatchObject({ ok: true });
    expect(await call(limited[2]!.key, '2001:db9::1')).toMatchObject({ ok: true });
  });

  it.each([
    ['203.0.113.7', '203.0.0.0/16'],
    ['2001:0db8:0001:0002::/64', '2001:0db8::/32'],
    ['unknown', 'unknown'],
  ])('coarsens %s to %s when the client table is full', (partition, coarse) => {
    expect(coarsePartition(partition)).toBe(coarse);
  });
});

describe('fair hash queue', () => {
  it('serves waiting clients round-robin: one client flooding does not delay another', async () => {
    const queue = createFairQueue(2, 10_000);
    const order: string[] = [];
    const gates: (() => void)[] = [];
    const task = (name: string) => () =>
      new Promise<void>((open) => {
        order.push(name);
        gates.push(open);
      });
    const runs = Array.from({ length: 1000 }, () => queue.run('flood', task('flood')));
    runs.push(queue.run('other', task('other')));
    await new Promise((r) => setImmediate(r));
    expect(queue.queued).toBe(999);
    while (!order.includes('other')) {
      gates.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    // After the two that were running: one more of the flood (it was first in turn), then 'other'.
    expect(order.indexOf('other')).toBe(3);
    while (gates.length > 0) {
      gates.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(runs);
    expect(queue.active).toBe(0);
  });

  it('rejects at once when full', async () => {
    const queue = createFairQueue(1, 1);
    let open!: () => void;
    const first = queue.run('a', () => new Promise<void>((r) => (open = r)));
    const second = queue.run('b', async () => 'b');
    await expect(queue.run('c', async () => 'c')).rejects.toThrow(/hash queue is full/);
    open();
    await first;
    expect(await second).toBe('b');
  });
});
