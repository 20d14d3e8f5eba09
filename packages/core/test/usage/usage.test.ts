import { describe, expect, it } from 'vitest';
import {
  type AuthRequest,
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  createMemoryUsageStore,
  generateTokenSecret,
  type KeySettings,
  type KeywardenEvent,
  type UsageIncrement,
  type UsageOptions,
  type UsageStore,
} from '../../src/index.js';
import { frozenClock } from '../helpers.js';

const DAY = 86_400_000;

async function setup(settings: KeySettings = {}, usage?: UsageOptions | false) {
  const clock = frozenClock(Date.UTC(2026, 11, 1, 12, 0, 0));
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
    tokens: { secrets: [{ id: 't1', secret: generateTokenSecret() }] },
    ...(usage === undefined ? {} : { usage }),
    onEvent: (event) => events.push(event),
  });
  const { key, record } = await keys.create({ name: 'k', ...settings });
  const call = (credential: Record<string, string>, route?: { cost?: number; scopes?: string[] }) =>
    keywarden.authenticate(
      { method: 'GET', url: '/v3/files/a.png', headers: credential } as AuthRequest,
      route,
    );
  return { clock, keys, keywarden, key, record, call, events };
}

/** A usage store that records each batch, and fails while `down` is set. */
function recordingStore() {
  const inner = createMemoryUsageStore();
  const batches: UsageIncrement[][] = [];
  const state = { down: false };
  const store: UsageStore = {
    async add(batch, retentionDays) {
      if (state.down) throw new Error('usage store down');
      batches.push(batch.map((b) => ({ ...b, refusals: { ...b.refusals } })));
      return inner.add(batch, retentionDays);
    },
    read: (keyId, from, to) => inner.read(keyId, from, to),
  };
  return { store, batches, state };
}

describe('usage metering', () => {
  it('counts admitted requests, quota units and refusals by code, per key and UTC day; a token counts toward its key', async () => {
    const { keys, keywarden, key, record, call } = await setup({
      scopes: ['images:read'],
      quota: { limit: 10, period: 'month' },
    });
    expect((await call({ 'x-api-key': key }, { cost: 3 })).ok).toBe(true);
    expect((await call({ 'x-api-key': key }, { cost: 3 })).ok).toBe(true);
    const { token } = await keywarden.mintAccessToken(record.id);
    expect((await call({ authorization: `AccessToken ${token}` }, { cost: 2 })).ok).toBe(true);
    expect((await call({ 'x-api-key': key }, { cost: 5 })).ok).toBe(false); // quota_exceeded (8 + 5 > 10)
    expect((await call({ 'x-api-key': key }, { scopes: ['images:write'] })).ok).toBe(false); // insufficient_scope
    expect(await keys.usage(record.id)).toEqual([
      {
        day: '2026-12-01',
        requests: 3,
        units: 8,
        refusals: { quota_exceeded: 1, insufficient_scope: 1 },
      },
    ]);
  });

  it('never meters a guess: a wrong secret on a real key id, or an unknown id, makes no usage', async () => {
    const { keys, key, record, call } = await setup();
    const wrong = key.slice(0, -4) + (key.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect((await call({ 'x-api-key': wrong })).ok).toBe(false);
    expect((await call({ 'x-api-key': 'kw_live_nothing_here' })).ok).toBe(false);
    expect(await keys.usage(record.id)).toEqual([]);
  });

  it('starts a new day at 00:00 UTC, reads ranges, and forgets days past the retention', async () => {
    const { clock, keys, key, record, call } = await setup({}, { retentionDays: 3 });
    for (let day = 0; day < 4; day++) {
      for (let i = 0; i <= day; i++) expect((await call({ 'x-api-key': key })).ok).toBe(true);
      await keys.usage(record.id); // writes each day's counts
      clock.advance(DAY);
    }
    // Days 1 to 3 of December are kept (3 days up to the 4th's write); the 1st is gone.
    const days = await keys.usage(record.id, { from: '2026-11-25', to: new Date(Date.UTC(2026, 11, 4)) });
    expect(days.map((d) => [d.day, d.requests])).toEqual([
      ['2026-12-02', 2],
      ['2026-12-03', 3],
      ['2026-12-04', 4],
    ]);
    expect((await keys.usage(record.id, { from: '2026-12-03', to: '2026-12-03' })).map((d) => d.day)).toEqual(
      ['2026-12-03'],
    );
  });

  it('writes in batches, one per flush, not one per request', async () => {
    const { store, batches } = recordingStore();
    const { keys, key, record, call, keywarden } = await setup({}, { store, flushMs: 60_000 });
    const other = await keys.create({ name: 'other' });
    for (let i = 0; i < 500; i++) {
      await call({ 'x-api-key': key });
      await call({ 'x-api-key': other.key });
    }
    expect(batches).toHaveLength(0); // nothing written yet: counted in memory
    await keywarden.close();
    expect(batches).toHaveLength(1);
    expect(batches[0]!.map((b) => [b.keyId, b.requests]).sort()).toEqual(
      [
        [record.id, 500],
        [other.record.id, 500],
      ].sort(),
    );
  });

  it('counts a run of one key across flushes and days into the batch of its own time', async () => {
    const { store, batches } = recordingStore();
    const { clock, key, record, call, keywarden } = await setup({}, { store, flushMs: 60_000 });
    for (let i = 0; i < 3; i++) await call({ 'x-api-key': key });
    await keywarden.close();
    for (let i = 0; i < 2; i++) await call({ 'x-api-key': key });
    clock.advance(DAY);
    await call({ 'x-api-key': key });
    await keywarden.close();
    expect(batches.map((batch) => batch.map((b) => [b.keyId, b.day, b.requests]))).toEqual([
      [[record.id, '2026-12-01', 3]],
      [
        [record.id, '2026-12-01', 2],
        [record.id, '2026-12-02', 1],
      ],
    ]);
  });

  it('keeps counts while the usage store fails (store.error, operation usage), and writes them once it is back', async () => {
    const { store, state } = recordingStore();
    const { keys, key, record, call, keywarden, events } = await setup({}, { store, flushMs: 60_000 });
    for (let i = 0; i < 3; i++) await call({ 'x-api-key': key });
    state.down = true;
    await expect(keywarden.close()).rejects.toThrow(/usage store down/);
    expect(events.filter((e) => e.type === 'store.error')).toEqual([
      expect.objectContaining({ operation: 'usage', message: 'usage store down' }),
    ]);
    for (let i = 0; i < 2; i++) await call({ 'x-api-key': key });
    state.down = false;
    expect(await keys.usage(record.id)).toEqual([expect.objectContaining({ requests: 5 })]);
  });

  it('counts the extra units of a stacked route once, not its request twice', async () => {
    const { keys, keywarden, key, record, call } = await setup({ quota: { limit: 100, period: 'day' } });
    const first = await call({ 'x-api-key': key }, { cost: 1 });
    if (!first.ok) throw new Error('refused');
    const input = { method: 'GET', url: '/v3/files/a.png', headers: { 'x-api-key': key } };
    expect((await keywarden.authorizeAgain(input, first.principal, { cost: 4 }, 1)).ok).toBe(true);
    expect(await keys.usage(record.id)).toEqual([expect.objectContaining({ requests: 1, units: 4 })]);
  });

  it('counts nothing with usage: false, and keys.usage says why', async () => {
    const { keys, record, key, call } = await setup({}, false);
    await call({ 'x-api-key': key });
    await expect(keys.usage(record.id)).rejects.toThrow(/no usage is recorded/);
  });

  it('refuses bad ranges and options with clear errors', async () => {
    const { keys, record } = await setup();
    await expect(keys.usage(record.id, { from: '2026-13-01' })).rejects.toThrow(RangeError);
    await expect(keys.usage(record.id, { from: 'yesterday' })).rejects.toThrow(/YYYY-MM-DD/);
    await expect(keys.usage(record.id, { from: '2026-12-02', to: '2026-12-01' })).rejects.toThrow(/after/);
    const other = createKeyManager({ store: createMemoryKeyStore() });
    expect(() => createKeywarden({ keys: other, usage: { retentionDays: 0 } })).toThrow(/retentionDays/);
    expect(() => createKeywarden({ keys: other, usage: { store: {} as UsageStore } })).toThrow(/UsageStore/);
    expect(() => createKeywarden({ keys: other, usage: { colour: 1 } as never })).toThrow(/usage.colour/);
  });
});
