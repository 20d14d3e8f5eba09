// Holds: reserve units before work, then commit or release them (in memory; the Redis store and
// the adapters have their own tests).
import { describe, expect, it } from 'vitest';
import {
  AuthError,
  type AuthRequest,
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  generateTokenSecret,
  type Hold,
  type KeywardenEvent,
  type Plans,
  type Principal,
  type ReserveResult,
} from '../../src/index.js';

/** A call that may throw at once or reject later, as a promise either way. */
const attempt = <T>(call: () => T) => Promise.resolve().then(call);

const PLANS: Plans = {
  free: { quota: { limit: 5, period: 'month' } },
  metered: { quota: { limit: 2, period: 'month' }, overage: 'credits' },
};

async function setup() {
  const keys = createKeyManager({
    store: createMemoryKeyStore(),
    hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
  });
  const events: KeywardenEvent[] = [];
  const keywarden = createKeywarden({
    keys,
    requireHttps: false,
    plans: PLANS,
    tokens: { secrets: [{ id: 'k1', secret: generateTokenSecret() }] },
    onEvent: (event) => events.push(event),
  });
  const request = (credential: string, header = 'x-api-key'): AuthRequest => ({
    method: 'POST',
    url: '/v3/tools/upscale',
    headers: { [header]: credential },
  });
  /** The principal of a request that charges nothing itself (cost 0). */
  const principalOf = async (credential: string, header?: string): Promise<Principal> => {
    const result = await keywarden.authenticate(request(credential, header), { cost: 0 });
    if (!result.ok) throw result.error;
    return result.principal;
  };
  await keys.accounts.create({ id: 'alice', plan: 'free' });
  const own = await keys.create({ name: 'own quota', quota: { limit: 4, period: 'day' }, ownerId: 'alice' });
  const used = async () => {
    const status = await keywarden.peekLimits(own.record.id);
    return { key: status!.quota!.used, account: status!.account!.quota!.used };
  };
  return { keys, keywarden, events, principalOf, own, used };
}

describe('holds: reserve, then commit or release', () => {
  it('counts reserved units against the key and its account at once; release gives both back, commit keeps and meters them', async () => {
    const { keys, keywarden, principalOf, own, used } = await setup();
    const principal = await principalOf(own.key);
    const first = await principal.reserve(3);
    expect([first.units, first.state, first.reused]).toEqual([3, 'held', false]);
    expect(first.headers.ratelimit).toMatch(/"account-quota";r=2;.*"quota";r=1;/); // 5 a month, 4 a day
    expect(await used()).toEqual({ key: 3, account: 3 });
    // Nothing is over-admitted while the work runs: 2 more do not fit the key's 4.
    await expect(attempt(() => principal.reserve(2))).rejects.toMatchObject({
      status: 429,
      code: 'quota_exceeded',
    });
    await first.release();
    expect(first.state).toBe('released');
    expect(await used()).toEqual({ key: 0, account: 0 });
    const second = await principal.reserve(2);
    second.commit();
    second.commit(); // once settled, a hold stays so
    await second.release();
    expect(second.state).toBe('committed');
    expect(await used()).toEqual({ key: 2, account: 2 });
    // Only committed units are metered: the released 3 never were.
    const today = new Date().toISOString().slice(0, 10);
    expect(await keys.usage(own.record.id)).toEqual([
      { day: today, requests: 1, units: 2, refusals: { quota_exceeded: 1 } },
    ]);
    expect((await keys.accounts.usage('alice', { from: today, to: today }))[0]).toMatchObject({ units: 2 });
    const reserved = await keywarden.reserve(principal, 3);
    expect(reserved.ok ? 'ok' : [reserved.error.status, reserved.error.code]).toEqual([
      429,
      'quota_exceeded',
    ]);
  });

  it('reserves and commits synchronously on the memory store (no promise), and throws a refusal at once', async () => {
    const { keywarden, principalOf, own, used } = await setup();
    const principal = await principalOf(own.key);
    const hold = principal.reserve(2);
    expect(hold).not.toBeInstanceOf(Promise);
    (hold as Hold).commit();
    const answer = keywarden.reserve(principal, 3);
    expect(answer).not.toBeInstanceOf(Promise);
    expect((answer as ReserveResult).ok).toBe(false);
    expect(() => principal.reserve(3)).toThrow(AuthError);
    expect(await used()).toEqual({ key: 2, account: 2 });
  });

  it("charges a token's key, and a key without limits reserves without counting", async () => {
    const { keys, keywarden, principalOf, own, used } = await setup();
    const { token } = await keywarden.mintAccessToken(own.record.id, { paths: ['/v3/*'], expiresIn: 60 });
    const hold = await (await principalOf(`AccessToken ${token}`, 'authorization')).reserve(1);
    expect(await used()).toEqual({ key: 1, account: 1 });
    await hold.release();
    expect(await used()).toEqual({ key: 0, account: 0 });
    const loose = await keys.create({ name: 'no limits' });
    const free = await (await principalOf(loose.key)).reserve(1_000_000);
    expect(free.state).toBe('held');
    free.commit();
  });

  it('releases a hold left open after its timeout (hold.expired), and every open hold on close', async () => {
    const { keywarden, principalOf, own, used, events } = await setup();
    const principal = await principalOf(own.key);
    const hold = await principal.reserve(2, { timeoutMs: 50 });
    const other = await principal.reserve(1);
    expect(await used()).toEqual({ key: 3, account: 3 });
    await new Promise((resolve) => setTimeout(resolve, 400)); // the sweep runs four times a second
    expect(hold.state).toBe('released');
    expect(events.find((e) => e.type === 'hold.expired')).toMatchObject({
      keyId: own.record.id,
      units: 2,
      timeoutMs: 50,
    });
    expect(await used()).toEqual({ key: 1, account: 1 });
    await keywarden.close();
    expect(other.state).toBe('released');
    expect(await used()).toEqual({ key: 0, account: 0 });
  });

  it('gives credits back when the hold was paid by them', async () => {
    const { keys, keywarden, principalOf } = await setup();
    await keys.accounts.create({ id: 'carol', plan: 'metered' });
    await keys.accounts.credit('carol', 3, { reason: 'pack' });
    const key = await keys.create({ name: 'k', ownerId: 'carol' });
    const principal = await principalOf(key.key);
    (await principal.reserve(2)).commit(); // the quota of 2
    const onCredits = await principal.reserve(3);
    const credits = async () => (await keywarden.peekLimits(key.record.id))!.account!.credits;
    expect(await credits()).toEqual({ granted: 3, spent: 3, remaining: 0 });
    await expect(attempt(() => principal.reserve(1))).rejects.toMatchObject({
      status: 402,
      code: 'credits_exhausted',
    });
    await onCredits.release();
    expect(await credits()).toEqual({ granted: 3, spent: 0, remaining: 3 });
  });

  it('charges the quota again, not credits, once a release gave quota back', async () => {
    const { keys, keywarden, principalOf } = await setup();
    await keys.accounts.create({ id: 'dan', plan: 'metered' });
    await keys.accounts.credit('dan', 10, { reason: 'pack' });
    const key = await keys.create({ name: 'k', ownerId: 'dan' });
    const principal = await principalOf(key.key);
    const standing = async () => {
      const account = (await keywarden.peekLimits(key.record.id))!.account!;
      return { quota: account.quota!.used, credits: account.credits!.spent };
    };
    const first = principal.reserve(2) as Hold; // the whole quota
    (principal.reserve(1) as Hold).commit(); // on credits
    (principal.reserve(1) as Hold).commit(); // on credits (the quota known to be used up)
    expect(await standing()).toEqual({ quota: 2, credits: 2 });
    await first.release();
    (principal.reserve(1) as Hold).commit();
    expect(await standing()).toEqual({ quota: 1, credits: 2 });
  });

  it('charges a retried request with the same Idempotency-Key once, and again after the first was released', async () => {
    const { principalOf, own, used } = await setup();
    const principal = await principalOf(own.key);
    const first = await principal.reserve(2, { idempotencyKey: 'order-1' });
    const retry = await principal.reserve(2, { idempotencyKey: ['order-1'] });
    expect([retry.reused, retry.state]).toEqual([true, 'committed']);
    await retry.release(); // does nothing: the first holds the units
    expect(await used()).toEqual({ key: 2, account: 2 });
    first.commit();
    expect((await principal.reserve(2, { idempotencyKey: 'order-1' })).reused).toBe(true);
    // Another key of the same account shares the account's keys; another idempotency key charges.
    const other = await principal.reserve(1, { idempotencyKey: 'order-2' });
    expect(await used()).toEqual({ key: 3, account: 3 });
    await other.release();
    const again = await principal.reserve(1, { idempotencyKey: 'order-2' });
    expect(again.reused).toBe(false);
    expect(await used()).toEqual({ key: 3, account: 3 });
    // A refused reserve leaves its key free for the retry.
    await expect(attempt(() => principal.reserve(5, { idempotencyKey: 'order-3' }))).rejects.toMatchObject({
      status: 429,
    });
    expect((await principal.reserve(1, { idempotencyKey: 'order-3' })).reused).toBe(false);
  });

  it('refuses a malformed Idempotency-Key with 400 invalid_request, charging nothing', async () => {
    const { principalOf, own, used } = await setup();
    const principal = await principalOf(own.key);
    for (const bad of ['', 'a b', 'é', 'x'.repeat(256), 'a\nb', ['a', 'b'], []]) {
      const refused = await attempt(() => principal.reserve(1, { idempotencyKey: bad })).catch(
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(AuthError);
      expect((refused as AuthError).body).toMatchObject({ status: 400, code: 'invalid_request' });
    }
    expect((await principal.reserve(1, { idempotencyKey: 'x'.repeat(255) })).reused).toBe(false);
    expect(await used()).toEqual({ key: 1, account: 1 });
    expect(() => principal.reserve(-1)).toThrow(/reserve.units/);
    expect(() => principal.reserve(1, { timeoutMs: 0 })).toThrow(/reserve.timeoutMs/);
  });
});
