import { describe, expect, it } from 'vitest';
import {
  type AuthRequest,
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  createMemoryLimitStore,
  generateTokenSecret,
  type KeySettings,
  type KeywardenEvent,
  type LimitCounter,
  type LimitOptions,
  type LimitStore,
  quotaPeriod,
  validateRouteRequirements,
} from '../../src/index.js';
import { clientPartition } from '../../src/request/client-partition.js';
import { frozenClock } from '../helpers.js';

/** The same cost on every counter. */
const charge = (list: readonly Omit<LimitCounter, 'cost'>[], cost: number): LimitCounter[] =>
  list.map((counter) => ({ ...counter, cost }));

async function setup(
  settings: KeySettings,
  limits: LimitOptions = {},
  start = Date.UTC(2026, 0, 15, 12, 0, 0),
) {
  const clock = frozenClock(start);
  const keys = createKeyManager({
    store: createMemoryKeyStore(),
    hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    now: clock.now,
  });
  const events: KeywardenEvent[] = [];
  const keywarden = createKeywarden({
    keys,
    requireHttps: false,
    now: clock.now,
    limits,
    tokens: { secrets: [{ id: 'k1', secret: generateTokenSecret() }] },
    onEvent: (e) => events.push(e),
  });
  const { key, record } = await keys.create({ name: 'k', ...settings });
  const call = (input: Partial<AuthRequest> = {}, cost?: number) =>
    keywarden.authenticate(
      { method: 'GET', url: '/v3/files/a', headers: { 'x-api-key': key }, ip: '203.0.113.7', ...input },
      cost === undefined ? undefined : { cost },
    );
  return { clock, keys, keywarden, key, record, call, events };
}

const summary = (r: Awaited<ReturnType<ReturnType<typeof createKeywarden>['authenticate']>>) =>
  r.ok ? { ok: true, ...r.headers } : { code: r.error.code, ...r.error.headers };

describe('memory limit store', () => {
  it('adds the cost to every counter or to none', async () => {
    const store = createMemoryLimitStore();
    const a = { key: 'a', limit: 3, resetAt: 1000 };
    const b = { key: 'b', limit: 1, resetAt: 1000 };
    expect(await store.consume(charge([a, b], 1), 0)).toEqual({ allowed: true, counts: [1, 1] });
    expect(await store.consume(charge([a, b], 1), 0)).toEqual({ allowed: false, counts: [1, 1] });
    expect(await store.consume(charge([a], 2), 0)).toEqual({ allowed: true, counts: [3] });
    expect(await store.consume(charge([a], 0), 0)).toEqual({ allowed: true, counts: [3] });
    expect(await store.consume(charge([a], 1), 999)).toEqual({ allowed: false, counts: [3] });
    expect(await store.consume(charge([a], 1), 1000)).toEqual({ allowed: true, counts: [1] }); // a new window
  });

  it('stays bounded: drops ended windows, and refuses a new counter rather than evict a live one', async () => {
    const store = createMemoryLimitStore({ maxCounters: 2 });
    await store.consume(charge([{ key: 'old', limit: 5, resetAt: 100 }], 1), 0);
    await store.consume(charge([{ key: 'live', limit: 5, resetAt: 10_000 }], 1), 0);
    // 'old' has ended by t=200, so there is room for 'new'.
    expect((await store.consume(charge([{ key: 'new', limit: 5, resetAt: 10_000 }], 1), 2000)).allowed).toBe(
      true,
    );
    // Now both counters are live: a third is refused, and the live counts are intact.
    await expect(
      store.consume(charge([{ key: 'third', limit: 5, resetAt: 10_000 }], 1), 3000),
    ).rejects.toThrow(/full/);
    expect(await store.consume(charge([{ key: 'live', limit: 5, resetAt: 10_000 }], 0), 3000)).toEqual({
      allowed: true,
      counts: [1],
    });
    // All or nothing when full: a live counter charged with a new one is not charged either.
    const both = [
      { key: 'live', limit: 5, resetAt: 10_000 },
      { key: 'fourth', limit: 5, resetAt: 10_000 },
    ];
    await expect(store.consume(charge(both, 1), 3000)).rejects.toThrow(/full/);
    expect(() => store.consumeNow!(charge(both, 1), 3000)).toThrow(/full/);
    expect(await store.consume(charge([{ key: 'live', limit: 5, resetAt: 10_000 }], 0), 3000)).toEqual({
      allowed: true,
      counts: [1],
    });
  });

  it('evicts the oldest counters when full, if told to (budgets of anonymous clients): a spray never refuses a newcomer', async () => {
    const store = createMemoryLimitStore({ maxCounters: 100, whenFull: 'evict-oldest' });
    const per = (ip: string) => [{ key: `page:${ip}`, limit: 3, resetAt: 60_000, cost: 1 }];
    for (let i = 0; i < 10_050; i++)
      expect((await store.consume(per(`10.0.${i >> 8}.${i & 255}`), 0)).allowed).toBe(true);
    // A new visitor is counted, not refused; a recent one keeps its count.
    expect(await store.consume(per('203.0.113.1'), 1)).toEqual({ allowed: true, counts: [1] });
    const recent = `10.0.${10_049 >> 8}.${10_049 & 255}`;
    expect(await store.consume(per(recent), 1)).toEqual({ allowed: true, counts: [2] });
    expect(() => createMemoryLimitStore({ whenFull: 'drop' as never })).toThrow(/whenFull/);
  });

  it('answers at once through consumeNow (one counter set with consume), so a limited request stays synchronous', async () => {
    const store = createMemoryLimitStore();
    const counter = [{ key: 'k', limit: 2, resetAt: 10_000 }];
    const result = store.consumeNow!(charge(counter, 1), 0);
    expect(result).not.toBeInstanceOf(Promise);
    expect(result).toEqual({ allowed: true, counts: [1] });
    expect(await store.consume(charge(counter, 1), 0)).toEqual({ allowed: true, counts: [2] });
    expect(store.consumeNow!(charge(counter, 1), 0)).toEqual({ allowed: false, counts: [2] });
  });
});

describe('calendar periods (UTC)', () => {
  it.each([
    ['month', '2026-01-31T23:59:59.999Z', '2026-01-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z'],
    ['month', '2026-12-15T00:00:00.000Z', '2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    ['month', '2028-02-29T12:00:00.000Z', '2028-02-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z'],
    ['day', '2026-03-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z'],
    ['day', '2026-03-01T23:59:59.999Z', '2026-03-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z'],
  ] as const)('%s of %s is [%s, %s)', (period, at, start, end) => {
    const p = quotaPeriod(period, Date.parse(at));
    expect([new Date(p.start).toISOString(), new Date(p.end).toISOString()]).toEqual([start, end]);
  });
});

describe('rate limits', () => {
  it('counts requests per window with IETF headers, 429 with Retry-After beyond it, and resets', async () => {
    const { call, clock, events, record } = await setup({ rateLimit: { limit: 3, windowSeconds: 60 } });
    // 12:00:00 is a window boundary; 20 s into the window, 40 s remain.
    clock.advance(20_000);
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push(summary(await call()));
    expect(seen).toEqual([
      { ok: true, 'ratelimit-policy': '"rate";q=3;w=60', ratelimit: '"rate";r=2;t=40' },
      { ok: true, 'ratelimit-policy': '"rate";q=3;w=60', ratelimit: '"rate";r=1;t=40' },
      { ok: true, 'ratelimit-policy': '"rate";q=3;w=60', ratelimit: '"rate";r=0;t=40' },
      {
        code: 'rate_limited',
        'cache-control': 'no-store',
        'ratelimit-policy': '"rate";q=3;w=60',
        ratelimit: '"rate";r=0;t=40',
        'retry-after': '40',
      },
    ]);
    expect(events.find((e) => e.type === 'limit.exceeded')).toMatchObject({
      keyId: record.id,
      policy: 'rate',
      limit: 3,
    });
    clock.advance(39_999);
    expect(summary(await call())).toMatchObject({ code: 'rate_limited', 'retry-after': '1' });
    clock.advance(1);
    expect(summary(await call())).toMatchObject({ ok: true, ratelimit: '"rate";r=2;t=60' });
  });

  it('answers a warm limited key at once on the memory store, without a promise, and its 429 too', async () => {
    const { call, keywarden, key } = await setup({
      rateLimit: { limit: 2, windowSeconds: 60 },
      quota: { limit: 100, period: 'month' },
    });
    expect((await call()).ok).toBe(true); // verifies the key (an HMAC now, cached after)
    const input = { method: 'GET', url: '/v3/files/a', headers: { 'x-api-key': key }, ip: '203.0.113.7' };
    const second = keywarden.authenticateNow(input);
    expect(second).not.toBeInstanceOf(Promise);
    expect(summary(second as Awaited<typeof second>)).toMatchObject({
      ok: true,
      ratelimit: expect.stringContaining('r=0'),
    });
    const third = keywarden.authenticateNow(input);
    expect(third).not.toBeInstanceOf(Promise);
    expect(summary(third as Awaited<typeof third>)).toMatchObject({ code: 'rate_limited' });
  });

  it('follows a changed limit at once: the counters a warm key reuses are rebuilt', async () => {
    const { call, keys, record } = await setup({ rateLimit: { limit: 3, windowSeconds: 60 } });
    expect(summary(await call())).toMatchObject({
      'ratelimit-policy': '"rate";q=3;w=60',
      ratelimit: '"rate";r=2;t=60',
    });
    await keys.update(record.id, { rateLimit: { limit: 5, windowSeconds: 60 } });
    expect(summary(await call())).toMatchObject({
      'ratelimit-policy': '"rate";q=5;w=60',
      ratelimit: '"rate";r=3;t=60',
    });
    await keys.update(record.id, { rateLimit: { limit: 5, windowSeconds: 10 } });
    expect(summary(await call())).toMatchObject({
      'ratelimit-policy': '"rate";q=5;w=10',
      ratelimit: '"rate";r=4;t=10',
    });
  });

  it('peekLimits reads where a key stands without charging it; null for an unknown key', async () => {
    const { call, keywarden, record, clock } = await setup({
      rateLimit: { limit: 10, windowSeconds: 60 },
      quota: { limit: 100, period: 'month' },
    });
    expect(await keywarden.peekLimits(record.id)).toEqual({
      rateLimit: { limit: 10, used: 0, remaining: 10, resetAt: new Date(clock.now() + 60_000) },
      quota: { limit: 100, used: 0, remaining: 100, resetAt: new Date('2026-02-01T00:00:00Z') },
      account: null,
    });
    await call(undefined, 3);
    await call();
    for (let i = 0; i < 3; i++) await keywarden.peekLimits(record.id); // reading charges nothing
    expect(await keywarden.peekLimits(record.id)).toMatchObject({
      rateLimit: { used: 2, remaining: 8 },
      quota: { used: 4, remaining: 96 },
    });
    expect(summary(await call())).toMatchObject({ ratelimit: '"rate";r=7;t=60, "quota";r=95;t=1425600' });
    expect(await keywarden.peekLimits('nosuchkey123')).toBeNull();
    const { keywarden: plain, record: unlimited } = await setup({});
    expect(await plain.peekLimits(unlimited.id)).toEqual({ rateLimit: null, quota: null, account: null });
  });

  it('counts requests, not route cost: a cost-3 call uses one request of the rate and 3 units of quota', async () => {
    const { call } = await setup({
      rateLimit: { limit: 10, windowSeconds: 60 },
      quota: { limit: 100, period: 'month' },
    });
    expect(summary(await call({}, 3))).toMatchObject({
      ok: true,
      ratelimit: '"rate";r=9;t=60, "quota";r=97;t=1425600',
    });
    expect(summary(await call({}, 0))).toMatchObject({
      ok: true,
      ratelimit: '"rate";r=8;t=60, "quota";r=97;t=1425600',
    });
  });

  it('never lets remaining go negative or rise inside a window', async () => {
    const { call } = await setup({ rateLimit: { limit: 5, windowSeconds: 3600 } });
    let last = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 12; i++) {
      const r = summary(await call({}, i % 3)) as unknown as { ratelimit: string };
      const remaining = Number(/r=(\d+)/.exec(r.ratelimit)![1]);
      expect(remaining).toBeGreaterThanOrEqual(0);
      expect(remaining).toBeLessThanOrEqual(last);
      last = remaining;
    }
  });
});

describe('quotas', () => {
  it('charges route costs, never refuses cost 0, and rolls over at the start of the UTC month', async () => {
    const { call, clock } = await setup(
      { quota: { limit: 5, period: 'month' } },
      {},
      Date.UTC(2026, 0, 31, 23, 59, 58),
    );
    expect(summary(await call({}, 2))).toMatchObject({ ok: true, ratelimit: '"quota";r=3;t=2' });
    expect(summary(await call({}, 2))).toMatchObject({ ok: true, ratelimit: '"quota";r=1;t=2' });
    expect(summary(await call({}, 2))).toMatchObject({ code: 'quota_exceeded', 'retry-after': '2' });
    expect(summary(await call({}, 1))).toMatchObject({ ok: true, ratelimit: '"quota";r=0;t=2' });
    expect(summary(await call({}, 1))).toMatchObject({ code: 'quota_exceeded' });
    expect(summary(await call({}, 0))).toMatchObject({ ok: true, ratelimit: '"quota";r=0;t=2' });
    clock.set(Date.UTC(2026, 1, 1)); // February: 28 days
    expect(summary(await call({}, 1))).toMatchObject({
      ok: true,
      'ratelimit-policy': `"quota";q=5;w=${28 * 86400}`,
      ratelimit: `"quota";r=4;t=${28 * 86400}`,
    });
  });

  it('is exact under concurrency: 1,000 parallel requests, quota 100, exactly 100 pass', async () => {
    const { call } = await setup({ quota: { limit: 100, period: 'month' } });
    const results = await Promise.all(Array.from({ length: 1000 }, () => call()));
    expect(results.filter((r) => r.ok)).toHaveLength(100);
    expect(results.filter((r) => !r.ok && r.error.code === 'quota_exceeded')).toHaveLength(900);
  });

  it('charges tokens to their parent key, and minting charges nothing', async () => {
    const { call, keywarden, record } = await setup({ quota: { limit: 3, period: 'day' } });
    const minted = await keywarden.handleMintRequest(
      {
        method: 'POST',
        url: '/v3/auth/access-token/',
        headers: { 'x-api-key': (await keywarden.keys.create({ name: 'x' })).key },
      },
      '{}',
    );
    expect(minted.ok).toBe(true);
    const token = (await keywarden.mintAccessToken(record.id)).token;
    const viaToken = () => call({ headers: { authorization: `AccessToken ${token}` } });
    expect(summary(await call())).toMatchObject({ ratelimit: expect.stringContaining('r=2') });
    expect(summary(await viaToken())).toMatchObject({ ratelimit: expect.stringContaining('r=1') });
    expect(summary(await viaToken())).toMatchObject({ ratelimit: expect.stringContaining('r=0') });
    expect(summary(await call())).toMatchObject({ code: 'quota_exceeded' });
  });

  it('counts per rotation lineage: rotating never refills a quota or a rate window', async () => {
    const { call, keys, keywarden, key, record } = await setup({
      quota: { limit: 4, period: 'month' },
      rateLimit: { limit: 3, windowSeconds: 60 },
    });
    const withKey = (k: string) => call({ headers: { 'x-api-key': k } });
    expect(summary(await withKey(key))).toMatchObject({ ok: true });
    expect(summary(await withKey(key))).toMatchObject({ ok: true });
    const second = (await keys.rotate(record.id, { gracePeriodSeconds: 3600 }))!;
    // The new key goes on from the old key's counts; the old key (in its grace) shares them.
    expect(summary(await withKey(second.key))).toMatchObject({
      ok: true,
      ratelimit: expect.stringContaining('r=0'),
    });
    expect(summary(await withKey(key))).toMatchObject({ code: 'rate_limited' });
    const third = (await keys.rotate(second.record.id, { gracePeriodSeconds: 0 }))!;
    expect(summary(await withKey(third.key))).toMatchObject({ code: 'rate_limited' });
    expect((await keywarden.peekLimits(third.record.id))?.quota).toMatchObject({ used: 3, remaining: 1 });
    // Another key of its own is another lineage: its own counters.
    const other = await keys.create({ name: 'other', quota: { limit: 4, period: 'month' } });
    expect(summary(await withKey(other.key))).toMatchObject({
      ok: true,
      ratelimit: expect.stringMatching(/^"quota";r=3;/),
    });
  });
});

describe('chargeUnits (a handler charging by the work it does)', () => {
  it("charges a key's quota all or nothing, synchronously in memory, without counting a request", async () => {
    const { call, keywarden, record } = await setup({
      quota: { limit: 10, period: 'month' },
      rateLimit: { limit: 5, windowSeconds: 60 },
    });
    const authenticated = await call({}, 0);
    if (!authenticated.ok) throw authenticated.error;
    const principal = authenticated.principal;
    const four = keywarden.chargeUnits(principal, 4);
    expect(four).not.toBeInstanceOf(Promise);
    expect(four).toMatchObject({ ok: true, headers: { ratelimit: expect.stringContaining('"quota";r=6') } });
    // Seven do not fit in six: nothing is charged, a 429 with Retry-After says why.
    const seven = keywarden.chargeUnits(principal, 7, { method: 'POST', url: '/v3/tools/x', headers: [] });
    expect(seven).toMatchObject({ ok: false, error: { code: 'quota_exceeded', status: 429 } });
    expect(
      Number((seven as { error: { headers: Record<string, string> } }).error.headers['retry-after']),
    ).toBeGreaterThan(0);
    expect(keywarden.chargeUnits(principal, 6)).toMatchObject({ ok: true });
    expect(keywarden.chargeUnits(principal, 0)).toEqual({ ok: true, headers: {} });
    expect(keywarden.chargeUnits(principal, 1)).toMatchObject({
      ok: false,
      error: { code: 'quota_exceeded' },
    });
    // The rate limit counted the one request only.
    expect((await keywarden.peekLimits(record.id))?.rateLimit?.used).toBe(1);
    for (const bad of [-1, 1.5, Number.NaN])
      expect(() => keywarden.chargeUnits(principal, bad)).toThrow(/units/);
  });

  it("charges a token's key, and admits (and meters) any units on a key without a quota", async () => {
    const limited = await setup({ quota: { limit: 3, period: 'day' } });
    const token = (await limited.keywarden.mintAccessToken(limited.record.id)).token;
    const viaToken = await limited.call({ headers: { authorization: `AccessToken ${token}` } }, 0);
    if (!viaToken.ok) throw viaToken.error;
    expect(limited.keywarden.chargeUnits(viaToken.principal, 3)).toMatchObject({ ok: true });
    expect(limited.keywarden.chargeUnits(viaToken.principal, 1)).toMatchObject({ ok: false });
    const free = await setup({});
    const plain = await free.call({}, 0);
    if (!plain.ok) throw plain.error;
    expect(free.keywarden.chargeUnits(plain.principal, 1_000)).toEqual({ ok: true, headers: {} });
    await free.keywarden.close();
    const [today] = await free.keys.usage(free.record.id);
    expect(today).toMatchObject({ requests: 1, units: 1_000 });
  });
});

describe('client partitions (failure budgets count per partition)', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8::1', '2001:0db8:0000:0000::/64'],
    ['2001:DB8:0:0:1::1', '2001:0db8:0000:0000::/64'],
    ['::1', '0000:0000:0000:0000::/64'],
    ['nonsense', null],
    [undefined, null],
  ])('partitions %s as %s', (ip, expected) => {
    expect(clientPartition(ip)).toBe(expected);
  });
});

describe('a counter store that fails', () => {
  const down: LimitStore = {
    consume: () => Promise.reject(new Error('redis is down')),
  };

  it('fails closed with 503 by default', async () => {
    const { call } = await setup({ quota: { limit: 5, period: 'month' } }, { store: down });
    expect(summary(await call())).toMatchObject({ code: 'auth_unavailable', 'retry-after': '1' });
  });

  it('fails open when asked: authentication still runs, no RateLimit headers', async () => {
    const { call, key } = await setup(
      { quota: { limit: 5, period: 'month' } },
      { store: down, failOpen: true },
    );
    expect(summary(await call())).toEqual({ ok: true });
    const damaged = `${key.slice(0, -1)}${key.endsWith('x') ? 'y' : 'x'}`; // always differs
    expect(summary(await call({ headers: { 'x-api-key': damaged } }))).toMatchObject({
      code: 'invalid_credentials',
    });
  });

  it('fails closed, too, when the store throws instead of rejecting', async () => {
    const throwing: LimitStore = {
      consume: () => {
        throw new Error('broken');
      },
    };
    const { call } = await setup({ quota: { limit: 5, period: 'month' } }, { store: throwing });
    expect(summary(await call())).toMatchObject({ code: 'auth_unavailable', 'retry-after': '1' });
  });

  it('does not touch keys without limits', async () => {
    const { call } = await setup({}, { store: down });
    expect(summary(await call())).toEqual({ ok: true });
  });
});

describe('route requirements', () => {
  it.each([
    [{ cost: -1 }, /cost/],
    [{ cost: 1.5 }, /cost/],
    [{ scopes: 'a' }, /scopes/],
    [{ scopes: [''] }, /scopes/],
    [{ costs: 1 }, /unknown/],
  ])('refuses %j at definition time', (route, message) => {
    expect(() => validateRouteRequirements(route as never)).toThrow(message);
  });

  it('returns a frozen copy', () => {
    const scopes = ['a'];
    const route = validateRouteRequirements({ scopes, cost: 2 })!;
    scopes.push('b');
    expect(route).toEqual({ scopes: ['a'], cost: 2 });
    expect(Object.isFrozen(route)).toBe(true);
  });
});

describe('rate-limit header styles', () => {
  const settings = {
    rateLimit: { limit: 10, windowSeconds: 60 },
    quota: { limit: 5, period: 'month' as const },
  };
  it.each([
    [
      'draft-11',
      {
        'ratelimit-policy': '"rate";q=10;w=60, "quota";q=5;w=2678400',
        ratelimit: '"rate";r=9;t=60, "quota";r=4;t=1425600',
      },
    ],
    [
      'draft-8',
      {
        'ratelimit-policy': '"rate"; q=10; w=60, "quota"; q=5; w=2678400',
        ratelimit: '"rate"; r=9; t=60, "quota"; r=4; t=1425600',
      },
    ],
    [
      'draft-7',
      { 'ratelimit-policy': '10;w=60, 5;w=2678400', ratelimit: 'limit=5, remaining=4, reset=1425600' },
    ],
    [
      'draft-6',
      {
        'ratelimit-policy': '10;w=60, 5;w=2678400',
        'ratelimit-limit': '5',
        'ratelimit-remaining': '4',
        'ratelimit-reset': '1425600',
      },
    ],
    [
      'legacy',
      {
        'x-ratelimit-limit': '5',
        'x-ratelimit-remaining': '4',
        'x-ratelimit-reset': String(Date.UTC(2026, 1, 1) / 1000),
      },
    ],
  ])('%s', async (style, expected) => {
    const { call } = await setup(settings, { headers: style as never });
    const result = await call();
    expect(result.ok ? result.headers : null).toEqual(expected);
  });

  it('sends several styles at once, on 429s too', async () => {
    const { call } = await setup(
      { quota: { limit: 1, period: 'month' } },
      { headers: ['draft-11', 'legacy'] },
    );
    expect(await call()).toMatchObject({ ok: true });
    const refused = await call();
    expect(refused.ok ? null : refused.error.headers).toMatchObject({
      ratelimit: '"quota";r=0;t=1425600',
      'x-ratelimit-remaining': '0',
      'retry-after': '1425600',
    });
  });

  it('draft-11 and draft-8: the remaining counts and the seconds follow every request', async () => {
    for (const [style, sep] of [
      ['draft-11', ';'],
      ['draft-8', '; '],
    ] as const) {
      const { call, clock } = await setup(settings, { headers: style });
      const seen: unknown[] = [];
      // Within one second, at its last millisecond, into the next second, then past the quota.
      for (const step of [0, 400, 599, 1, 999, 57_000, 1_000]) {
        clock.advance(step);
        const result = await call();
        seen.push(result.ok ? result.headers.ratelimit : result.error.code);
      }
      const line = (rate: number, rateT: number, quota: number, quotaT: number) =>
        `"rate"${sep}r=${rate}${sep}t=${rateT}, "quota"${sep}r=${quota}${sep}t=${quotaT}`;
      expect(seen).toEqual([
        line(9, 60, 4, 1425600),
        line(8, 60, 3, 1425600),
        line(7, 60, 2, 1425600), // 12:00:00.999
        line(6, 59, 1, 1425599), // 12:00:01.000
        line(5, 59, 0, 1425599),
        'quota_exceeded',
        'quota_exceeded',
      ]);
    }
  });

  it('prints counts past 2^31 exactly (the largest quota), and one counter alone', async () => {
    const { call } = await setup({ quota: { limit: 1_000_000_000_000, period: 'day' } });
    const counts: unknown[] = [];
    for (const cost of [1, 1_000_000, 999_999]) {
      const result = await call(undefined, cost);
      counts.push(result.ok ? result.headers.ratelimit : result.error.code);
    }
    expect(counts).toEqual([
      '"quota";r=999999999999;t=43200',
      '"quota";r=999998999999;t=43200',
      '"quota";r=999998000000;t=43200',
    ]);
  });

  it('refuses an unknown style at start-up', async () => {
    await expect(setup(settings, { headers: 'draft-5' as never })).rejects.toThrow(/limits.headers/);
    await expect(setup(settings, { headers: [] as never })).rejects.toThrow(/limits.headers/);
  });
});

describe('a stacked middleware (the request path from the scope check on)', () => {
  it('refuses a missing scope with the request path’s own refusal, and reports it', async () => {
    const { call, keywarden, events, key } = await setup({ scopes: ['images:read'] });
    const first = await call();
    if (!first.ok) throw first.error;
    const route = { scopes: ['images:write'] };
    const direct = await keywarden.authenticate(
      { method: 'GET', url: '/v3/files/a', headers: { 'x-api-key': key } },
      route,
    );
    if (direct.ok) throw new Error('expected a refusal');
    const again = keywarden.authorizeAgain(
      { method: 'POST', url: '/v3/tools/x', headers: [] },
      first.principal,
      route,
      1,
    );
    expect(again).not.toBeInstanceOf(Promise);
    if (again instanceof Promise || again.ok) throw new Error('expected a refusal now');
    expect(again.error.code).toBe('insufficient_scope');
    expect(again.error.headers['www-authenticate']).toContain('scope="images:write"');
    // checkRoute is the same check, without a request to report.
    expect(again.error).toBe(direct.error);
    expect(keywarden.checkRoute(first.principal, route)).toBe(again.error);
    expect(keywarden.checkRoute(first.principal, { scopes: ['images:read'] })).toBeNull();
    expect(events.filter((e) => e.type === 'auth.failed').at(-1)).toMatchObject({
      reason: 'insufficient_scope',
      path: '/v3/tools/x',
      keyId: first.principal.keyId,
    });
  });

  it('charges only what the route’s cost adds, to the quota alone, and a bad cost fails closed', async () => {
    const { call, keywarden, record } = await setup({
      quota: { limit: 10, period: 'month' },
      rateLimit: { limit: 5, windowSeconds: 60 },
    });
    const first = await call();
    if (!first.ok) throw first.error;
    const input = { method: 'POST', url: '/v3/tools/x', headers: [] };
    expect(keywarden.authorizeAgain(input, first.principal, { cost: 4 }, 1)).toMatchObject({
      ok: true,
      charged: 4,
      headers: { ratelimit: expect.stringContaining('"quota";r=6') },
    });
    // Already charged more than this route costs: nothing more, and the larger stays the charge.
    expect(keywarden.authorizeAgain(input, first.principal, { cost: 2 }, 4)).toEqual({
      ok: true,
      charged: 4,
      headers: {},
    });
    expect(keywarden.authorizeAgain(input, first.principal, { cost: 11 }, 4)).toMatchObject({
      ok: false,
      error: { code: 'quota_exceeded' },
    });
    expect(keywarden.authorizeAgain(input, first.principal, { cost: Number.NaN }, 1)).toMatchObject({
      ok: false,
      error: { code: 'auth_unavailable', status: 503 },
    });
    const status = await keywarden.peekLimits(record.id);
    expect(status?.quota?.used).toBe(4);
    expect(status?.rateLimit?.used).toBe(1);
  });
});
