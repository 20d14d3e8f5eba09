import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  API_KEY_PARTS,
  API_KEY_REGEX,
  formatApiKey,
  generateApiKey,
  MAX_API_KEY_LENGTH,
  parseApiKey,
} from '../../src/index.js';
import { crc32Ascii } from '../../src/keys/crc32.js';

const live = new Set(['kw_live']);
const valid = formatApiKey('kw_live', '0123456789ab', 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef');

describe('parseApiKey refuses', () => {
  const swap = (s: string, i: number, c: string) => s.slice(0, i) + c + s.slice(i + 1);
  it.each([
    ['a number', 42, 'malformed'],
    ['undefined', undefined, 'malformed'],
    ['an empty string', '', 'malformed'],
    ['the prefix alone', 'kw_live_', 'malformed'],
    ['one character short', valid.slice(1), 'malformed'],
    ['one character long', `${valid}a`, 'malformed'],
    ['a key over the length cap', `kw_live_${'a'.repeat(MAX_API_KEY_LENGTH)}`, 'malformed'],
    ['a megabyte of text', 'x'.repeat(1 << 20), 'malformed'],
    ['an unknown prefix', valid.replace('kw_live', 'kw_test'), 'malformed'],
    ['an upper-case prefix', valid.replace('kw_live', 'KW_LIVE'), 'malformed'],
    ['no separator', valid.replace('kw_live_', 'kw_live-'), 'malformed'],
    ['a non-base62 body character', swap(valid, 10, '-'), 'malformed'],
    ['a space in the body', swap(valid, 12, ' '), 'malformed'],
    ['a non-ASCII body character', swap(valid, 12, 'é'), 'malformed'],
    ['a NUL byte', swap(valid, 20, '\0'), 'malformed'],
    ['leading white space', ` ${valid.slice(1)}`, 'malformed'],
    ['a changed secret character', swap(valid, 30, valid[30] === 'x' ? 'y' : 'x'), 'bad_checksum'],
    ['a changed id character', swap(valid, 9, valid[9] === 'x' ? 'y' : 'x'), 'bad_checksum'],
    [
      'a changed checksum character',
      swap(valid, valid.length - 1, valid.endsWith('0') ? '1' : '0'),
      'bad_checksum',
    ],
  ])('%s', (_name, input, reason) => {
    expect(parseApiKey(input, live)).toEqual({ ok: false, reason });
  });

  it('a bad character at either end of the body, whatever was checked before', () => {
    // The body check is a global regex that starts at `lastIndex`: no call may depend on the last.
    const first = valid.indexOf('_', 3) + 1;
    const bad = [swap(valid, first, '-'), swap(valid, valid.length - 1, '-'), swap(valid, first, '\u00ff')];
    for (let round = 0; round < 3; round++) {
      for (const key of bad) {
        expect(parseApiKey(key, live)).toEqual({ ok: false, reason: 'malformed' });
        expect(parseApiKey(valid, live).ok).toBe(true);
        expect(parseApiKey(key)).toEqual({ ok: false, reason: 'malformed' });
      }
    }
  });

  it('a prefix that a configured prefix only starts, or that only starts it', () => {
    const longer = formatApiKey('kw_live_x', '0123456789ab', 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef');
    expect(parseApiKey(longer, live)).toEqual({ ok: false, reason: 'malformed' });
    expect(parseApiKey(valid, new Set(['kw_live_x', 'kw']))).toEqual({ ok: false, reason: 'malformed' });
    expect(parseApiKey(valid, new Set(['kw_test', 'kw_live'])).ok).toBe(true);
  });

  it('a key whose prefix is not configured, even with a right checksum', () => {
    const testKey = formatApiKey('kw_test', '0123456789ab', 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef');
    expect(parseApiKey(testKey, live)).toEqual({ ok: false, reason: 'malformed' });
    expect(parseApiKey(testKey)).toMatchObject({ ok: true, prefix: 'kw_test' });
  });

  it('every single-character change of a real key', () => {
    const { key } = generateApiKey('kw_live');
    const alphabet = 'aZ09_-. é';
    for (let i = 0; i < key.length; i++) {
      for (const c of alphabet) {
        if (key[i] === c) continue;
        expect(parseApiKey(key.slice(0, i) + c + key.slice(i + 1), live).ok).toBe(false);
      }
    }
  });
});

describe('generateApiKey', () => {
  it('makes keys that parse, match the exported regex and carry their id', () => {
    for (let i = 0; i < 200; i++) {
      const { key, id } = generateApiKey('kw_live');
      expect(key).toMatch(API_KEY_REGEX);
      expect(parseApiKey(key, live)).toEqual({ ok: true, prefix: 'kw_live', id });
      const [, prefix, matchedId] = API_KEY_REGEX.exec(key)!;
      expect([prefix, matchedId]).toEqual(['kw_live', id]);
    }
  });

  it('holds at least 128 bits of secret, and no two keys repeat', () => {
    expect(API_KEY_PARTS.secret * Math.log2(62)).toBeGreaterThanOrEqual(128);
    const keys = new Set(Array.from({ length: 5000 }, () => generateApiKey('kw_test').key));
    expect(keys.size).toBe(5000);
  });

  it('draws body characters from the whole alphabet without an obvious bias', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      for (const c of generateApiKey('kw_live').key.slice(8, 8 + 44)) counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    expect(counts.size).toBe(62);
    const expected = (2000 * 44) / 62;
    for (const n of counts.values()) expect(Math.abs(n - expected) / expected).toBeLessThan(0.15);
  });

  it('refuses bad prefixes and parts', () => {
    expect(() => generateApiKey('KW')).toThrow(TypeError);
    expect(() => generateApiKey('kw__live')).toThrow(TypeError);
    expect(() => generateApiKey(`k${'w'.repeat(40)}`)).toThrow(TypeError);
    expect(() => formatApiKey('kw_live', 'short', 'x'.repeat(32))).toThrow(TypeError);
    expect(() => formatApiKey('kw_live', '0123456789a-', 'x'.repeat(32))).toThrow(TypeError);
  });
});

describe('the checksum', () => {
  it('is the zlib CRC-32, base62, in the last six characters', () => {
    const zcrc = (zlib as { crc32?: (data: string) => number }).crc32;
    for (const text of ['', 'a', 'kw_live_0123456789ab', 'The quick brown fox jumps over the lazy dog']) {
      if (zcrc) expect(crc32Ascii(text)).toBe(zcrc(text));
    }
    expect(crc32Ascii('The quick brown fox jumps over the lazy dog')).toBe(0x414fa339);
  });
});

describe('properties', () => {
  it('parseApiKey never throws, and accepts only what the regex matches', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), (input) => {
        const result = parseApiKey(input);
        if (result.ok) expect(input).toMatch(API_KEY_REGEX);
      }),
      { numRuns: 5000 },
    );
  });

  it('a generated key with any one character replaced by base62 is refused', () => {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.constantFrom(...'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'),
        (n, c) => {
          const { key } = generateApiKey('kw_live');
          const i = 8 + (n % 50);
          fc.pre(key[i] !== c);
          expect(parseApiKey(key.slice(0, i) + c + key.slice(i + 1), live)).toEqual({
            ok: false,
            reason: 'bad_checksum',
          });
        },
      ),
      { numRuns: 2000 },
    );
  });
});
