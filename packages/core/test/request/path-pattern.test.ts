import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSafeRawPath, isValidPathPattern, MAX_PATH_LENGTH, matchPathPattern } from '../../src/index.js';

describe('isSafeRawPath refuses', () => {
  it.each([
    ['empty', ''],
    ['relative', 'v3/files/a'],
    ['a dot segment', '/v3/files/./a'],
    ['a dot-dot segment', '/v3/files/../admin'],
    ['a trailing dot-dot', '/v3/files/..'],
    ['a trailing dot', '/v3/files/.'],
    ['encoded dot-dot (lower case)', '/v3/files/%2e%2e/admin'],
    ['encoded dot-dot (upper case)', '/v3/files/%2E%2E/admin'],
    ['half-encoded dot-dot', '/v3/files/.%2e/admin'],
    ['encoded single dot', '/v3/files/%2e/a'],
    ['a double slash', '/v3//files/a'],
    ['a leading double slash', '//v3/files/a'],
    ['a backslash', '/v3/files\\..\\admin'],
    ['an encoded slash', '/v3/files/a%2fb'],
    ['an encoded slash (upper)', '/v3/files/a%2Fb'],
    ['an encoded backslash', '/v3/files/a%5cb'],
    ['double encoding', '/v3/files/%252e%252e/admin'],
    ['a malformed escape', '/v3/files/%zz'],
    ['a truncated escape', '/v3/files/a%2'],
    ['a lone percent', '/v3/files/%'],
    ['an encoded control byte', '/v3/files/a%00b'],
    ['an encoded DEL', '/v3/files/a%7f'],
    ['an encoded non-ASCII byte', '/v3/files/%c3%a9'],
    ['a raw control character', '/v3/files/a\tb'],
    ['a raw space', '/v3/files/a b'],
    ['raw non-ASCII', '/v3/files/é'],
    ['over 8 KB', `/${'a'.repeat(MAX_PATH_LENGTH)}`],
  ])('%s', (_name, path) => {
    expect(isSafeRawPath(path)).toBe(false);
  });
});

describe('isSafeRawPath accepts', () => {
  it.each([
    '/',
    '/v3/file-ops/upload/',
    '/v3/files/my-project/result.png',
    '/v3/files/a%20b.png',
    '/v3/files/...',
    '/v3/files/.hidden',
    '/v3/files/a..b',
    '/v3/files/%2e%2e%2e',
    `/${'a'.repeat(MAX_PATH_LENGTH - 1)}`,
  ])('%s', (path) => {
    expect(isSafeRawPath(path)).toBe(true);
  });
});

describe('path patterns', () => {
  it.each([
    ['', false],
    ['**', false],
    ['/v3/*.png', false],
    ['/v3/*/process/', false],
    ['/v3/files*', false],
    ['v3/files/*', false],
    ['/v3/../*', false],
    ['/v3//*', false],
    [`/${'a'.repeat(512)}`, false],
    ['*', true],
    ['/v3/files/*', true],
    ['/v3/file-ops/upload/', true],
    ['/v3/tools/ai/remove-bg/process/', true],
  ])('validity of %j is %s', (pattern, valid) => {
    expect(isValidPathPattern(pattern)).toBe(valid);
  });

  it.each([
    // the cases of the access-token model's public docs
    ['/v3/files/*', '/v3/files/my-project/result.png', true],
    ['*', '/anything/at/all', true],
    ['/v3/file-ops/upload/', '/v3/file-ops/upload/', true],
    ['/v3/file-ops/upload/', '/v3/file-ops/upload', false],
    ['/v3/file-ops/upload/', '/v3/file-ops/upload/x', false],
    ['/v3/file-ops/upload/', '/V3/file-ops/upload/', false],
    // prefixes
    ['/v3/files/*', '/v3/files/a', true],
    ['/v3/files/*', '/v3/files/', false],
    ['/v3/files/*', '/v3/files', false],
    ['/v3/files/*', '/v3/filesX/a', false],
    ['/v3/files/*', '/v3/Files/a', false],
    // attacks under an allowed prefix
    ['/v3/files/*', '/v3/files/../admin', false],
    ['/v3/files/*', '/v3/files/%2e%2e/admin', false],
    ['/v3/files/*', '/v3/files/%2E%2e/admin', false],
    ['/v3/files/*', '/v3/files/..%2fadmin', false],
    ['/v3/files/*', '/v3/files/a%2f..%2f..%2fadmin', false],
    ['/v3/files/*', '/v3/files//etc/passwd', false],
    ['/v3/files/*', '/v3/files/a\\..\\b', false],
    ['/v3/files/*', '/v3/files/%252e%252e/admin', false],
    // an invalid pattern matches nothing
    ['/v3/*.png', '/v3/a.png', false],
  ])('%s covers %s: %s', (pattern, path, expected) => {
    expect(matchPathPattern(pattern, path)).toBe(expected);
  });

  it('never throws, and a prefix pattern matches only safe paths below it', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.string({ maxLength: 80 }), (pattern, path) => {
        const matched = matchPathPattern(pattern, path);
        if (matched && pattern !== '*') {
          expect(isSafeRawPath(path)).toBe(true);
          expect(path.startsWith(pattern.replace(/\*$/, ''))).toBe(true);
        }
      }),
      { numRuns: 5000 },
    );
  });
});
