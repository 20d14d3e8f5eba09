import { describe, expect, it } from 'vitest';
import {
  type AuthRequest,
  type AuthResult,
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  generateTokenSecret,
  type KeyStore,
  KeywardenConfigError,
  type KeywardenEvent,
  type Plans,
} from '../../src/index.js';
import { frozenClock } from '../helpers.js';

const PLANS: Plans = {
  metered: { quota: { limit: 3, period: 'month' }, overage: 'credits' },
  free: { rateLimits: [{ limit: 60, windowSeconds: 60 }], quota: { limit: 5, period: 'month' }, maxKeys: 2 },
  pro: {
    rateLimits: [{ limit: 600, windowSeconds: 60 }],
    quota: { limit: 10_000, period: 'month' },
    maxKeys: 10,
  },
};

function setup(plans: Plans | 'none' = PLANS, store: KeyStore = createMemoryKeyStore()) {
  const clock = frozenClock(Date.UTC(2026, 0, 15, 12));
  const keys = createKeyManager({
    store,
    hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    now: clock.now,
  });
  const events: KeywardenEvent[] = [];
  const keywarden = createKeywarden({
    keys,
    requireHttps: false,
    now: clock.now,
    ...(plans === 'none' ? {} : { plans }),
    tokens: { secrets: [{ id: 'k1', secret: generateTokenSecret() }] },
    onEvent: (event) => events.push(event),
  });
  const request = (credential: string, header = 'x-api-key'): AuthRequest => ({
    method: 'GET',
    url: '/v3/files/a.png',
    headers: { [header]: credential },
    ip: '203.0.113.9',
  });
  const call = (key: string, cost?: number) =>
    keywarden.authenticate(request(key), cost === undefined ? undefined : { cost });
  return { clock, keys, keywarden, events, call, request, accounts: keys.accounts };
}

const codeOf = (result: AuthResult) => (result.ok ? 'ok' : result.error.code);

describe('accounts on plans: limits that follow the customer', () => {
  it("counts every key of an account against the account's quota, and says which limit refused", async () => {
    const { accounts, keys, call } = setup();
    await accounts.create({ id: 'alice', plan: 'free' });
    const a = await keys.create({ name: 'a', ownerId: 'alice' });
    const b = await keys.create({ name: 'b', ownerId: 'alice' });
    const codes = [];
    for (const key of [a.key, b.key, a.key, b.key, a.key, b.key]) codes.push(codeOf(await call(key)));
    expect(codes).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'quota_exceeded']);
    const refused = await call(a.key);
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.error.status).toBe(429);
    expect(refused.error.body).toMatchObject({
      code: 'quota_exceeded',
      detail: 'Over the account\'s quota "account-quota"',
    });
    expect(refused.error.headers['retry-after']).toMatch(/^\d+$/);
    // A key of another account, and a key without one, are not touched.
    await accounts.create({ id: 'bob', plan: 'pro' });
    const bob = await keys.create({ name: 'bob', ownerId: 'bob' });
    const loose = await keys.create({ name: 'no owner' });
    expect([codeOf(await call(bob.key)), codeOf(await call(loose.key))]).toEqual(['ok', 'ok']);
  });

  it('names the account limits in the RateLimit headers, the tightest first', async () => {
    const { accounts, keys, call } = setup({
      burst: {
        rateLimits: [
          { limit: 10, windowSeconds: 1 },
          { limit: 20, windowSeconds: 60 },
        ],
        quota: { limit: 1000, period: 'day' },
      },
    });
    await accounts.create({ id: 'carol', plan: 'burst' });
    const key = await keys.create({
      name: 'k',
      ownerId: 'carol',
      rateLimit: { limit: 100, windowSeconds: 60 },
    });
    const result = await call(key.key);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    // Units a second: 1000/day, 20/60 s, 100/60 s (the key's), 10/1 s.
    expect(result.headers['ratelimit-policy']).toBe(
      '"account-quota";q=1000;w=86400, "account-rate-60s";q=20;w=60, "rate";q=100;w=60, "account-rate-1s";q=10;w=1',
    );
    expect(result.headers.ratelimit).toMatch(
      /^"account-quota";r=999;t=\d+, "account-rate-60s";r=19;t=\d+, "rate";r=99;t=\d+, "account-rate-1s";r=9;t=1$/,
    );
  });

  it("charges a key's limits and its account's all or nothing", async () => {
    const { accounts, keys, call, keywarden } = setup();
    await accounts.create({ id: 'alice', plan: 'free' });
    const small = await keys.create({
      name: 'small',
      ownerId: 'alice',
      quota: { limit: 2, period: 'month' },
    });
    expect([
      codeOf(await call(small.key)),
      codeOf(await call(small.key)),
      codeOf(await call(small.key)),
    ]).toEqual(['ok', 'ok', 'quota_exceeded']);
    const status = (await keywarden.peekLimits(small.record.id))!;
    expect(status.quota).toMatchObject({ limit: 2, used: 2 });
    // The key's refusal charged the account nothing: 2 of its 5 are used.
    expect(status.account).toMatchObject({
      id: 'alice',
      plan: 'free',
      quota: { limit: 5, used: 2, remaining: 3 },
    });
    expect(status.account!.rateLimits).toEqual([expect.objectContaining({ limit: 60, used: 3 - 1 })]);
    // A cost the account cannot take charges the key nothing either.
    const other = await keys.create({
      name: 'other',
      ownerId: 'alice',
      quota: { limit: 100, period: 'month' },
    });
    expect(codeOf(await call(other.key, 4))).toBe('quota_exceeded');
    expect((await keywarden.peekLimits(other.record.id))!.quota).toMatchObject({ used: 0 });
  });

  it('never refills: creating, rotating and revoking keys leave the counts where they are', async () => {
    const { accounts, keys, call } = setup();
    await accounts.create({ id: 'alice', plan: 'free' });
    let key = await keys.create({ name: 'k', ownerId: 'alice' });
    for (let i = 0; i < 5; i++) expect(codeOf(await call(key.key))).toBe('ok');
    expect(codeOf(await call(key.key))).toBe('quota_exceeded');
    key = (await keys.rotate(key.record.id, { gracePeriodSeconds: 0 }))!;
    expect(codeOf(await call(key.key))).toBe('quota_exceeded');
    await keys.revoke(key.record.id);
    const fresh = await keys.create({ name: 'fresh', ownerId: 'alice' });
    expect(codeOf(await call(fresh.key))).toBe('quota_exceeded');
  });

  it('is exact under concurrency: 1,000 parallel requests over 5 keys, an account quota of 100', async () => {
    const { accounts, keys, call } = setup({ team: { quota: { limit: 100, period: 'month' } } });
    await accounts.create({ id: 'team', plan: 'team' });
    const made = await Promise.all(
      Array.from({ length: 5 }, (_, i) => keys.create({ name: `k${i}`, ownerId: 'team' })),
    );
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => call(made[i % 5]!.key)));
    expect(results.filter((r) => r.ok)).toHaveLength(100);
    expect(results.filter((r) => !r.ok && r.error.code === 'quota_exceeded')).toHaveLength(900);
  });

  it("refuses a suspended account's keys and tokens with 403 account_suspended until it is resumed", async () => {
    const { accounts, keys, call, keywarden, request, events } = setup();
    await accounts.create({ id: 'alice', plan: 'free' });
    const key = await keys.create({ name: 'k', ownerId: 'alice' });
    const { token } = await keywarden.mintAccessToken(key.record.id);
    const viaToken = () => keywarden.authenticate(request(`AccessToken ${token}`, 'authorization'));
    expect([codeOf(await call(key.key)), codeOf(await viaToken())]).toEqual(['ok', 'ok']);
    const established = await call(key.key);
    if (!established.ok) throw new Error('not authenticated');
    const { principal } = established;
    await accounts.suspend('alice');
    const refused = await call(key.key);
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect([refused.error.status, refused.error.body]).toEqual([
      403,
      {
        type: 'urn:keywarden:error:account_suspended',
        title: 'Account suspended',
        status: 403,
        code: 'account_suspended',
      },
    ]);
    expect(JSON.stringify(refused.error.body)).not.toContain(key.key);
    expect(codeOf(await viaToken())).toBe('account_suspended');
    // A handler charging a principal established before the suspension is refused too.
    const charged = await keywarden.chargeUnits(principal, 1);
    expect(charged.ok ? 'ok' : charged.error.code).toBe('account_suspended');
    expect(events.filter((e) => e.type === 'auth.failed').at(-1)).toMatchObject({
      reason: 'account_suspended',
    });
    await accounts.resume('alice');
    expect([codeOf(await call(key.key)), codeOf(await viaToken())]).toEqual(['ok', 'ok']);
  });

  it('fails closed on an account whose plan is not configured, with one event, and recovers when fixed', async () => {
    const { accounts, keys, call, events } = setup();
    await accounts.create({ id: 'dora', plan: 'enterprise' });
    const key = await keys.create({ name: 'k', ownerId: 'dora' });
    const first = await call(key.key);
    const second = await call(key.key);
    expect([first, second].map((r) => (r.ok ? 200 : r.error.status))).toEqual([503, 503]);
    expect(events.filter((e) => e.type === 'account.plan_unknown')).toEqual([
      expect.objectContaining({ accountId: 'dora', plan: 'enterprise' }),
    ]);
    expect(events.filter((e) => e.type === 'auth.failed').at(-1)).toMatchObject({ reason: 'unknown_plan' });
    await accounts.update('dora', { plan: 'pro' });
    expect(codeOf(await call(key.key))).toBe('ok');
    // Without any plans configured, every account's plan is unknown: closed, never open.
    const bare = setup('none');
    await bare.accounts.create({ id: 'erin', plan: 'free' });
    const erinKey = await bare.keys.create({ name: 'k', ownerId: 'erin' });
    expect(codeOf(await bare.call(erinKey.key))).toBe('auth_unavailable');
  });

  it('follows a change of plan or overrides on the next request', async () => {
    const { accounts, keys, call } = setup();
    await accounts.create({ id: 'alice', plan: 'free' });
    const key = await keys.create({ name: 'k', ownerId: 'alice' });
    for (let i = 0; i < 5; i++) await call(key.key);
    expect(codeOf(await call(key.key))).toBe('quota_exceeded');
    await accounts.update('alice', { plan: 'pro' });
    expect(codeOf(await call(key.key))).toBe('ok');
    await accounts.update('alice', { overrides: { quota: { limit: 6, period: 'month' } } });
    expect(codeOf(await call(key.key))).toBe('quota_exceeded'); // 6 used: the same counter, a new limit
    await accounts.update('alice', { overrides: { quota: null } });
    expect(codeOf(await call(key.key))).toBe('ok');
  });

  it('answers a warm request of an account key at once (no promise) on the memory store', async () => {
    const { accounts, keys, keywarden, request } = setup();
    await accounts.create({ id: 'alice', plan: 'pro' });
    const key = await keys.create({ name: 'k', ownerId: 'alice' });
    await keywarden.authenticate(request(key.key));
    const warm = keywarden.authenticateNow(request(key.key));
    expect(warm).not.toBeInstanceOf(Promise);
    expect((warm as AuthResult).ok).toBe(true);
  });

  it("meters an account's usage per day over all its keys: a purged key's stays, refusals once the account is known", async () => {
    const { accounts, keys, call, keywarden, clock } = setup();
    await accounts.create({ id: 'alice', plan: 'free' });
    await accounts.create({ id: 'bob', plan: 'pro' });
    const [one, two] = [
      await keys.create({ name: 'a', ownerId: 'alice' }),
      await keys.create({ name: 'b', ownerId: 'alice' }),
    ];
    const bobs = await keys.create({ name: 'c', ownerId: 'bob' });
    await call(one.key, 2);
    await call(two.key, 1);
    await call(two.key, 3); // 6 > 5: quota_exceeded
    await call(bobs.key, 4);
    await keys.revoke(two.record.id);
    clock.advance(86_400_000); // the next day
    expect(await keys.purge({ olderThanDays: 0 })).toBe(1);
    await accounts.suspend('alice');
    expect(codeOf(await call(one.key))).toBe('account_suspended');
    const day = (offset: number) => new Date(Date.UTC(2026, 0, 15 + offset)).toISOString().slice(0, 10);
    expect(await accounts.usage('alice', { from: day(0), to: day(1) })).toEqual([
      { day: day(0), requests: 2, units: 3, refusals: { quota_exceeded: 1 } },
      { day: day(1), requests: 0, units: 0, refusals: { account_suspended: 1 } },
    ]);
    expect(await accounts.usage('bob', { from: day(0), to: day(1) })).toEqual([
      { day: day(0), requests: 1, units: 4, refusals: {} },
    ]);
    // The keys' own usage is still there beside it.
    expect(await keys.usage(one.record.id, { from: day(0), to: day(1) })).toHaveLength(2);
    await keywarden.close();
  });

  it('charges credits past the quota on a plan with overage on credits, never below none, then 402 credits_exhausted', async () => {
    const { accounts, keys, call, keywarden, events } = setup();
    await accounts.create({ id: 'carol', plan: 'metered' });
    const key = await keys.create({ name: 'k', ownerId: 'carol' });
    for (let i = 0; i < 3; i++) expect(codeOf(await call(key.key))).toBe('ok');
    const refused = await call(key.key);
    expect(refused.ok ? 'ok' : [refused.error.status, refused.error.code]).toEqual([
      402,
      'credits_exhausted',
    ]);
    const problem = (refused as Extract<AuthResult, { ok: false }>).error;
    expect(problem.headers['retry-after']).toBeUndefined();
    expect(problem.body).toMatchObject({ status: 402, code: 'credits_exhausted' });
    expect(events.filter((e) => e.type === 'limit.exceeded').at(-1)).toMatchObject({
      policy: 'credits',
      limit: 0,
    });
    await accounts.credit('carol', 5, { reason: 'invoice 1' });
    expect((await accounts.get('carol'))?.credits).toBe(5);
    const spent: string[] = [];
    for (const cost of [2, 2, 2, 1]) spent.push(codeOf(await call(key.key, cost)));
    // 2 + 2 of 5; a third 2 would leave -1: refused, then the last unit.
    expect(spent).toEqual(['ok', 'ok', 'credits_exhausted', 'ok']);
    const ok = await call(key.key, 1);
    expect(codeOf(ok)).toBe('credits_exhausted');
    const peeked = await keywarden.peekLimits(key.record.id);
    expect(peeked?.account).toMatchObject({
      quota: { limit: 3, used: 3, remaining: 0 },
      credits: { granted: 5, spent: 5, remaining: 0 },
    });
    // A plan without overage on credits: 429 as before, credits untouched.
    await accounts.update('carol', { overrides: { overage: 'refuse' } });
    expect(codeOf(await call(key.key))).toBe('quota_exceeded');
    // Usage says which units the credits paid.
    const today = new Date(Date.UTC(2026, 0, 15)).toISOString().slice(0, 10);
    expect(await accounts.usage('carol', { from: today, to: today })).toEqual([
      {
        day: today,
        requests: 6,
        units: 8,
        credits: 5,
        refusals: { credits_exhausted: 3, quota_exceeded: 1 },
      },
    ]);
  });

  it('still refuses past a rate limit on credits (429), and counts credits per account over its keys', async () => {
    const { accounts, keys, call } = setup({
      burst: {
        rateLimits: [{ limit: 4, windowSeconds: 60 }],
        quota: { limit: 1, period: 'day' },
        overage: 'credits',
      },
    });
    await accounts.create({ id: 'dave', plan: 'burst' });
    await accounts.credit('dave', 100, { reason: 'prepaid' });
    const [a, b] = [
      await keys.create({ name: 'a', ownerId: 'dave' }),
      await keys.create({ name: 'b', ownerId: 'dave' }),
    ];
    const codes: string[] = [];
    for (let i = 0; i < 6; i++) codes.push(codeOf(await call((i % 2 === 0 ? a : b).key)));
    expect(codes).toEqual(['ok', 'ok', 'ok', 'ok', 'rate_limited', 'rate_limited']);
  });

  it('tells usage.threshold once per crossing of 80 % and 100 % of the quota, again in the next period, and once when credits fall below the floor', async () => {
    const clock = frozenClock(Date.UTC(2026, 0, 15, 12));
    const store = createMemoryKeyStore();
    const events: KeywardenEvent[] = [];
    const keys = createKeyManager({
      store,
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
      now: clock.now,
    });
    const plans: Plans = { metered: { quota: { limit: 10, period: 'day' }, overage: 'credits' } };
    const keywarden = createKeywarden({
      keys,
      requireHttps: false,
      now: clock.now,
      plans,
      thresholds: { quota: [80, 100], creditsBelow: 3 },
      onEvent: (event) => events.push(event),
    });
    await keys.accounts.create({ id: 'erin', plan: 'metered' });
    await keys.accounts.credit('erin', 5, { reason: 'prepaid' });
    const { key } = await keys.create({ name: 'k', ownerId: 'erin' });
    const call = (cost = 1) =>
      keywarden.authenticate({ method: 'GET', url: '/x', headers: { 'x-api-key': key } }, { cost });
    const crossings = async () => {
      await new Promise((resolve) => setTimeout(resolve, 10)); // claims settle after the answer
      return events.filter((e) => e.type === 'usage.threshold');
    };
    for (let i = 0; i < 7; i++) await call();
    expect(await crossings()).toEqual([]);
    await call(2); // 7 -> 9: past 80 %
    expect(await crossings()).toEqual([
      expect.objectContaining({ accountId: 'erin', kind: 'quota', percent: 80, limit: 10, used: 9 }),
    ]);
    await call(); // 10: 100 %
    for (let i = 0; i < 3; i++) await call(); // on credits: 5 -> 2 left, below 3
    await call(); // 1 left: no second credits event
    expect((await crossings()).map((e) => ('percent' in e ? e.percent : `credits ${e.left}`))).toEqual([
      80,
      100,
      'credits 2',
    ]);
    clock.advance(86_400_000); // the next day: a new quota period
    for (let i = 0; i < 10; i++) await call();
    expect(
      (await crossings()).filter((e) => e.kind === 'quota').map((e) => ('percent' in e ? e.percent : 0)),
    ).toEqual([80, 100, 80, 100]);
    await keywarden.close();
  });

  it('checks the plans at start-up', () => {
    const bad: [unknown, string][] = [
      [{ 'has space': {} }, 'plans.has space'],
      [{ free: { quota: { limit: -1, period: 'month' } } }, 'plans.free.quota.limit'],
      [{ free: { rateLimits: { limit: 1, windowSeconds: 1 } } }, 'plans.free.rateLimits'],
      [{ free: { credits: true } }, 'plans.free'],
      [{}, 'plans'],
      [[], 'plans'],
    ];
    for (const [plans, option] of bad) {
      let caught: unknown;
      try {
        setup(plans as Plans);
      } catch (error) {
        caught = error;
      }
      expect(caught, option).toBeInstanceOf(KeywardenConfigError);
      expect((caught as KeywardenConfigError).option).toBe(option);
    }
    const { accounts: _none, ...keysOnly } = createMemoryKeyStore();
    expect(() => setup(PLANS, keysOnly)).toThrow(/keeps accounts/);
  });
});
