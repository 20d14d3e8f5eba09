import { describe, expect, it } from 'vitest';
import { createArgon2Hasher, createHmacHasher, generateApiKey } from '../../src/index.js';

describe('argon2id hasher', () => {
  it('uses OWASP minimum parameters by default and stores a PHC string', async () => {
    const hasher = createArgon2Hasher();
    const { key } = generateApiKey('kw_live');
    const stored = await hasher.hash(key);
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(stored).not.toContain(key);
    expect(await hasher.verify(stored, key)).toBe(true);
    expect(await hasher.verify(stored, generateApiKey('kw_live').key)).toBe(false);
  });

  it('verifies hashes made with other parameters (the PHC string carries them)', async () => {
    const { key } = generateApiKey('kw_live');
    const stored = await createArgon2Hasher({ memoryCost: 1024, timeCost: 1 }).hash(key);
    expect(stored).toContain('m=1024,t=1,p=1');
    expect(await createArgon2Hasher().verify(stored, key)).toBe(true);
  });

  it.each([
    ['an empty string', ''],
    ['garbage', 'not a hash'],
    [
      'an argon2i hash',
      '$argon2i$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A',
    ],
    ['a truncated argon2id hash', '$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHQ'],
    ['an HMAC hash', '$hmac-sha256$k=1$AAAA'],
  ])('answers false, never throws, for %s', async (_name, stored) => {
    expect(await createArgon2Hasher().verify(stored, 'kw_live_x')).toBe(false);
  });

  it.each([{ memoryCost: 0 }, { timeCost: 0 }, { parallelism: 1.5 }])(
    'refuses bad parameters %j',
    (options) => {
      expect(() => createArgon2Hasher(options)).toThrow(RangeError);
    },
  );
});

describe('HMAC-SHA-256 hasher', () => {
  const pepper = 'p'.repeat(32);

  it('hashes with the pepper and verifies', async () => {
    const hasher = createHmacHasher({ pepper });
    const { key } = generateApiKey('kw_live');
    const stored = await hasher.hash(key);
    expect(stored).toMatch(/^\$hmac-sha256\$k=1\$[A-Za-z0-9_-]{43}$/);
    expect(await hasher.verify(stored, key)).toBe(true);
    expect(await hasher.verify(stored, generateApiKey('kw_live').key)).toBe(false);
  });

  it('refuses a hash made with another pepper or pepper id', async () => {
    const { key } = generateApiKey('kw_live');
    const stored = await createHmacHasher({ pepper }).hash(key);
    expect(await createHmacHasher({ pepper: 'q'.repeat(32) }).verify(stored, key)).toBe(false);
    expect(await createHmacHasher({ pepper, pepperId: '2' }).verify(stored, key)).toBe(false);
  });

  it.each(['', '$hmac-sha256$k=1$', '$hmac-sha256$k=1$AAAA', '$argon2id$v=19$m=1,t=1,p=1$x$y'])(
    'answers false for %j',
    async (stored) => {
      expect(await createHmacHasher({ pepper }).verify(stored, 'kw_live_x')).toBe(false);
    },
  );

  it('refuses a pepper under 32 bytes and a bad pepper id', () => {
    expect(() => createHmacHasher({ pepper: 'short' })).toThrow(RangeError);
    expect(() => createHmacHasher({ pepper: new Uint8Array(31) })).toThrow(RangeError);
    expect(() => createHmacHasher({ pepper, pepperId: 'a$b' })).toThrow(TypeError);
  });
});
