// Path patterns and the raw-path safety rule. Everything here is a single
// left-to-right scan over char codes: no regex is ever built from a pattern or a path, so cost is
// linear in the input whatever an attacker sends.

/** Longest raw request path a path-scoped credential can match. */
export const MAX_PATH_LENGTH = 8192;
/** Longest path pattern. */
export const MAX_PATTERN_LENGTH = 512;

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

/** The byte of the escape `%XY` at `i`, or -1 when there is no valid escape there. */
function escapeAt(path: string, i: number): number {
  if (path.charCodeAt(i) !== 37 /* % */ || i + 2 >= path.length) return -1;
  const high = hexValue(path.charCodeAt(i + 1));
  const low = hexValue(path.charCodeAt(i + 2));
  return high < 0 || low < 0 ? -1 : high * 16 + low;
}

/** The ASCII character at `i` once decoded (`%41` is `A`), or -1. */
function decodedAsciiAt(path: string, i: number): number {
  const code = path.charCodeAt(i);
  if (code !== 37) return code;
  const byte = escapeAt(path, i);
  return byte >= 0 && byte < 0x80 ? byte : -1;
}

/** Whether the decoded characters at `i` and after it are two hex digits: `%25` then would form an escape. */
function formsEscape(path: string, i: number): boolean {
  const first = decodedAsciiAt(path, i);
  if (first < 0 || hexValue(first) < 0) return false;
  const next = i + (path.charCodeAt(i) === 37 ? 3 : 1);
  const second = decodedAsciiAt(path, next);
  return second >= 0 && hexValue(second) >= 0;
}

/**
 * The length in characters of the percent-encoded UTF-8 sequence starting at `i` with the lead
 * byte `lead`, or 0 when it is not valid, shortest-form UTF-8 of a non-control character: overlong
 * forms, surrogates, code points past U+10FFFF and C1 controls (U+0080-U+009F) are refused.
 */
function utf8SequenceLength(path: string, i: number, lead: number): number {
  let count: number;
  let min = 0x80;
  let max = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) count = 1;
  else if (lead >= 0xe0 && lead <= 0xef) count = 2;
  else if (lead >= 0xf0 && lead <= 0xf4) count = 3;
  else return 0; // a continuation byte, an overlong lead (C0, C1) or past U+10FFFF
  if (lead === 0xe0) min = 0xa0; // overlong
  if (lead === 0xed) max = 0x9f; // surrogates
  if (lead === 0xf0) min = 0x90; // overlong
  if (lead === 0xf4) max = 0x8f; // past U+10FFFF
  for (let k = 1; k <= count; k++) {
    const byte = escapeAt(path, i + 3 * k);
    const low = k === 1 ? min : 0x80;
    const high = k === 1 ? max : 0xbf;
    if (byte < low || byte > high) return 0;
    if (lead === 0xc2 && k === 1 && byte < 0xa0) return 0; // U+0080-U+009F: C1 controls
  }
  return 3 * (count + 1);
}

/**
 * True when a raw (undecoded) URL path is one a path scope may match: it starts with `/`, holds only
 * printable ASCII, and has no `\`, no empty segment (`//`), no `.` or `..` segment in any spelling
 * (`%2e`, `%2E`, or with a `;` parameter such as `..;` or `.;x`, which some proxies read as a dot
 * segment), and no segment that a normalizing server or file system would read as one or split:
 * one whose NFKC form, trailing spaces dropped, is `.` or `..` (`%E2%80%A5`, `..%20`), or holds
 * `/` or `\` (`%EF%BC%8F`). Every `%` starts a valid escape that does not encode `/` or `\` or a control byte;
 * escapes of bytes from 0x80 must form valid, shortest-form UTF-8 of a non-control character
 * (`caf%C3%A9`); a `%25` (an encoded `%`) must not form a new escape once decoded (`100%25.png` is
 * fine, `%252e` is double encoding). The path is never normalized: a path that would need
 * normalizing is refused, because routers do not normalize either.
 *
 * @example
 * ```ts
 * isSafeRawPath('/v3/files/caf%C3%A9.png'); // true
 * isSafeRawPath('/v3/files/%2e%2e/admin');  // false
 * ```
 */
export function isSafeRawPath(path: string): boolean {
  return safePathEnd(path, false) === path.length;
}

/**
 * Where the path of `text` ends when it is a safe raw path (see {@link isSafeRawPath}), else -1.
 * For a request target (`target`), the path ends before the first `?` or `#`: it is checked in the
 * same scan that finds where it ends, without being cut out.
 */
function safePathEnd(text: string, target: boolean): number {
  const limit = text.length;
  if (limit === 0 || text.charCodeAt(0) !== 47) return -1;
  let segmentLength = 0; // decoded characters in the current segment, up to its first `;`
  let dots = 0; // how many of them are dots
  let parameter = false; // past a `;` in this segment
  let start = 1; // where the current segment starts
  let unusual = false; // it holds an encoded space or non-ASCII: see `looksLikeDotSegment`
  let i = 1;
  for (; i < limit; i++) {
    let code = text.charCodeAt(i);
    if (target && (code === 63 || code === 35)) break; // `?` or `#`: the path ends
    if (code === 47 /* / */) {
      if (segmentLength === 0 && !parameter) return -1; // `//`
      if (dots === segmentLength && dots <= 2) return -1; // `.`, `..`, `.;x`, `..;`, `;x`
      if (unusual && looksLikeDotSegment(text, start, i)) return -1;
      segmentLength = 0;
      dots = 0;
      parameter = false;
      unusual = false;
      start = i + 1;
      continue;
    }
    if (code <= 0x20 || code >= 0x7f || code === 92 /* \ */) return -1;
    if (code === 37 /* % */) {
      code = escapeAt(text, i);
      if (code < 0x20 || code === 0x7f || code === 47 || code === 92) return -1;
      if (code >= 0x80) {
        const sequence = utf8SequenceLength(text, i, code);
        if (sequence === 0) return -1;
        i += sequence - 1;
        if (!parameter) segmentLength++;
        unusual = true;
        continue;
      }
      if (code === 37 && formsEscape(text, i + 3)) return -1; // double encoding
      if (code === 32) unusual = true;
      i += 2;
    }
    if (code === 59 /* ; */) parameter = true;
    if (parameter) continue;
    segmentLength++;
    if (code === 46 /* . */) dots++;
  }
  if (i > MAX_PATH_LENGTH) return -1;
  if (unusual && looksLikeDotSegment(text, start, i)) return -1;
  // The last segment (empty after a trailing slash, which is allowed and significant).
  return (segmentLength > 0 || parameter) && dots === segmentLength && dots <= 2 ? -1 : i;
}

/**
 * Whether the segment `text[start, end)` (escapes already checked) would become a dot segment or
 * split in two on a server or file system that normalizes what it decodes: its Unicode
 * compatibility form (NFKC) holds `/` or `\` (FULLWIDTH SOLIDUS), or is `.` or `..` up to its first
 * `;` once trailing spaces are dropped (TWO DOT LEADER `%E2%80%A5`, fullwidth dots, `..%20`, which
 * some file systems trim). Only segments with an encoded space or non-ASCII character get here, so
 * ordinary paths never pay for decoding and normalizing.
 */
function looksLikeDotSegment(text: string, start: number, end: number): boolean {
  let compatible: string;
  try {
    compatible = decodeURIComponent(text.slice(start, end)).normalize('NFKC');
  } catch {
    return true; // cannot happen after the scan's checks; if it did, refuse
  }
  if (compatible.includes('/') || compatible.includes('\\')) return true;
  const semicolon = compatible.indexOf(';');
  const head = (semicolon === -1 ? compatible : compatible.slice(0, semicolon)).trimEnd();
  return head === '.' || head === '..';
}

/**
 * True when `pattern` follows the grammar: `*` (everything), a literal absolute path (exact match;
 * trailing slash significant; case-sensitive), or a literal prefix ending in `/*` (every path below
 * it, across `/`). The literal part must itself be a safe raw path with no `*`, at most 512 chars.
 *
 * @example
 * ```ts
 * isValidPathPattern('/v3/files/*'); // true
 * isValidPathPattern('/v3/*.png');   // false
 * ```
 */
export function isValidPathPattern(pattern: unknown): pattern is string {
  if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > MAX_PATTERN_LENGTH)
    return false;
  if (pattern === '*') return true;
  const literal = pattern.endsWith('/*') ? pattern.slice(0, -1) : pattern;
  return !literal.includes('*') && isSafeRawPath(literal);
}

/**
 * True when a raw request path is covered by one pattern. An invalid pattern matches nothing, and a
 * path-scoped pattern never matches an unsafe path (see {@link isSafeRawPath}). Time is linear in
 * the lengths of the pattern and the path.
 *
 * @example
 * ```ts
 * matchPathPattern('/v3/files/*', '/v3/files/my-project/result.png'); // true
 * ```
 */
export function matchPathPattern(pattern: string, rawPath: string): boolean {
  if (!isValidPathPattern(pattern)) return false;
  if (pattern === '*') return true;
  return isSafeRawPath(rawPath) && matchesSafePath(pattern, rawPath);
}

/** Pattern match for a path already known safe and a pattern already known valid. */
export function matchesSafePath(pattern: string, safePath: string): boolean {
  return pattern === '*' || matchesUpTo(pattern, safePath, safePath.length);
}

/**
 * Whether the first `end` characters of `text` (a safe path) match a valid pattern other than `*`,
 * compared in place: `startsWith(pattern.slice(...))` made a string on every request.
 */
function matchesUpTo(pattern: string, text: string, end: number): boolean {
  const length = pattern.length;
  // `P/*`: every path below `P/` (the `/` kept); otherwise the exact path.
  const prefix =
    length >= 2 && pattern.charCodeAt(length - 1) === 42 && pattern.charCodeAt(length - 2) === 47;
  if (prefix ? end < length : end !== length) return false;
  const compared = prefix ? length - 1 : length;
  for (let i = 0; i < compared; i++) if (text.charCodeAt(i) !== pattern.charCodeAt(i)) return false;
  return true;
}

/**
 * True when every path `inner` matches is also matched by `outer` (both valid patterns). Decides
 * whether a key may mint a token for `inner`:
 * - `outer` `*` contains everything; `inner` `*` is contained only by `*`;
 * - an exact literal is contained by the same literal, or by a prefix `P/*` it lies below;
 * - a prefix `Q/*` is contained by a prefix `P/*` when `Q/` starts with `P/` (never by a literal,
 *   which matches one path while `Q/*` matches infinitely many).
 * One outer pattern must contain the whole inner one; a union of patterns cannot cover a prefix
 * pattern that no single pattern covers, so checking each pattern alone is exact for this grammar.
 *
 * @example
 * ```ts
 * isPatternWithin('/v3/files/project/*', '/v3/files/*'); // true
 * isPatternWithin('*', '/v3/files/*');                   // false
 * ```
 */
export function isPatternWithin(inner: string, outer: string): boolean {
  if (!isValidPathPattern(inner) || !isValidPathPattern(outer)) return false;
  if (outer === '*') return true;
  if (inner === '*') return false;
  if (!outer.endsWith('/*')) return inner === outer;
  const outerPrefix = outer.slice(0, -1); // keeps the trailing `/`
  if (inner.endsWith('/*')) return inner.slice(0, -1).startsWith(outerPrefix);
  return matchesSafePath(outer, inner);
}

/**
 * Whether a storage path (a file path that arrived in a body or a URL parameter, written as the
 * request path that would read it: `/v3/files/public/a.png`) lies inside `paths` and, when given,
 * `alsoPaths`. The same grammar as request paths, and stricter: an unsafe path (see
 * {@link isSafeRawPath}) is refused even by `*`, and so is a `?` or `#` (a storage path that a URL
 * would cut in two).
 */
export function storagePathAllowed(
  paths: readonly string[],
  alsoPaths: readonly string[] | null,
  path: string,
): boolean {
  if (!isSafeRawPath(path) || path.includes('?') || path.includes('#')) return false;
  const allows = (patterns: readonly string[]) =>
    patterns.some((pattern) => isValidPathPattern(pattern) && matchesSafePath(pattern, path));
  return allows(paths) && (alsoPaths === null || allows(alsoPaths));
}

/** The path part of a raw request target. */
export function pathOf(url: string): string {
  let end = url.length;
  const q = url.indexOf('?');
  if (q !== -1) end = q;
  const h = url.indexOf('#');
  if (h !== -1 && h < end) end = h;
  return end === url.length ? url : url.slice(0, end);
}

/**
 * Whether the request target's path matches one of `paths` and one of `alsoPaths` (null: no
 * condition; `*` matches any target). The path is found and checked for safety in one scan of the
 * target, shared by both lists: a token's request checks its own patterns and its key's. Loops by
 * hand, not `includes`, `for...of` or `endsWith`: in a busy server this check cost about 0.4 µs a
 * request for one prefix pattern, mostly in builtins whose code was no longer in the CPU's caches.
 */
export function pathsAllow(
  paths: readonly string[] | null,
  alsoPaths: readonly string[] | null,
  url: string,
): boolean {
  const any = paths === null || hasStar(paths);
  const alsoAny = alsoPaths === null || hasStar(alsoPaths);
  if (any && alsoAny) return true;
  const end = safePathEnd(url, true);
  if (end < 0) return false;
  return (any || matchesOneIn(paths!, url, end)) && (alsoAny || matchesOneIn(alsoPaths!, url, end));
}

/** Whether one of the patterns is `*`. */
function hasStar(patterns: readonly string[]): boolean {
  for (let i = 0; i < patterns.length; i++) if (patterns[i] === '*') return true;
  return false;
}

/** Whether `url`'s first `end` characters (a safe path) match one of the (valid, not `*`) patterns. */
function matchesOneIn(patterns: readonly string[], url: string, end: number): boolean {
  for (let i = 0; i < patterns.length; i++) if (matchesUpTo(patterns[i]!, url, end)) return true;
  return false;
}
