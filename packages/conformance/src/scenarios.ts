// Every scenario, defined once. `{name}` in targets, headers and bodies is replaced by a fixture
// value (see fixtures.ts). Each runs against every server; the runner asserts the expectation and
// that all servers answered the same status, relevant headers and body.
import type { RawRequest } from './raw-client.js';

export type ServerKind = 'default' | 'delegate' | 'https';

export interface Scenario extends RawRequest {
  name: string;
  server?: ServerKind;
  expect: {
    status: number;
    /** Problem `code`, for refusals. */
    code?: string;
    /** Exact `WWW-Authenticate`, or null for none. */
    challenge?: string | null;
    /** Parsed body must contain this (deep partial match). */
    body?: unknown;
    /** Headers, after numbers that change between requests are replaced by `#`. */
    headers?: Record<string, string>;
  };
}

const ALL = 'Bearer realm="api", Token realm="api", AccessToken realm="api"';
const INVALID = (scheme: string) => `${scheme} realm="api", error="invalid_token"`;
const BAD_REQUEST = `${ALL.split(', ').join(', error="invalid_request", ')}, error="invalid_request"`;
const get = (target: string, headers: [string, string][] = []) => ({ method: 'GET', target, headers });
const post = (target: string, headers: [string, string][] = [], body?: string) =>
  body === undefined ? { method: 'POST', target, headers } : { method: 'POST', target, headers, body };
const key = (name: string): [string, string] => ['x-api-key', `{${name}}`];
const json: [string, string] = ['content-type', 'application/json'];
const FILE = '/v3/files/my-project/result.png';

export const SCENARIOS: Scenario[] = [
  // --- each credential form
  {
    name: 'X-Api-Key',
    ...get(FILE, [key('full')]),
    expect: {
      status: 200,
      body: { auth: { kind: 'api_key', keyId: '{fullId}', name: 'full', metadata: { plan: 'pro' } } },
    },
  },
  {
    name: 'Authorization: Bearer',
    ...get(FILE, [['authorization', 'Bearer {full}']]),
    expect: { status: 200, body: { auth: { keyId: '{fullId}' } } },
  },
  {
    name: 'Authorization: Token',
    ...get(FILE, [['authorization', 'Token {full}']]),
    expect: { status: 200, body: { auth: { keyId: '{fullId}' } } },
  },
  {
    name: 'scheme in lower case',
    ...get(FILE, [['authorization', 'token {full}']]),
    expect: { status: 200 },
  },
  {
    name: 'the principal reaches the handler whole',
    ...get(FILE, [key('reader')]),
    expect: {
      status: 200,
      body: {
        auth: {
          kind: 'api_key',
          keyId: '{readerId}',
          name: 'reader',
          scopes: ['images:read'],
          paths: ['*'],
          ownerId: null,
          lineageId: '{readerId}',
          tokenId: null,
          metadata: {},
          expiresAt: null,
        },
      },
    },
  },
  // --- missing, malformed, duplicate and conflicting credentials
  {
    name: 'no credential',
    ...get(FILE),
    expect: { status: 401, code: 'missing_credentials', challenge: ALL },
  },
  {
    name: 'empty X-Api-Key',
    ...get(FILE, [['x-api-key', '']]),
    expect: { status: 400, code: 'invalid_request', challenge: BAD_REQUEST },
  },
  {
    name: 'X-Api-Key sent twice',
    ...get(FILE, [key('full'), key('full')]),
    expect: { status: 400, code: 'invalid_request' },
  },
  {
    name: 'Authorization sent twice',
    ...get(FILE, [
      ['authorization', 'Token {full}'],
      ['authorization', 'Token {full}'],
    ]),
    expect: { status: 400, code: 'invalid_request' },
  },
  {
    name: 'a key in two places',
    ...get(FILE, [key('full'), ['authorization', 'Bearer {full}']]),
    expect: { status: 400, code: 'invalid_request' },
  },
  {
    name: 'an unknown scheme',
    ...get(FILE, [['authorization', 'Basic {full}']]),
    expect: { status: 400, code: 'invalid_request' },
  },
  {
    name: 'non-ASCII in the key',
    ...get(FILE, [['x-api-key', '{full}é']]),
    expect: { status: 400, code: 'invalid_request' },
  },
  {
    name: 'a key over the length cap',
    ...get(FILE, [['x-api-key', `kw_live_${'a'.repeat(300)}`]]),
    expect: { status: 400, code: 'invalid_request' },
  },
  {
    name: 'a malformed key',
    ...get(FILE, [['x-api-key', 'kw_live_not-a-real-key']]),
    expect: { status: 401, code: 'invalid_credentials', challenge: INVALID('Bearer') },
  },
  {
    name: 'a wrong secret',
    ...get(FILE, [['authorization', 'Token {wrongSecret}']]),
    expect: { status: 401, code: 'invalid_credentials', challenge: INVALID('Token') },
  },
  {
    name: 'a revoked key',
    ...get(FILE, [key('revoked')]),
    expect: { status: 401, code: 'invalid_credentials' },
  },
  {
    name: 'an expired key',
    ...get(FILE, [key('expired')]),
    expect: { status: 401, code: 'invalid_credentials' },
  },
  {
    name: 'a key in the query (off by default)',
    ...get(`${FILE}?api_key={full}`),
    expect: { status: 401, code: 'missing_credentials' },
  },
  // --- path patterns on the raw path
  { name: 'a path-scoped key inside its paths', ...get(FILE, [key('files')]), expect: { status: 200 } },
  {
    name: 'a path-scoped key outside its paths',
    ...post('/v3/tools/resize/process/', [key('files')]),
    expect: { status: 401, code: 'path_not_allowed', challenge: INVALID('Bearer') },
  },
  {
    name: 'raw dot-dot traversal',
    ...get('/v3/files/../admin', [key('files')]),
    expect: { status: 401, code: 'path_not_allowed' },
  },
  {
    name: 'encoded dot-dot traversal',
    ...get('/v3/files/%2e%2e/admin', [key('files')]),
    expect: { status: 401, code: 'path_not_allowed' },
  },
  {
    name: 'upper-case encoded traversal',
    ...get('/v3/files/%2E%2E%2Fadmin', [key('files')]),
    expect: { status: 401, code: 'path_not_allowed' },
  },
  {
    name: 'a double slash',
    ...get('/v3/files//etc/passwd', [key('files')]),
    expect: { status: 401, code: 'path_not_allowed' },
  },
  {
    name: 'double encoding',
    ...get('/v3/files/%252e%252e/admin', [key('files')]),
    expect: { status: 401, code: 'path_not_allowed' },
  },
  {
    name: 'a lookalike dot-dot (TWO DOT LEADER, NFKC "..")',
    ...get('/v3/files/%E2%80%A5/admin', [key('files')]),
    expect: { status: 401, code: 'path_not_allowed' },
  },
  {
    name: 'dot-dot with a trailing encoded space',
    ...get('/v3/files/..%20/admin', [key('files')]),
    expect: { status: 401, code: 'path_not_allowed' },
  },
  {
    name: 'a fullwidth solidus (NFKC "/")',
    ...get('/v3/files/a%EF%BC%8F..%EF%BC%8Fadmin', [key('files')]),
    expect: { status: 401, code: 'path_not_allowed' },
  },
  // --- scopes
  {
    name: 'a scoped route with the scope',
    ...post('/v3/file-ops/upload/', [key('full')]),
    expect: { status: 200 },
  },
  {
    name: 'a scoped route without the scope',
    ...post('/v3/tools/resize/process/', [key('reader')]),
    expect: {
      status: 403,
      code: 'insufficient_scope',
      challenge: 'Bearer realm="api", error="insufficient_scope", scope="images:write"',
    },
  },
  {
    name: 'an admin route',
    ...get('/v3/admin', [key('full')]),
    expect: { status: 403, code: 'insufficient_scope' },
  },
  // --- IP allowlist (the framework's own client address, never a raw X-Forwarded-For)
  {
    name: 'a client outside the allowlist',
    ...get(FILE, [key('ipLocked')]),
    expect: { status: 403, code: 'ip_not_allowed', challenge: null },
  },
  {
    name: 'X-Forwarded-For does not get through',
    ...get(FILE, [key('ipLocked'), ['x-forwarded-for', '10.1.2.3']]),
    expect: { status: 403, code: 'ip_not_allowed' },
  },
  { name: 'a client inside the allowlist', ...get(FILE, [key('ipLocal')]), expect: { status: 200 } },
  // --- HTTPS rule
  {
    name: 'plain HTTP under requireHttps',
    server: 'https',
    ...get(FILE, [key('full')]),
    expect: { status: 403, code: 'https_required', challenge: null },
  },
  {
    name: 'X-Forwarded-Proto does not get through',
    server: 'https',
    ...get(FILE, [key('full'), ['x-forwarded-proto', 'https']]),
    expect: { status: 403, code: 'https_required' },
  },
  // --- access tokens
  {
    name: 'a token inside its paths',
    ...get(FILE, [['authorization', 'AccessToken {filesToken}']]),
    expect: {
      status: 200,
      body: { auth: { kind: 'access_token', keyId: '{fullId}', paths: ['/v3/files/*'] } },
    },
  },
  {
    name: 'a token outside its paths',
    ...post('/v3/file-ops/upload/', [['authorization', 'AccessToken {filesToken}']]),
    expect: { status: 401, code: 'path_not_allowed', challenge: INVALID('AccessToken') },
  },
  {
    name: 'a token through traversal',
    ...get('/v3/files/%2e%2e/admin', [['authorization', 'AccessToken {filesToken}']]),
    expect: { status: 401, code: 'path_not_allowed' },
  },
  {
    name: 'a tampered token',
    ...get(FILE, [['authorization', 'AccessToken {tamperedToken}']]),
    expect: { status: 401, code: 'invalid_credentials' },
  },
  {
    name: 'a token of a revoked key',
    ...get(FILE, [['authorization', 'AccessToken {doomedToken}']]),
    expect: { status: 401, code: 'invalid_credentials' },
  },
  {
    name: 'a token sent as a Bearer key',
    ...get(FILE, [['authorization', 'Bearer {filesToken}']]),
    expect: { status: 400, code: 'invalid_request' },
  },
  {
    name: 'a key sent as a token',
    ...get(FILE, [['authorization', 'AccessToken {full}']]),
    expect: { status: 401, code: 'invalid_credentials' },
  },
  // --- minting
  {
    name: 'mint with a body',
    ...post(
      '/v3/auth/access-token/',
      [['authorization', 'Token {full}'], json],
      '{"paths":["/v3/files/*","/v3/file-ops/upload/"],"expires_in":120}',
    ),
    expect: {
      status: 200,
      body: {
        access_token: '<token>',
        token_type: 'AccessToken',
        expires_in: 120,
        paths: ['/v3/files/*', '/v3/file-ops/upload/'],
      },
    },
  },
  {
    name: 'mint with no body',
    ...post('/v3/auth/access-token/', [key('full')]),
    expect: { status: 200, body: { token_type: 'AccessToken', expires_in: 60, paths: ['*'] } },
  },
  {
    name: 'mint inside a path-scoped key',
    ...post('/v3/auth/access-token/', [key('files'), json], '{"paths":["/v3/files/a/*"]}'),
    expect: { status: 200, body: { paths: ['/v3/files/a/*'] } },
  },
  {
    name: 'mint beyond the key',
    ...post('/v3/auth/access-token/', [key('files'), json], '{"paths":["*"]}'),
    expect: {
      status: 403,
      code: 'insufficient_scope',
      body: { detail: "paths[0] is not within this key's path patterns" },
    },
  },
  {
    name: 'mint with bad JSON',
    ...post('/v3/auth/access-token/', [key('full'), json], '{"paths":'),
    expect: { status: 400, code: 'invalid_request', body: { detail: 'the body is not valid JSON' } },
  },
  {
    name: 'mint with an unknown field',
    ...post('/v3/auth/access-token/', [key('full'), json], '{"scope":"admin"}'),
    expect: { status: 400, code: 'invalid_request' },
  },
  {
    name: 'mint with expires_in 601',
    ...post('/v3/auth/access-token/', [key('full'), json], '{"expires_in":601}'),
    expect: {
      status: 400,
      code: 'invalid_request',
      body: { detail: 'expires_in must be an integer from 1 to 600' },
    },
  },
  {
    name: 'mint with a float lifetime',
    ...post('/v3/auth/access-token/', [key('full'), json], '{"expires_in":1.5}'),
    expect: { status: 400, code: 'invalid_request' },
  },
  {
    name: 'mint with a token',
    ...post('/v3/auth/access-token/', [['authorization', 'AccessToken {filesToken}']]),
    expect: { status: 401, code: 'invalid_credentials' },
  },
  {
    name: 'mint with nothing',
    ...post('/v3/auth/access-token/'),
    expect: { status: 401, code: 'missing_credentials' },
  },
  {
    name: 'mint a token, then use it',
    ...post('/v3/auth/access-token/', [key('full'), json], '{"paths":["/v3/files/*"]}'),
    expect: { status: 200 },
  },
  // --- rate limits and quotas
  {
    name: 'RateLimit headers on success',
    ...get(FILE, [key('limited')]),
    expect: { status: 200, headers: { 'ratelimit-policy': `"rate";q=100000;w=3600, "quota";q=100000;w=#` } },
  },
  {
    name: 'a costly route',
    ...post('/v3/tools/upscale/process/', [key('limited')]),
    expect: { status: 200 },
  },
  {
    name: 'a spent quota',
    ...get(FILE, [key('spent')]),
    expect: {
      status: 429,
      code: 'quota_exceeded',
      challenge: null,
      headers: { 'retry-after': '#', ratelimit: '"quota";r=#;t=#' },
    },
  },
  // --- accounts
  {
    name: "a key of an account: the account's quota in the headers",
    ...get(FILE, [key('ofAccount')]),
    expect: {
      status: 200,
      headers: { 'ratelimit-policy': `"account-quota";q=100000;w=#`, ratelimit: '"account-quota";r=#;t=#' },
    },
  },
  {
    name: 'a key of a suspended account',
    ...get(FILE, [key('ofSuspended')]),
    expect: { status: 403, code: 'account_suspended', challenge: null },
  },
  {
    name: 'a token of a suspended account',
    ...get(FILE, [['authorization', 'AccessToken {suspendedToken}']]),
    expect: { status: 403, code: 'account_suspended', challenge: null },
  },
  // --- routes opted out, and the user's error handlers
  {
    name: 'a public route without credentials',
    ...get('/public/health'),
    expect: { status: 200, body: { ok: true } },
  },
  {
    name: 'a public route ignores a bad credential',
    ...get('/public/health', [['x-api-key', 'junk']]),
    expect: { status: 200, body: { ok: true } },
  },
  {
    name: 'a handler error reaches the user error handler',
    ...get('/v3/boom', [key('full')]),
    expect: { status: 418, body: { user_error: 'boom' } },
  },
  {
    name: 'delegated: no credential',
    server: 'delegate',
    ...get(FILE),
    expect: { status: 401, body: { custom: 'missing_credentials' } },
  },
  {
    name: 'delegated: a wrong key',
    server: 'delegate',
    ...get(FILE, [key('revoked')]),
    expect: { status: 401, body: { custom: 'invalid_credentials' } },
  },
  {
    name: 'delegated: a missing scope',
    server: 'delegate',
    ...get('/v3/admin', [key('full')]),
    expect: { status: 403, body: { custom: 'insufficient_scope' } },
  },
  {
    name: 'delegated: mint refusal',
    server: 'delegate',
    ...post('/v3/auth/access-token/', [key('full'), json], '[]'),
    expect: { status: 400, body: { custom: 'invalid_request' } },
  },
];
