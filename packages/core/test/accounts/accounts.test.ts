import { describe, expect, it } from 'vitest';
import {
  createHmacHasher,
  createKeyManager,
  createMemoryKeyStore,
  DuplicateAccountError,
  type KeyStore,
  KeywardenConfigError,
  type KeywardenEvent,
} from '../../src/index.js';
import { frozenClock } from '../helpers.js';

function setup(store: KeyStore = createMemoryKeyStore()) {
  const clock = frozenClock(Date.UTC(2026, 0, 15));
  const events: KeywardenEvent[] = [];
  const keys = createKeyManager({
    store,
    hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    now: clock.now,
    onEvent: (event) => events.push(event),
  });
  return { keys, clock, events, accounts: keys.accounts };
}

describe('accounts', () => {
  it('refuses bad input with a config error naming the field, before the store is touched', async () => {
    const { accounts } = setup();
    const bad: [unknown, string][] = [
      [{ id: 'a', plan: 'has space' }, 'plan'],
      [{ id: 'a' }, 'plan'],
      [{ id: '', plan: 'free' }, 'id'],
      [{ id: 'evil\u202egnp', plan: 'free' }, 'id'],
      [{ id: 'a'.repeat(201), plan: 'free' }, 'id'],
      [{ id: 'a', plan: 'free', status: 'paused' }, 'status'],
      [
        {
          id: 'a',
          plan: 'free',
          overrides: {
            rateLimits: [
              { limit: 1, windowSeconds: 60 },
              { limit: 2, windowSeconds: 60 },
            ],
          },
        },
        'overrides.rateLimits',
      ],
      [
        {
          id: 'a',
          plan: 'free',
          overrides: {
            rateLimits: Array.from({ length: 9 }, (_, i) => ({ limit: 1, windowSeconds: i + 1 })),
          },
        },
        'overrides.rateLimits',
      ],
      [
        { id: 'a', plan: 'free', overrides: { quota: { limit: 5, period: 'week' } } },
        'overrides.quota.period',
      ],
      [{ id: 'a', plan: 'free', overrides: { maxKeys: 0 } }, 'overrides.maxKeys'],
      [{ id: 'a', plan: 'free', overrides: { credits: 5 } }, 'overrides'],
      [{ id: 'a', plan: 'free', metadata: { x: 'a'.repeat(5000) } }, 'metadata'],
      [{ id: 'a', plan: 'free', owner: 'x' }, 'owner'],
    ];
    for (const [input, option] of bad) {
      const error = await accounts.create(input as never).catch((e: unknown) => e);
      expect(error, JSON.stringify(input).slice(0, 80)).toBeInstanceOf(KeywardenConfigError);
      expect((error as KeywardenConfigError).option).toBe(option);
    }
    expect(await accounts.list()).toEqual([]);
  });

  it('creates, reads, changes, suspends and resumes, each change an audit event', async () => {
    const { accounts, events, clock } = setup();
    const made = await accounts.create({ id: 'alice', plan: 'free', metadata: { email: 'a@example.com' } });
    expect(made).toMatchObject({ id: 'alice', plan: 'free', status: 'active', overrides: {} });
    await expect(accounts.create({ id: 'alice', plan: 'pro' })).rejects.toBeInstanceOf(DuplicateAccountError);
    clock.advance(1000);
    const moved = await accounts.update('alice', { plan: 'pro', overrides: { quota: null, maxKeys: 20 } });
    expect(moved).toMatchObject({ plan: 'pro', overrides: { quota: null, maxKeys: 20 } });
    expect(moved!.updatedAt.getTime() - made.createdAt.getTime()).toBe(1000);
    expect((await accounts.suspend('alice'))!.status).toBe('suspended');
    expect((await accounts.resume('alice'))!.status).toBe('active');
    expect(await accounts.suspend('nobody')).toBeNull();
    expect(await accounts.update('nobody', { plan: 'pro' })).toBeNull();
    expect((await accounts.credit('alice', 500, { reason: 'invoice 12' }))!.credits).toBe(500);
    expect((await accounts.credit('alice', 250, { reason: 'goodwill' }))!.credits).toBe(750);
    expect(await accounts.credit('nobody', 5, { reason: 'x' })).toBeNull();
    for (const [amount, reason] of [
      [0, 'x'],
      [-5, 'x'],
      [1.5, 'x'],
      [5, ''],
      [5, 'bad\u202e'],
    ] as const)
      await expect(accounts.credit('alice', amount, { reason })).rejects.toBeInstanceOf(KeywardenConfigError);
    expect(events.filter((e) => e.type.startsWith('account.'))).toEqual([
      expect.objectContaining({ type: 'account.created', accountId: 'alice', plan: 'free' }),
      expect.objectContaining({ type: 'account.updated', accountId: 'alice', fields: ['plan', 'overrides'] }),
      expect.objectContaining({ type: 'account.suspended', accountId: 'alice' }),
      expect.objectContaining({ type: 'account.resumed', accountId: 'alice' }),
      expect.objectContaining({
        type: 'account.credited',
        accountId: 'alice',
        amount: 500,
        reason: 'invoice 12',
        credits: 500,
      }),
      expect.objectContaining({
        type: 'account.credited',
        accountId: 'alice',
        amount: 250,
        reason: 'goodwill',
        credits: 750,
      }),
    ]);
    expect((await accounts.get('alice'))!.metadata).toEqual({ email: 'a@example.com' });
  });

  it('revokes the keys of an account it deletes: no key goes on without its account', async () => {
    const { accounts, keys, events } = setup();
    await accounts.create({ id: 'bob', plan: 'pro' });
    const one = await keys.create({ name: 'one', ownerId: 'bob' });
    const two = await keys.create({ name: 'two', ownerId: 'bob' });
    await keys.revoke(two.record.id);
    const three = await keys.create({ name: 'three', ownerId: 'bob' });
    const other = await keys.create({ name: 'other', ownerId: 'carol' });
    expect(await accounts.delete('bob')).toBe(true);
    expect(await accounts.delete('bob')).toBe(false);
    expect(await accounts.get('bob')).toBeNull();
    expect(await keys.verify(one.key)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(await keys.verify(three.key)).toMatchObject({ ok: false, reason: 'revoked' });
    expect((await keys.verify(other.key)).ok).toBe(true);
    expect(events.find((e) => e.type === 'account.deleted')).toMatchObject({
      accountId: 'bob',
      keysRevoked: 2,
    });
  });

  it('says clearly when a store keeps no accounts', async () => {
    const full = createMemoryKeyStore();
    const { accounts: _omitted, ...keysOnly } = full;
    const { accounts } = setup(keysOnly);
    await expect(accounts.create({ id: 'a', plan: 'free' })).rejects.toThrow(/keeps no accounts/);
    await expect(accounts.list()).rejects.toThrow(/keeps no accounts/);
  });
});

describe('purge', () => {
  it('deletes keys revoked or expired past the retention, never live ones, each a key.deleted event', async () => {
    const { keys, clock, events } = setup();
    const live = await keys.create({ name: 'live' });
    const revoked = await keys.create({ name: 'revoked' });
    const expiring = await keys.create({ name: 'expiring', expiresIn: 86_400 });
    const recent = await keys.create({ name: 'recent' });
    await keys.revoke(revoked.record.id);
    clock.advance(32 * 86_400_000); // `expiring` ended 31 days ago, `revoked` 32
    await keys.revoke(recent.record.id);
    expect(keys.purgeAfterDays).toBe(30);
    expect(await keys.purge()).toBe(2);
    expect((await keys.list()).map((k) => k.name).sort()).toEqual(['live', 'recent']);
    expect(
      events
        .filter((e) => e.type === 'key.deleted')
        .map((e) => (e as { keyId: string }).keyId)
        .sort(),
    ).toEqual([revoked.record.id, expiring.record.id].sort());
    expect((await keys.verify(live.key)).ok).toBe(true);
    clock.advance(1);
    expect(await keys.purge({ olderThanDays: 0 })).toBe(1); // `recent`, revoked a moment ago
    await expect(keys.purge({ olderThanDays: -1 })).rejects.toThrow(RangeError);
    const forever = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
      purgeAfterDays: false,
    });
    expect(forever.purgeAfterDays).toBeNull();
  });
});
