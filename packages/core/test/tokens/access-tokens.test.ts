import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  AuthError,
  type AuthRequest,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  generateTokenSecret,
  isPatternWithin,
  type KeySettings,
  type KeywardenEvent,
  type KeywardenOptions,
  type SigningSecret,
} from '../../src/index.js';
import { fastArgon2, frozenClock } from '../helpers.js';

const MINT_URL = '/v3/auth/access-token/';
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function setup(settings: KeySettings = {}, options: Partial<KeywardenOptions> = {}) {
  const clock = frozenClock(Date.UTC(2026, 0, 15, 12, 0, 0));
  const keys = createKeyManager({ store: createMemoryKeyStore(), hasher: fastArgon2(), now: clock.now });
  const secret = generateTokenSecret();
  const events: KeywardenEvent[] = [];
  const make = (secrets: SigningSecret[]) =>
    createKeywarden({
      keys,
      requireHttps: false,
      now: clock.now,
      tokens: { secrets },
      onEvent: (e) => events.push(e),
      ...options,
    });
  const keywarden = make([{ id: 'k1', secret }]);
  const { key, record } = await keys.create({
    name: 'server',
    scopes: ['images:read', 'images:write'],
    ...settings,
  });
  const mint = (
    body: unknown,
    headers: AuthRequest['headers'] = { authorization: `Token ${key}` },
    kw = keywarden,
  ) => kw.handleMintRequest({ method: 'POST', url: MINT_URL, headers }, body);
  const use = (token: string, url = '/v3/files/a.png', kw = keywarden, scopes?: string[]) =>
    kw.authenticate(
      { method: 'GET', url, headers: { authorization: `AccessToken ${token}` } },
      scopes ? { scopes } : undefined,
    );
  const mintToken = async (body: unknown = {}) => {
    const result = await mint(body);
    if (!result.ok) throw new Error(`mint failed: ${result.error.code} ${result.error.detail}`);
    return result.body.access_token;
  };
  return { clock, keys, key, record, secret, keywarden, make, mint, use, mintToken, events };
}

/** Re-signs a header and payload with HS256 and the real secret, as an attacker holding it could not. */
function sign(header: object, payload: object, secret: string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', Buffer.from(secret, 'base64url')).update(input).digest('base64url')}`;
}
const parts = (token: string) =>
  token.split('.').map((p, i) => (i < 2 ? JSON.parse(Buffer.from(p, 'base64url').toString()) : p));
const code = (r: { ok: boolean; error?: AuthError }) => (r.ok ? 'ok' : r.error!.code);

describe('mint request validation', () => {
  it.each([
    ['not JSON', '{paths:', /not valid JSON/],
    ['a JSON array', '[]', /JSON object/],
    ['a JSON string', '"x"', /JSON object/],
    ['JSON null', 'null', /JSON object/],
    ['an unknown field', '{"paths":["*"],"scope":"admin"}', /unknown field/],
    ['paths not an array', '{"paths":"*"}', /array/],
    ['empty paths', '{"paths":[]}', /1 to 32/],
    ['33 paths', JSON.stringify({ paths: Array.from({ length: 33 }, (_, i) => `/p${i}`) }), /1 to 32/],
    ['a non-string path', '{"paths":[1]}', /paths\[0\] must be a string/],
    ['a pattern over 512 chars', JSON.stringify({ paths: [`/${'a'.repeat(512)}`] }), /longer than 512/],
    ['an invalid pattern', '{"paths":["/v3/*/process/"]}', /not a valid pattern/],
    ['a traversal pattern', '{"paths":["/v3/files/../*"]}', /not a valid pattern/],
    ['expires_in 0', '{"expires_in":0}', /1 to 600/],
    ['expires_in 601', '{"expires_in":601}', /1 to 600/],
    ['a float expires_in', '{"expires_in":60.5}', /1 to 600/],
    ['a string expires_in', '{"expires_in":"60"}', /1 to 600/],
    ['a null expires_in', '{"expires_in":null}', /1 to 600/],
    ['a huge body', JSON.stringify({ paths: ['*'], pad: 'x'.repeat(70_000) }), /larger than/],
  ])('refuses %s with 400 and a detail', async (_name, body, detail) => {
    const { mint } = await setup();
    const result = await mint(body);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toMatchObject({ code: 'invalid_request', status: 400 });
    expect(result.error.body.detail).toMatch(detail);
  });

  it.each([
    ['no body', undefined, ['*'], 60],
    ['an empty body', '', ['*'], 60],
    ['an empty object', '{}', ['*'], 60],
    ['a parsed object', { paths: ['/v3/files/*'], expires_in: 600 }, ['/v3/files/*'], 600],
    ['bytes', Buffer.from('{"expires_in":1}'), ['*'], 1],
    ['60.0 (an integer in JSON)', '{"expires_in":60.0}', ['*'], 60],
  ])('accepts %s', async (_name, body, paths, expiresIn) => {
    const { mint, record } = await setup();
    const result = await mint(body);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.status).toBe(200);
    expect(result.headers).toEqual({ 'cache-control': 'no-store' });
    expect(result.body).toEqual({
      access_token: expect.any(String),
      token_type: 'AccessToken',
      expires_in: expiresIn,
      paths,
    });
    const [header, claims, signature] = parts(result.body.access_token);
    expect(header).toEqual({ alg: 'HS256', typ: 'at+jwt', kid: 'k1' });
    expect(Object.keys(claims).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'jti', 'paths', 'scope', 'sub']);
    expect(claims).toMatchObject({
      iss: 'keywarden',
      aud: 'keywarden',
      sub: record.id,
      paths,
      scope: 'images:read images:write',
    });
    expect(claims.exp - claims.iat).toBe(expiresIn);
    expect(signature).toHaveLength(43);
  });

  it('requires an API key: no credential, a wrong key, or a token cannot mint', async () => {
    const { mint, mintToken, key } = await setup();
    expect(code(await mint({}, {}))).toBe('missing_credentials');
    expect(
      code(await mint({}, { 'x-api-key': `${key.slice(0, 20)}${'Z'.repeat(32)}${key.slice(-6)}` })),
    ).toBe('invalid_credentials');
    const token = await mintToken();
    const result = await mint({}, { authorization: `AccessToken ${token}` });
    expect(code(result)).toBe('invalid_credentials');
    // Authentication comes first: an unauthenticated bad body is not examined.
    expect(code(await mint('not json', {}))).toBe('missing_credentials');
  });

  it('refuses paths that would make the token too long', async () => {
    const { mint } = await setup();
    const paths = Array.from({ length: 32 }, (_, i) => `/${String(i).padStart(2, '0')}${'a'.repeat(500)}`);
    const result = await mint({ paths });
    expect(result.ok ? null : result.error.body.detail).toMatch(/longer than 8192/);
  });
});

describe('a token never exceeds its key', () => {
  it.each([
    ['*', '*', true],
    ['/v3/files/*', '*', true],
    ['*', '/v3/files/*', false],
    ['/v3/files/*', '/v3/files/*', true],
    ['/v3/files/project/*', '/v3/files/*', true],
    ['/v3/files/a.png', '/v3/files/*', true],
    ['/v3/files/', '/v3/files/*', false],
    ['/v3/*', '/v3/files/*', false],
    ['/v3/filesX/*', '/v3/files/*', false],
    ['/v3/file-ops/upload/', '/v3/file-ops/upload/', true],
    ['/v3/file-ops/upload/x', '/v3/file-ops/upload/', false],
    ['/v3/file-ops/upload/*', '/v3/file-ops/upload/', false],
    ['/v3/files/*', '/v3/files/a.png', false],
    ['/bad/*/x', '*', false],
  ])('%s within %s: %s', (inner, outer, expected) => {
    expect(isPatternWithin(inner, outer)).toBe(expected);
  });

  it('a key limited to /v3/files/* cannot mint "*" or other paths, but can mint inside them', async () => {
    const { mint } = await setup({ paths: ['/v3/files/*'] });
    for (const body of [{}, { paths: ['*'] }, { paths: ['/v3/files/*', '/v3/tools/*'] }]) {
      const result = await mint(body);
      expect(result.ok ? null : [result.error.code, result.error.status]).toEqual([
        'insufficient_scope',
        403,
      ]);
    }
    const result = await mint({ paths: ['/v3/files/my-project/*', '/v3/files/a.png'] });
    expect(result.ok).toBe(true);
  });

  it('a token carries its key scopes, and loses any the key loses later', async () => {
    const { mintToken, use, keys, record } = await setup();
    const token = await mintToken();
    const first = await use(token, '/v3/files/a.png', undefined, ['images:write']);
    expect(first.ok && first.principal.scopes).toEqual(['images:read', 'images:write']);
    await keys.update(record.id, { scopes: ['images:read'] });
    expect(code(await use(token, '/v3/files/a.png', undefined, ['images:write']))).toBe('insufficient_scope');
    expect(code(await use(token, '/v3/files/a.png', undefined, ['images:read']))).toBe('ok');
  });

  it('a token is bound by its own paths and, once its key is narrowed, by the key paths too', async () => {
    const { mintToken, use, keys, record } = await setup({ paths: ['*'] });
    const wide = await mintToken({ paths: ['*'] });
    const two = await mintToken({ paths: ['/v3/files/*', '/v3/tools/*'] });
    for (const url of ['/v3/files/a.png', '/v3/tools/crop/', '/other'])
      expect(code(await use(wide, url))).toBe('ok');
    expect(code(await use(two, '/other'))).toBe('path_not_allowed');
    await keys.update(record.id, { paths: ['/v3/files/*'] });
    for (const token of [wide, two]) {
      expect(code(await use(token, '/v3/files/a.png?x=1'))).toBe('ok');
      expect(code(await use(token, '/v3/tools/crop/'))).toBe('path_not_allowed');
      expect(code(await use(token, '/v3/files/../tools/crop/'))).toBe('path_not_allowed');
      expect(code(await use(token, '/v3/files/%2e%2e/tools/'))).toBe('path_not_allowed');
    }
  });

  it('programmatic minting checks scopes and paths too', async () => {
    const { keywarden, record, use } = await setup({ paths: ['/v3/*'] });
    const minted = await keywarden.mintAccessToken(record.id, {
      paths: ['/v3/files/*'],
      expiresIn: 120,
      scopes: ['images:read'],
    });
    expect(minted).toMatchObject({ expiresIn: 120, paths: ['/v3/files/*'], scopes: ['images:read'] });
    const used = await use(minted.token);
    expect(used.ok && used.principal).toMatchObject({
      kind: 'access_token',
      keyId: record.id,
      scopes: ['images:read'],
    });
    await expect(keywarden.mintAccessToken(record.id, { scopes: ['admin'] })).rejects.toMatchObject({
      code: 'insufficient_scope',
    });
    await expect(keywarden.mintAccessToken(record.id, { paths: ['*'] })).rejects.toMatchObject({
      code: 'insufficient_scope',
    });
    await expect(keywarden.mintAccessToken(record.id, { expiresIn: 0 })).rejects.toBeInstanceOf(AuthError);
    await expect(keywarden.mintAccessToken('ZZZZZZZZZZZZ')).rejects.toMatchObject({
      code: 'invalid_credentials',
    });
  });

  it('minting needs configured tokens', async () => {
    const keys = createKeyManager({ store: createMemoryKeyStore(), hasher: fastArgon2() });
    const keywarden = createKeywarden({ keys, requireHttps: false });
    expect(keywarden.tokensEnabled).toBe(false);
    await expect(keywarden.mintAccessToken('x')).rejects.toThrow(TypeError);
  });
});

describe('using a token', () => {
  it('works inside its paths, including with a query, and gets 401 path_not_allowed outside', async () => {
    const { mintToken, use, record } = await setup();
    const token = await mintToken({ paths: ['/v3/file-ops/upload/', '/v3/files/*'] });
    const ok = await use(token, '/v3/files/my-project/result.png?x=1');
    expect(ok.ok && ok.principal).toEqual({
      kind: 'access_token',
      keyId: record.id,
      name: 'server',
      scopes: ['images:read', 'images:write'],
      paths: ['/v3/file-ops/upload/', '/v3/files/*'],
      ownerId: null,
      lineageId: record.id,
      tokenId: expect.stringMatching(/^[A-Za-z0-9_-]{16,64}$/),
      metadata: {},
      expiresAt: new Date(Date.UTC(2026, 0, 15, 12, 1, 0)),
    });
    expect(code(await use(token, '/v3/file-ops/upload/'))).toBe('ok');
    for (const url of [
      '/v3/tools/resize/process/',
      '/v3/files/%2e%2e/tools/x',
      '/v3/files/../x',
      '/v3/file-ops/upload',
    ]) {
      const result = await use(token, url);
      expect(result.ok ? 'ok' : [result.error.code, result.error.status]).toEqual(['path_not_allowed', 401]);
    }
  });

  it('expires at exp (+5 s tolerance), not one millisecond later', async () => {
    const { mintToken, use, clock } = await setup();
    const start = clock.now();
    const token = await mintToken({ expires_in: 60 });
    clock.set(start + 64_999);
    expect(code(await use(token))).toBe('ok');
    clock.set(start + 65_000);
    expect(code(await use(token))).toBe('invalid_credentials');
  });

  it('is refused before its iat (beyond the tolerance)', async () => {
    const { mintToken, use, clock } = await setup();
    const start = clock.now();
    const token = await mintToken();
    clock.set(start - 5_000);
    expect(code(await use(token))).toBe('ok');
    clock.set(start - 5_001);
    expect(code(await use(token))).toBe('invalid_credentials');
  });

  it('dies at once when its key is revoked, even after it was verified and cached', async () => {
    const { mintToken, use, keys, record } = await setup();
    const token = await mintToken();
    expect(code(await use(token))).toBe('ok');
    await keys.revoke(record.id);
    expect(code(await use(token))).toBe('invalid_credentials');
  });

  it('follows keyring rotation: old kid accepted while listed, new kid signs', async () => {
    const { mintToken, use, make, secret } = await setup();
    const oldToken = await mintToken();
    const next = generateTokenSecret();
    const rotated = make([
      { id: 'k2', secret: next },
      { id: 'k1', secret },
    ]);
    expect(code(await use(oldToken, '/v3/files/a.png', rotated))).toBe('ok');
    const minted = await rotated.handleMintRequest(
      { method: 'POST', url: MINT_URL, headers: { authorization: `Token ${await setupKey(rotated)}` } },
      '{}',
    );
    expect(minted.ok).toBe(true);
    if (!minted.ok) return;
    expect(parts(minted.body.access_token)[0].kid).toBe('k2');
    const retired = make([{ id: 'k2', secret: next }]);
    expect(code(await use(oldToken, '/v3/files/a.png', retired))).toBe('invalid_credentials');
    expect(code(await use(minted.body.access_token, '/v3/files/a.png', retired))).toBe('ok');
  });
});

async function setupKey(keywarden: ReturnType<typeof createKeywarden>): Promise<string> {
  return (await keywarden.keys.create({ name: 'another' })).key;
}

describe('refusals', () => {
  it('a token used as an API key, and a key used as a token', async () => {
    const { mintToken, key, keywarden } = await setup();
    const token = await mintToken();
    const as = (headers: AuthRequest['headers']) =>
      keywarden.authenticate({ method: 'GET', url: '/v3/files/a', headers });
    expect(code(await as({ authorization: `Bearer ${token}` }))).toMatch(/invalid_(credentials|request)/);
    expect(code(await as({ authorization: `Token ${token}` }))).toMatch(/invalid_(credentials|request)/);
    expect(code(await as({ 'x-api-key': token }))).toMatch(/invalid_(credentials|request)/);
    expect(code(await as({ authorization: `AccessToken ${key}` }))).toBe('invalid_credentials');
  });

  it('tampered, re-signed, padded, over-long and whitespace-mutated tokens', async () => {
    const { mintToken, use, secret, events } = await setup();
    const token = await mintToken();
    const [header, claims, signature] = parts(token) as [
      Record<string, unknown>,
      Record<string, unknown>,
      string,
    ];
    const [h, p] = token.split('.') as [string, string, string];
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    const hs512 = createHmac('sha512', Buffer.from(secret, 'base64url'))
      .update(`${h}.${p}`)
      .digest('base64url');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // The last of 43 characters carries 4 data bits and 2 unused ones: set an unused bit.
    const strayBits = signature.slice(0, -1) + alphabet[alphabet.indexOf(signature.at(-1)!) + 1];
    const cases: [string, string, string][] = [
      ['a changed payload', `${h}.${flip(p, 10)}.${signature}`, 'invalid_credentials'],
      ['a changed signature', `${h}.${p}.${flip(signature, 5)}`, 'invalid_credentials'],
      ['alg none, no signature', `${b64({ ...header, alg: 'none' })}.${p}.`, 'invalid_credentials'],
      [
        'alg none with the old signature',
        `${b64({ ...header, alg: 'none' })}.${p}.${signature}`,
        'invalid_credentials',
      ],
      [
        'HS512 re-signed with the secret',
        `${b64({ ...header, alg: 'HS512' })}.${p}.${hs512}`,
        'invalid_credentials',
      ],
      [
        'HS512 header, HS256 signature',
        sign({ ...header, alg: 'HS512' }, claims, secret),
        'invalid_credentials',
      ],
      [
        'RS256 header (secret as public key)',
        sign({ ...header, alg: 'RS256' }, claims, secret),
        'invalid_credentials',
      ],
      [
        'an extra header parameter',
        sign({ ...header, jku: 'https://evil.example/jwks' }, claims, secret),
        'invalid_credentials',
      ],
      ['crit header', sign({ ...header, crit: ['exp'] }, claims, secret), 'invalid_credentials'],
      ['typ JWT', sign({ ...header, typ: 'JWT' }, claims, secret), 'invalid_credentials'],
      ['an unknown kid', sign({ ...header, kid: 'k9' }, claims, secret), 'invalid_credentials'],
      ['an extra claim', sign(header, { ...claims, admin: true }, secret), 'invalid_credentials'],
      [
        'a 601 s lifetime',
        sign(header, { ...claims, exp: (claims.iat as number) + 601 }, secret),
        'invalid_credentials',
      ],
      ['a zero lifetime', sign(header, { ...claims, exp: claims.iat }, secret), 'invalid_credentials'],
      [
        'an invalid path pattern',
        sign(header, { ...claims, paths: ['/v3/*/x'] }, secret),
        'invalid_credentials',
      ],
      ['no paths', sign(header, { ...claims, paths: [] }, secret), 'invalid_credentials'],
      ['another audience', sign(header, { ...claims, aud: 'other' }, secret), 'invalid_credentials'],
      ['another issuer', sign(header, { ...claims, iss: 'other' }, secret), 'invalid_credentials'],
      ['a numeric sub', sign(header, { ...claims, sub: 42 }, secret), 'invalid_credentials'],
      ['padding', `${token}=`, 'invalid_credentials'],
      ['padding inside', `${h}=.${p}.${signature}`, 'invalid_credentials'],
      [
        'standard base64 characters',
        `${h}.${p.replace(/-/g, '+').replace(/_/g, '/')}+.${signature}`,
        'invalid_credentials',
      ],
      ['stray bits in the last character', `${h}.${p}.${strayBits}`, 'invalid_credentials'],
      ['four segments', `${token}.${signature}`, 'invalid_credentials'],
      ['two segments', `${h}.${p}`, 'invalid_credentials'],
      ['over the length cap', `${h}.${p}${'A'.repeat(8192)}.${signature}`, 'invalid_request'],
      ['a space inside', `${h}. ${p}.${signature}`, 'invalid_request'],
      ['a newline inside', `${h}.\n${p}.${signature}`, 'invalid_request'],
      ['a tab at the end', `${token}\t`, 'invalid_request'],
      // Same length and same signature as the real token: the verified-token cache must not take it.
      [
        'a space instead of a character',
        `${h}.${p.slice(0, 7)} ${p.slice(8)}.${signature}`,
        'invalid_request',
      ],
    ];
    const refusals = async () => {
      const reasons: Record<string, string> = {};
      for (const [name, bad, expected] of cases) {
        const result = await use(bad);
        const last = events.at(-1);
        reasons[name] = last?.type === 'auth.failed' ? last.reason : 'none';
        expect([name, code(result)]).toEqual([name, expected]);
        if (!result.ok) expect(result.error.status).toBe(expected === 'invalid_request' ? 400 : 401);
      }
      return reasons;
    };
    const cold = await refusals();
    // Once the real token is verified and cached (by its signature), the same refusals hold.
    expect(code(await use(token))).toBe('ok');
    expect(await refusals()).toEqual(cold);
    expect(cold).toEqual({
      'a changed payload': 'token_malformed',
      'a changed signature': 'token_signature_invalid',
      'alg none, no signature': 'token_malformed',
      'alg none with the old signature': 'token_header_invalid',
      'HS512 re-signed with the secret': 'token_malformed',
      'HS512 header, HS256 signature': 'token_header_invalid',
      'RS256 header (secret as public key)': 'token_header_invalid',
      'an extra header parameter': 'token_header_invalid',
      'crit header': 'token_header_invalid',
      'typ JWT': 'token_header_invalid',
      'an unknown kid': 'token_unknown_kid',
      'an extra claim': 'token_claims_invalid',
      'a 601 s lifetime': 'token_claims_invalid',
      'a zero lifetime': 'token_claims_invalid',
      'an invalid path pattern': 'token_claims_invalid',
      'no paths': 'token_claims_invalid',
      'another audience': 'token_claims_invalid',
      'another issuer': 'token_claims_invalid',
      'a numeric sub': 'token_claims_invalid',
      padding: 'token_malformed',
      'padding inside': 'token_malformed',
      'standard base64 characters': 'token_malformed',
      'stray bits in the last character': 'token_malformed',
      'four segments': 'token_malformed',
      'two segments': 'token_malformed',
      'over the length cap': 'credential_too_long',
      'a space inside': 'invalid_characters',
      'a newline inside': 'invalid_characters',
      'a tab at the end': 'invalid_characters',
      'a space instead of a character': 'invalid_characters',
    });
    expect(code(await use(token))).toBe('ok');
    // Stray bits decode to the very same bytes in Node: only the canonical check refuses them.
    expect(Buffer.from(strayBits, 'base64url').equals(Buffer.from(signature, 'base64url'))).toBe(true);
    const text = JSON.stringify(events);
    expect(text).not.toContain(signature);
    expect(text).not.toContain(p);
  });
});

describe('token options', () => {
  it.each([
    [{ secrets: [] }, /needs a secret/],
    [{ secrets: [{ id: 'k1', secret: Buffer.alloc(16, 7).toString('base64url') }] }, /32 random bytes/],
    [{ secrets: [{ id: 'k1', secret: 'a'.repeat(64) }] }, /32 random bytes/],
    [{ secrets: [{ id: 'k1', secret: 'not base64url!' }] }, /base64url/],
    [{ secrets: [{ id: 'k1', secret: new Uint8Array(32) }] }, /32 random bytes/],
    [{ secrets: [{ id: 'bad id', secret: generateTokenSecret() }] }, /id/],
    [
      {
        secrets: [
          { id: 'k1', secret: generateTokenSecret() },
          { id: 'k1', secret: generateTokenSecret() },
        ],
      },
      /twice/,
    ],
    [
      { secrets: [{ id: 'k1', secret: generateTokenSecret() }], lifetime: 5 },
      /unknown option tokens.lifetime/,
    ],
    [{ secrets: [{ id: 'k1', secret: generateTokenSecret() }], clockToleranceSeconds: -1 }, /clockTolerance/],
  ])('refuses %j', (tokens, message) => {
    const keys = createKeyManager({ store: createMemoryKeyStore() });
    expect(() => createKeywarden({ keys, tokens: tokens as never })).toThrow(message);
  });

  it('accepts raw random bytes', () => {
    const keys = createKeyManager({ store: createMemoryKeyStore() });
    const secret = Buffer.from(generateTokenSecret(), 'base64url');
    expect(createKeywarden({ keys, tokens: { secrets: [{ id: 'k1', secret }] } }).tokensEnabled).toBe(true);
  });
});

describe('events', () => {
  it('reports token.minted with the token id, never the token', async () => {
    const { mint, events, record } = await setup();
    const result = await mint({ paths: ['/v3/files/*'] });
    const token = result.ok ? result.body.access_token : '';
    const minted = events.find((e) => e.type === 'token.minted');
    expect(minted).toMatchObject({
      keyId: record.id,
      expiresIn: 60,
      paths: ['/v3/files/*'],
      tokenId: parts(token)[1].jti,
    });
    expect(JSON.stringify(events)).not.toContain(token.split('.')[2]);
  });
});
