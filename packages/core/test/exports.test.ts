// The public API is deliberate: adding or removing an export must change this list.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const expected = [
  'validateRouteRequirements',
  'createMemoryLimitStore',
  'quotaPeriod',
  'hideCredential',
  'readRequestBody',
  'renderProblem',
  'requestHeaders',
  'ACCESS_TOKEN_LIFETIME',
  'MAX_MINT_BODY_BYTES',
  'MAX_TOKEN_PATHS',
  'generateTokenSecret',
  'isPatternWithin',
  'API_KEY_PARTS',
  'AUTH_ERROR_STATUS',
  'API_KEY_REGEX',
  'AuthError',
  'BASE62_ALPHABET',
  'DuplicateKeyIdError',
  'MAX_API_KEY_LENGTH',
  'MAX_PATH_LENGTH',
  'MAX_PATTERN_LENGTH',
  'MAX_PREFIX_LENGTH',
  'PROBLEM_CONTENT_TYPE',
  'PROBLEM_TYPE_BASE',
  'createArgon2Hasher',
  'createHmacHasher',
  'createKeyManager',
  'createKeywarden',
  'createMemoryKeyStore',
  'formatApiKey',
  'generateApiKey',
  'isSafeRawPath',
  'isValidKeyPrefix',
  'isValidPathPattern',
  'matchPathPattern',
  'normalizeCidr',
  'openFileKeyStore',
  'parseApiKey',
].sort();

it('src exports exactly the public API', async () => {
  expect(Object.keys(await import('../src/index.js')).sort()).toEqual(expected);
});

it('the built ESM and CommonJS entries export the same API and work', async () => {
  const dist = join(import.meta.dirname, '..', 'dist');
  const esm = await import(join(dist, 'index.js'));
  const cjs = createRequire(import.meta.url)(join(dist, 'index.cjs'));
  expect(Object.keys(esm).sort()).toEqual(expected);
  expect(Object.keys(cjs).sort()).toEqual(expected);
  const { key } = cjs.generateApiKey('kw_live');
  expect(esm.parseApiKey(key).ok).toBe(true);
});
