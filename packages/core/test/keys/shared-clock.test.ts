import { describe, expect, it } from 'vitest';
import { createKeyManager, createKeywarden, createMemoryKeyStore } from '../../src/index.js';
import { entryPathOf } from '../../src/keys/entry-path.js';
import { fastArgon2, frozenClock } from '../helpers.js';

// A request reads the clock once: keywarden's reading is the request's time, and a key manager
// whose clock is Date.now as well takes it instead of reading its own.
describe('one clock read a request', () => {
  it("a key manager on Date.now takes the caller's reading, on the warm path and for a token's key", async () => {
    // Records stay fresh for an hour, so that a time a minute ahead still takes the warm path.
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: fastArgon2(),
      cache: { recordTtlMs: 3_600_000 },
    });
    const { key, record } = await keys.create({ name: 'k', expiresIn: 60 });
    expect(await keys.verify(key)).toMatchObject({ ok: true }); // cached and verified: the warm path
    const path = entryPathOf(keys);
    const later = Date.now() + 61_000;
    expect(path.verifyEntryNow(key, undefined, later)).toMatchObject({ ok: false, reason: 'expired' });
    expect(path.lookupEntryNow(record.id, later)).toMatchObject({ ok: false, reason: 'expired' });
    expect(path.verifyEntryNow(key, undefined, Date.now())).toMatchObject({ id: record.id });
    expect(path.verifyEntryNow(key)).toMatchObject({ id: record.id });
  });

  it('a key manager with a clock of its own reads that clock, whatever the caller says', async () => {
    const clock = frozenClock();
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: fastArgon2(),
      now: clock.now,
      cache: { recordTtlMs: 3_600_000 },
    });
    const { key, record } = await keys.create({ name: 'k', expiresIn: 60 });
    expect(await keys.verify(key)).toMatchObject({ ok: true });
    const path = entryPathOf(keys);
    expect(path.verifyEntryNow(key, undefined, clock.now() + 61_000)).toMatchObject({ id: record.id });
    clock.advance(61_000);
    expect(path.verifyEntryNow(key, undefined, clock.now() - 61_000)).toMatchObject({ reason: 'expired' });
  });

  it('keywarden on a clock of its own hands the key manager no time: the manager reads Date.now', async () => {
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: fastArgon2(),
      cache: { recordTtlMs: 3_600_000 },
    });
    const { key, record } = await keys.create({ name: 'k', expiresIn: 60 });
    // keywarden's clock says the key expired a minute ago; the key manager's (Date.now) says not.
    const keywarden = createKeywarden({ keys, requireHttps: false, now: () => Date.now() + 120_000 });
    for (let i = 0; i < 2; i++) {
      // The first request verifies the key (the cold path); the second takes the warm path.
      const result = await keywarden.authenticate({
        method: 'GET',
        url: '/x',
        headers: { 'x-api-key': key },
      });
      expect(result).toMatchObject({ ok: true, principal: { keyId: record.id } });
    }
  });
});
