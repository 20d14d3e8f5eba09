import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSafeRawPath, isValidPathPattern, MAX_PATH_LENGTH, matchPathPattern } from '../../src/index.js';
import { pathOf, pathsAllow } from '../../src/request/path-pattern.js';

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
    ['an encoded lone non-ASCII byte (Latin-1, not UTF-8)', '/v3/files/caf%e9.png'],
    ['a UTF-8 sequence cut short', '/v3/files/caf%C3'],
    ['a UTF-8 lead byte followed by a raw character', '/v3/files/%C3a'],
    ['a stray continuation byte', '/v3/files/%A9'],
    ['an overlong slash (C0 AF)', '/v3/files/%C0%AFadmin'],
    ['an overlong dot (C0 AE)', '/v3/files/%C0%AE%C0%AE/admin'],
    ['an overlong three-byte form', '/v3/files/%E0%80%AF'],
    ['an overlong four-byte form', '/v3/files/%F0%80%80%AF'],
    ['a UTF-16 surrogate', '/v3/files/%ED%A0%80'],
    ['a code point past U+10FFFF', '/v3/files/%F4%90%80%80'],
    ['an encoded C1 control (U+0085)', '/v3/files/a%C2%85b'],
    ['a dot-dot segment with a parameter', '/v3/files/..;/admin'],
    ['a dot segment with a parameter', '/v3/files/.;x/a'],
    ['a trailing dot-dot with a parameter', '/v3/files/..;jsessionid=1'],
    ['an encoded parameter after dot-dot', '/v3/files/..%3b/admin'],
    ['an empty segment with a parameter', '/v3/files/;x/a'],
    ['double encoding through an encoded hex digit', '/v3/files/%25%32%65%25%32%65/admin'],
    ['double encoding of a slash', '/v3/files/a%252fb'],
    ['TWO DOT LEADER (NFKC ..)', '/v3/files/%E2%80%A5/admin'],
    ['ONE DOT LEADER (NFKC .)', '/v3/files/%E2%80%A4/a'],
    ['fullwidth dots (NFKC ..)', '/v3/files/%EF%BC%8E%EF%BC%8E/admin'],
    ['a dot and a fullwidth dot', '/v3/files/.%EF%BC%8E/admin'],
    ['small full stops (NFKC ..)', '/v3/files/%EF%B9%92%EF%B9%92'],
    ['a lookalike dot-dot with a parameter', '/v3/files/%E2%80%A5;x/admin'],
    ['dot-dot and a trailing space', '/v3/files/..%20/admin'],
    ['dot-dot and trailing spaces, last', '/v3/files/..%20%20'],
    ['a dot and a trailing space', '/v3/files/.%20/a'],
    ['dot-dot and an ideographic space (NFKC space)', '/v3/files/..%E3%80%80/admin'],
    ['a fullwidth solidus (NFKC /)', '/v3/files/a%EF%BC%8Fb'],
    ['a fullwidth reverse solidus (NFKC \\)', '/v3/files/a%EF%BC%BCb'],
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
    '/v3/files/caf%C3%A9.jpg',
    '/v3/files/caf%c3%a9.jpg',
    '/v3/files/%E6%97%A5%E6%9C%AC.png',
    '/v3/files/%F0%9F%96%BC.png',
    '/v3/files/%C2%A0',
    '/v3/files/%E2%80%A6', // HORIZONTAL ELLIPSIS: NFKC "...", an ordinary name
    '/v3/files/%20..',
    '/v3/files/a..%20',
    '/v3/files/%EF%BC%A1.png', // FULLWIDTH A
    '/v3/files/100%25/x.png',
    '/v3/files/100%25.png',
    '/v3/files/a%25',
    '/v3/files/a;b/c',
    '/v3/files/...;x',
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
    ['/v3/files/*', '/v3/files/..;/admin', false],
    ['/v3/files/*', '/v3/files/%C0%AE%C0%AE/admin', false],
    // user-named files in every language
    ['/v3/files/*', '/v3/files/caf%C3%A9.jpg', true],
    ['/v3/files/*', '/v3/files/my%20photo.jpg', true],
    ['/v3/files/*', '/v3/files/100%25/x.png', true],
    ['/v3/files/caf%C3%A9.jpg', '/v3/files/caf%C3%A9.jpg', true],
    ['/v3/files/caf%C3%A9.jpg', '/v3/files/caf%c3%a9.jpg', false], // raw paths: compared as sent
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

  it('what it accepts, decoded once, holds no dot segment (also in NFKC), empty segment, backslash, control or new escape', () => {
    const piece = fc.constantFrom(
      'a',
      'b',
      '.',
      ';',
      '%3b',
      '%2e',
      '%2E',
      '%25',
      '%32',
      '%65',
      '2e',
      '%C3%A9',
      '%C3',
      '%A9',
      '%C2%85',
      '%C0%AE',
      '%E0%80%AF',
      '%ED%A0%80',
      '%F0%9F%96%BC',
      '%20',
      '%E2%80%A5',
      '%EF%BC%8E',
      '%EF%BC%8F',
      '%00',
      '%5c',
      '%2f',
      '/',
      '\\',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
        const path = `/${pieces.join('')}`;
        if (!isSafeRawPath(path)) return;
        const decoded = decodeURIComponent(path); // throws for invalid UTF-8: the test fails
        expect(decoded, path).not.toMatch(/[\x00-\x1f\x7f-\x9f\\]/);
        expect(decoded, path).not.toMatch(/%[0-9A-Fa-f]{2}/);
        expect(decoded.normalize('NFKC'), path).not.toMatch(/\\/);
        expect(decoded.normalize('NFKC').split('/').length, path).toBe(decoded.split('/').length);
        const segments = decoded.split('/').slice(1);
        segments.forEach((segment, i) => {
          const head = segment.split(';')[0]!;
          const lookalike = head.normalize('NFKC').split(';')[0]!.trimEnd();
          if (i < segments.length - 1 || segment !== '')
            expect(head === '' || lookalike === '.' || lookalike === '..', path).toBe(false);
        });
      }),
      { numRuns: 20_000 },
    );
  });

  describe("pathsAllow (a request target against a key's and a token's patterns)", () => {
    // What it must equal: cut the path at `?` or `#`, refuse it unless safe, match each pattern.
    const reference = (paths: string[] | null, alsoPaths: string[] | null, url: string) => {
      const matches = (list: string[] | null) =>
        list === null || list.includes('*') || list.some((p) => matchPathPattern(p, pathOf(url)));
      const anyOf = (list: string[] | null) => list === null || list.includes('*');
      if (anyOf(paths) && anyOf(alsoPaths)) return true;
      return isSafeRawPath(pathOf(url)) && matches(paths) && matches(alsoPaths);
    };

    it.each([
      [['/v3/files/*'], null, '/v3/files/a.png?x=1', true],
      [['/v3/files/*'], null, '/v3/files/?x=1', false],
      [['/v3/files/*'], null, '/v3/files#/a', false],
      [['/v3/files/*'], null, '/v3/files/..?x', false],
      [['/v3/files/*'], null, '/v3/files/a/../b?x', false],
      [['/v3/files/*'], null, '/v3/files/a%?x', false],
      [['/v3/files/*'], null, '/v3/files/a?../..', true],
      [['/v3/upload/'], null, '/v3/upload/?token=1', true],
      [['/v3/upload/'], null, '/v3/upload', false],
      [['/v3/upload/'], null, '/v3/upload/x', false],
      [['/a/*', '/v3/upload/'], ['/v3/*'], '/v3/upload/#frag', true],
      [['/v3/files/*'], ['/v3/other/*'], '/v3/files/a', false],
      [['*'], ['/v3/files/*'], '/v3/files/a', true],
      [['*'], ['*'], '//unsafe/../path', true],
      [null, ['/v3/files/*'], '/v3/files/%2e%2e/x', false],
      [[], null, '/v3/files/a', false],
      [['/v3/files/*'], null, `/v3/files/${'a'.repeat(MAX_PATH_LENGTH)}`, false],
      [['/v3/files/*'], null, `/v3/files/${'a'.repeat(MAX_PATH_LENGTH - 11)}?${'q'.repeat(100)}`, true],
    ] as const)('%j and %j allow %s: %s', (paths, alsoPaths, url, expected) => {
      const list = (l: readonly string[] | null) => (l === null ? null : [...l]);
      expect(pathsAllow(list(paths), list(alsoPaths), url)).toBe(expected);
      expect(reference(list(paths), list(alsoPaths), url)).toBe(expected);
    });

    it('equals cutting the path, checking it and matching each pattern, on any target', () => {
      const piece = fc.constantFrom(
        'a',
        'v3',
        'files',
        '.',
        '..',
        '%2e',
        '%C3%A9',
        '%',
        ';',
        '/',
        '//',
        '?',
        '#',
        '*',
      );
      const target = fc.array(piece, { maxLength: 10 }).map((pieces) => `/${pieces.join('')}`);
      const pattern = fc.oneof(
        fc.constant('*'),
        fc.array(piece, { maxLength: 5 }).map((pieces) => `/${pieces.join('')}`),
        fc.array(piece, { maxLength: 4 }).map((pieces) => `/${pieces.join('')}/*`),
      );
      const patterns = fc.option(
        fc.array(pattern, { maxLength: 3 }).map((list) => list.filter((p) => isValidPathPattern(p))),
      );
      fc.assert(
        fc.property(patterns, patterns, target, (paths, alsoPaths, url) => {
          expect(pathsAllow(paths, alsoPaths, url), url).toBe(reference(paths, alsoPaths, url));
        }),
        { numRuns: 20_000 },
      );
    });
  });
});
