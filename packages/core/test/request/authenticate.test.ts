import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AUTH_ERROR_STATUS,
  AuthError,
  type AuthErrorCode,
  type AuthRequest,
  createArgon2Hasher,
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  generateTokenSecret,
  type KeySettings,
  type KeywardenEvent,
  type KeywardenOptions,
  PROBLEM_TYPE_BASE,
} from '../../src/index.js';
import { countingHasher, countingStore, fastArgon2, frozenClock } from '../helpers.js';

async function setup(settings: KeySettings = {}, options: Partial<KeywardenOptions> = {}) {
  const clock = frozenClock();
  const counted = countingStore(createMemoryKeyStore());
  const hashing = countingHasher(fastArgon2());
  const keys = createKeyManager({ store: counted.store, hasher: hashing.hasher, now: clock.now });
  const events: KeywardenEvent[] = [];
  const keywarden = createKeywarden({
    keys,
    requireHttps: false,
    now: clock.now,
    onEvent: (e) => events.push(e),
    ...options,
  });
  const { key, record } = await keys.create({ name: 'k', ...settings });
  counted.calls.get = 0;
  hashing.calls.verify = 0;
  const auth = (input: Partial<AuthRequest>, route?: { scopes?: string[] }) =>
    keywarden.authenticate({ method: 'GET', url: '/v3/files/a.png', headers: {}, ...input }, route);
  return {
    key,
    record,
    keys,
    keywarden,
    auth,
    events,
    clock,
    storeCalls: counted.calls,
    hashCalls: hashing.calls,
    state: counted.state,
  };
}

function code(result: Awaited<ReturnType<ReturnType<typeof createKeywarden>['authenticate']>>): string {
  return result.ok ? 'ok' : result.error.code;
}

describe('credential extraction: refusals before any store or hash work', () => {
  const K = '<key>';
  const rows: [string, Record<string, string | string[]>, string, AuthErrorCode][] = [
    ['nothing', {}, '/v3/files/a.png', 'missing_credentials'],
    ['a repeated X-Api-Key', { 'x-api-key': [K, K] }, '/', 'invalid_request'],
    ['X-Api-Key joined by a proxy ("a, b")', { 'x-api-key': `${K}, ${K}` }, '/', 'invalid_request'],
    ['a repeated Authorization', { authorization: [`Bearer ${K}`, `Bearer ${K}`] }, '/', 'invalid_request'],
    ['two forms at once, same key', { 'x-api-key': K, authorization: `Bearer ${K}` }, '/', 'invalid_request'],
    ['an unknown scheme', { authorization: `Basic ${K}` }, '/', 'invalid_request'],
    // U+212A KELVIN SIGN lower-cases to `k` in JavaScript: schemes compare in ASCII only.
    [
      'a scheme that only Unicode case folding matches',
      { authorization: `To\u212Aen ${K}` },
      '/',
      'invalid_request',
    ],
    ['a scheme with a prefix of a known one', { authorization: `Bear ${K}` }, '/', 'invalid_request'],
    ['a scheme longer than a known one', { authorization: `Bearers ${K}` }, '/', 'invalid_request'],
    ['a scheme alone', { authorization: 'Bearer' }, '/', 'invalid_request'],
    ['an empty Authorization', { authorization: '' }, '/', 'invalid_request'],
    ['an empty X-Api-Key', { 'x-api-key': '' }, '/', 'invalid_request'],
    ['a control character', { 'x-api-key': `${K}\u0001` }, '/', 'invalid_request'],
    ['a tab inside the value', { authorization: `Bearer a\tb` }, '/', 'invalid_request'],
    ['non-ASCII', { 'x-api-key': `${K}é` }, '/', 'invalid_request'],
    ['a space inside the credential', { authorization: `Token ${K} extra` }, '/', 'invalid_request'],
    ['an API key over the cap', { 'x-api-key': 'k'.repeat(257) }, '/', 'invalid_request'],
    ['a token over the cap', { authorization: `AccessToken ${'t'.repeat(8193)}` }, '/', 'invalid_request'],
    ['a key in the query while that is off', {}, `/v3/files/a.png?api_key=${K}`, 'missing_credentials'],
    ['an API key sent as an access token', { authorization: `AccessToken ${K}` }, '/', 'invalid_credentials'],
    ['a well-formed-length junk key', { 'x-api-key': 'k'.repeat(200) }, '/', 'invalid_credentials'],
  ];
  it.each(rows)('%s', async (_name, rawHeaders, url, expected) => {
    const { key, auth, storeCalls, hashCalls } = await setup();
    const headers = JSON.parse(JSON.stringify(rawHeaders).replaceAll('<key>', key));
    const result = await auth({ headers, url });
    expect(code(result)).toBe(expected);
    expect(storeCalls.get).toBe(0);
    expect(hashCalls.verify).toBe(0);
  });

  it.each(rows)(
    'gives the same answer from Node rawHeaders (names in any case): %s',
    async (_name, rawHeaders, url, expected) => {
      const { key, auth, storeCalls } = await setup();
      const headers = JSON.parse(JSON.stringify(rawHeaders).replaceAll('<key>', key)) as Record<
        string,
        string | string[]
      >;
      const raw: string[] = [];
      for (const [name, value] of Object.entries(headers)) {
        for (const [i, v] of (Array.isArray(value) ? value : [value]).entries())
          raw.push(i % 2 ? name.toUpperCase() : name, v);
      }
      raw.push('Host', 'example.test', 'Accept', '*/*');
      expect(code(await auth({ headers: raw, url }))).toBe(expected);
      expect(storeCalls.get).toBe(0);
      expect(code(await auth({ headers: ['X-API-KEY', key, 'Host', 'h'] }))).toBe('ok');
      // Header names also compare in ASCII only: a Kelvin sign is not a `k`.
      expect(code(await auth({ headers: ['X-Api-\u212Aey', key] }))).toBe('missing_credentials');
    },
  );

  it('refuses the same characters once the key is verified and cached', async () => {
    // The warm path looks the key's digest up before it scans the characters: a string of the
    // key's length and prefix with one character changed must still be refused as before.
    const { key, auth, storeCalls, hashCalls } = await setup();
    expect(code(await auth({ headers: { 'x-api-key': key } }))).toBe('ok');
    const [gets, verifies] = [storeCalls.get, hashCalls.verify];
    const swap = (c: string) => key.slice(0, 20) + c + key.slice(21);
    for (const [c, expected] of [
      ['é', 'invalid_request'],
      ['\u0001', 'invalid_request'],
      [' ', 'invalid_request'],
      ['-', 'invalid_credentials'],
    ] as const) {
      expect([c, code(await auth({ headers: { 'x-api-key': swap(c) } }))]).toEqual([c, expected]);
      expect([c, code(await auth({ headers: { authorization: `Bearer ${swap(c)}` } }))]).toEqual([
        c,
        expected,
      ]);
    }
    expect([storeCalls.get, hashCalls.verify]).toEqual([gets, verifies]);
    expect(code(await auth({ headers: { 'x-api-key': key } }))).toBe('ok');
  });

  it('accepts every configured form, schemes in any case, with one or more spaces', async () => {
    const { key, auth } = await setup();
    for (const headers of [
      { 'x-api-key': key },
      { 'x-api-key': [key] },
      { authorization: `Bearer ${key}` },
      { authorization: `Token ${key}` },
      { authorization: `bEaReR ${key}` },
      { authorization: `TOKEN   ${key}` },
    ]) {
      expect(code(await auth({ headers }))).toBe('ok');
    }
  });

  it('reads the query parameter only when turned on, and refuses it repeated or beside a header', async () => {
    const { key, auth } = await setup({}, { apiKeyQueryParam: 'api_key' });
    expect(code(await auth({ url: `/v3/files/a.png?x=1&api_key=${key}` }))).toBe('ok');
    expect(code(await auth({ url: `/v3/files/a.png?api_key=${key}&api_key=${key}` }))).toBe(
      'invalid_request',
    );
    expect(code(await auth({ url: `/v3/files/a.png?api_key=${key}`, headers: { 'x-api-key': key } }))).toBe(
      'invalid_request',
    );
    expect(code(await auth({ url: '/v3/files/a.png?api_key=' }))).toBe('invalid_request');
    expect(code(await auth({ url: '/v3/files/a.png#api_key=x' }))).toBe('missing_credentials');
  });

  it('honours a renamed header, custom schemes, and turning forms off', async () => {
    const { key, auth } = await setup(
      {},
      { apiKeyHeader: 'X-Acme-Key', apiKeySchemes: ['ApiKey'], accessTokenScheme: false },
    );
    expect(code(await auth({ headers: { 'x-acme-key': key } }))).toBe('ok');
    expect(code(await auth({ headers: { authorization: `apikey ${key}` } }))).toBe('ok');
    expect(code(await auth({ headers: { 'x-api-key': key } }))).toBe('missing_credentials');
    expect(code(await auth({ headers: { authorization: `Bearer ${key}` } }))).toBe('invalid_request');
    expect(code(await auth({ headers: { authorization: 'AccessToken abc' } }))).toBe('invalid_request');
  });
});

describe('keys', () => {
  it('refuses wrong, revoked and expired keys with invalid_credentials, and a down store with 503', async () => {
    const { key, record, keys, auth, clock, state } = await setup({
      expiresAt: new Date(Date.UTC(2026, 0, 16)),
    });
    // One secret character changed (to a different one: a random key holds '0' there 1 time in 62).
    const changed = key.at(-7) === '0' ? '1' : '0';
    expect(
      code(await auth({ headers: { 'x-api-key': `${key.slice(0, -7)}${changed}${key.slice(-6)}` } })),
    ).toBe('invalid_credentials');
    clock.set(Date.UTC(2026, 0, 16));
    expect(code(await auth({ headers: { 'x-api-key': key } }))).toBe('invalid_credentials');
    clock.set(Date.UTC(2026, 0, 15, 13));
    expect(code(await auth({ headers: { 'x-api-key': key } }))).toBe('ok');
    const other = await keys.create({ name: 'cold' });
    state.failing = true;
    const down = await auth({ headers: { 'x-api-key': other.key } });
    expect(down.ok ? 0 : down.error.status).toBe(503);
    expect(down.ok ? null : down.error.headers['retry-after']).toBe('1'); // every 503 says when to retry
    state.failing = false;
    await keys.revoke(record.id);
    expect(code(await auth({ headers: { 'x-api-key': key } }))).toBe('invalid_credentials');
  });

  it('gives a typed principal', async () => {
    const { key, record, auth } = await setup({
      scopes: ['images:read'],
      ownerId: 'acct_1',
      metadata: { plan: 'free' },
    });
    const result = await auth({ headers: { authorization: `Token ${key}` } });
    expect(result).toEqual({
      ok: true,
      principal: {
        kind: 'api_key',
        keyId: record.id,
        name: 'k',
        scopes: ['images:read'],
        paths: ['*'],
        ownerId: 'acct_1',
        lineageId: record.id,
        tokenId: null,
        metadata: { plan: 'free' },
        expiresAt: null,
      },
      headers: {},
      credential: { in: 'header', name: 'authorization' },
    });
  });
});

describe('path patterns on keys', () => {
  it.each([
    ['/v3/files/my-project/result.png', 'ok'],
    ['/v3/files/my-project/result.png?download=1', 'ok'],
    ['/v3/file-ops/upload/', 'ok'],
    ['/v3/file-ops/upload/?x=1', 'ok'],
    ['/v3/file-ops/upload', 'path_not_allowed'],
    ['/v3/tools/resize/process/', 'path_not_allowed'],
    ['/v3/files/../tools/resize/process/', 'path_not_allowed'],
    ['/v3/files/%2e%2e/tools/resize/process/', 'path_not_allowed'],
    ['/v3/files/%2E%2E%2Fadmin', 'path_not_allowed'],
    ['/v3/files//etc/passwd', 'path_not_allowed'],
    ['/v3/files/..\\admin', 'path_not_allowed'],
    ['/v3/files/%252e%252e/admin', 'path_not_allowed'],
    ['/V3/files/a.png', 'path_not_allowed'],
    ['http://evil.example/v3/files/a.png', 'path_not_allowed'],
  ])('%s → %s', async (url, expected) => {
    const { key, auth } = await setup({ paths: ['/v3/files/*', '/v3/file-ops/upload/'] });
    const result = await auth({ url, headers: { 'x-api-key': key } });
    expect(code(result)).toBe(expected);
    if (!result.ok) expect(result.error.status).toBe(401);
  });

  it('"*" allows every path', async () => {
    const { key, auth } = await setup({ paths: ['*'] });
    for (const url of ['/', '/v3/anything', '/a/../b', '*']) {
      expect(code(await auth({ url, headers: { 'x-api-key': key } }))).toBe('ok');
    }
  });
});

describe('scopes, IP allowlist, HTTPS', () => {
  it('requires every scope a route lists, and challenges with the missing scope set', async () => {
    const { key, auth } = await setup({ scopes: ['images:read', 'files:read'] });
    const headers = { authorization: `Bearer ${key}` };
    expect(code(await auth({ headers }, { scopes: [] }))).toBe('ok');
    expect(code(await auth({ headers }, { scopes: ['images:read', 'files:read'] }))).toBe('ok');
    const result = await auth({ headers }, { scopes: ['images:read', 'images:write'] });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.status).toBe(403);
    expect(result.error.headers['www-authenticate']).toBe(
      'Bearer realm="api", error="insufficient_scope", scope="images:read images:write"',
    );
  });

  it.each([
    ['10.1.2.3', 'ok'],
    ['::ffff:10.1.2.3', 'ok'],
    ['2001:db8::1', 'ok'],
    ['11.0.0.1', 'ip_not_allowed'],
    ['2001:db9::1', 'ip_not_allowed'],
    ['::ffff:11.0.0.1', 'ip_not_allowed'],
    ['not an ip', 'ip_not_allowed'],
    [undefined, 'ip_not_allowed'],
  ])('client %s → %s', async (ip, expected) => {
    const { key, auth } = await setup({ ips: ['10.0.0.0/8', '2001:db8::/32'] });
    const result = await auth({ ip, headers: { 'x-api-key': key } });
    expect(code(result)).toBe(expected);
    if (!result.ok) expect(result.error.status).toBe(403);
  });

  it('answers each address the same when asked again, past the number of addresses it remembers', async () => {
    const { key, auth } = await setup({ ips: ['10.0.0.0/8', '2001:db8::/32'] });
    const addresses: [string, boolean][] = [];
    for (let i = 0; i < 150; i++) {
      addresses.push([`10.0.${i}.1`, true], [`11.0.${i}.1`, false]);
      addresses.push([`::ffff:10.9.${i}.1`, true], [`2001:db9::${i.toString(16)}`, false]);
    }
    // Longer than any address it remembers: a non-address, and an address with a zone index.
    addresses.push([`10.1.2.3${' '.repeat(60)}`, false], [`2001:db8::1%${'x'.repeat(60)}`, true]);
    for (let pass = 0; pass < 3; pass++) {
      for (const [ip, allowed] of pass === 1 ? [...addresses].reverse() : addresses) {
        const result = await auth({ ip, headers: { 'x-api-key': key } });
        expect([pass, ip, code(result)]).toEqual([pass, ip, allowed ? 'ok' : 'ip_not_allowed']);
      }
    }
  });

  it('refuses plain HTTP under requireHttps before looking at credentials', async () => {
    const { key, auth, storeCalls } = await setup({}, { requireHttps: true });
    expect(code(await auth({ secure: false, headers: { 'x-api-key': key } }))).toBe('https_required');
    expect(code(await auth({ headers: { 'x-api-key': key } }))).toBe('https_required');
    expect(storeCalls.get).toBe(0);
    expect(code(await auth({ secure: true, headers: { 'x-api-key': key } }))).toBe('ok');
  });

  describe('requireHttps default', () => {
    const saved = process.env.NODE_ENV;
    afterEach(() => {
      process.env.NODE_ENV = saved;
    });
    it('is on when NODE_ENV=production and off otherwise', async () => {
      process.env.NODE_ENV = 'production';
      const prod = await setup({}, { requireHttps: undefined as never });
      expect(code(await prod.auth({ headers: { 'x-api-key': prod.key } }))).toBe('https_required');
      process.env.NODE_ENV = 'development';
      const dev = await setup({}, { requireHttps: undefined as never });
      expect(code(await dev.auth({ headers: { 'x-api-key': dev.key } }))).toBe('ok');
    });
  });
});

describe('errors', () => {
  it('has one status per code, problem bodies and RFC 6750 challenges', async () => {
    expect(AUTH_ERROR_STATUS).toEqual({
      missing_credentials: 401,
      invalid_request: 400,
      invalid_credentials: 401,
      path_not_allowed: 401,
      insufficient_scope: 403,
      ip_not_allowed: 403,
      https_required: 403,
      account_suspended: 403,
      rate_limited: 429,
      quota_exceeded: 429,
      credits_exhausted: 402,
      auth_unavailable: 503,
    });
    for (const [c, status] of Object.entries(AUTH_ERROR_STATUS)) {
      const error = new AuthError(c as AuthErrorCode);
      expect(error).toMatchObject({ status, statusCode: status, expose: true, code: c });
      expect(error.body).toEqual({ type: PROBLEM_TYPE_BASE + c, title: error.message, status, code: c });
      expect(JSON.parse(JSON.stringify(error))).toEqual(error.body);
    }
    expect(() => new AuthError('nope' as AuthErrorCode)).toThrow(TypeError);

    const { key, auth } = await setup({ paths: ['/v3/files/*'] });
    const challenge = async (input: Partial<AuthRequest>) => {
      const r = await auth(input);
      return r.ok ? null : r.error.headers['www-authenticate'];
    };
    expect(await challenge({})).toBe('Bearer realm="api", Token realm="api", AccessToken realm="api"');
    expect(await challenge({ headers: { authorization: 'Token kw_live_x' } })).toBe(
      'Token realm="api", error="invalid_token"',
    );
    expect(await challenge({ headers: { 'x-api-key': 'kw_live_x' } })).toBe(
      'Bearer realm="api", error="invalid_token"',
    );
    expect(await challenge({ headers: { authorization: 'AccessToken abc' } })).toBe(
      'AccessToken realm="api", error="invalid_token"',
    );
    expect(await challenge({ headers: { 'x-api-key': [key, key] } })).toContain('error="invalid_request"');
    expect(await challenge({ url: '/v3/tools/x', headers: { 'x-api-key': key } })).toBe(
      'Bearer realm="api", error="invalid_token"',
    );
  });

  it('never names the wrong part, and never echoes or logs the key', async () => {
    const { key, auth, events, keys } = await setup({ paths: ['/v3/files/*'], ips: ['10.0.0.0/8'] });
    const secret = key.slice(8 + 12, 8 + 44);
    const wrong = `${key.slice(0, 20)}${'Q'.repeat(32)}${key.slice(-6)}`;
    const outputs: unknown[] = [];
    for (const input of [
      { headers: { 'x-api-key': key }, ip: '11.0.0.1' },
      { headers: { 'x-api-key': key }, ip: '10.0.0.1', url: '/v3/tools/x' },
      { headers: { 'x-api-key': wrong } },
      { headers: { 'x-api-key': `${key}x` } },
      { headers: { 'x-api-key': [key, key] } },
      { headers: { authorization: `Basic ${key}` } },
      { headers: { authorization: `AccessToken ${key}` } },
      { headers: { 'x-api-key': key }, ip: '10.0.0.1' },
    ]) {
      const result = await auth(input);
      outputs.push(
        result.ok
          ? result.principal
          : { body: result.error.body, headers: result.error.headers, message: result.error.message },
      );
    }
    await keys.revoke((await keys.list())[0]!.id);
    const revoked = await auth({ headers: { 'x-api-key': key }, ip: '10.0.0.1' });
    expect(code(revoked)).toBe('invalid_credentials');
    const text = JSON.stringify([outputs, events]);
    expect(text).not.toContain(key);
    expect(text).not.toContain(secret);
    expect(text).not.toContain('Q'.repeat(32));
    // The bodies of wrong-secret, revoked and malformed keys are identical.
    const bodies = outputs.slice(2, 4).map((o) => JSON.stringify(o));
    expect(
      new Set([
        ...bodies,
        JSON.stringify({
          body: (revoked as { error: AuthError }).error.body,
          headers: (revoked as { error: AuthError }).error.headers,
          message: (revoked as { error: AuthError }).error.message,
        }),
      ]).size,
    ).toBe(1);
  });

  it('reports precise reasons in events', async () => {
    const { key, record, auth, events } = await setup();
    await auth({ headers: { 'x-api-key': [key, key] } });
    await auth({ headers: { 'x-api-key': `${key.slice(0, 20)}${'Q'.repeat(32)}${key.slice(-6)}` } });
    await auth({ headers: { 'x-api-key': key }, url: '/v3/files/a.png?api_key=secret' });
    expect(events.map((e) => (e.type === 'auth.failed' ? `${e.type}:${e.reason}` : e.type))).toEqual([
      'auth.failed:duplicate_header',
      'auth.failed:bad_checksum',
      'auth.succeeded',
    ]);
    expect(events[2]).toMatchObject({ keyId: record.id, path: '/v3/files/a.png', kind: 'api_key' });
  });
});

describe('options', () => {
  it.each([
    [{ colour: 1 }, /unknown option colour/],
    [{ apiKeyHeader: 'bad header' }, /apiKeyHeader/],
    [{ apiKeySchemes: ['Bear er'] }, /apiKeySchemes/],
    [{ accessTokenScheme: 'Bearer' }, /differ/],
    [{ apiKeyQueryParam: 'a b' }, /apiKeyQueryParam/],
    [{ requireHttps: 'yes' }, /requireHttps/],
    [{ maxTokenLength: 10 }, /maxTokenLength/],
    [{ apiKeyHeader: false, apiKeySchemes: [], accessTokenScheme: false }, /no way/],
    [{ keys: {} }, /KeyManager/],
  ])('refuses %j at start-up', (options, message) => {
    const keys = createKeyManager({ store: createMemoryKeyStore() });
    expect(() => createKeywarden({ keys, ...(options as object) } as never)).toThrow(message);
  });
});

describe('properties', () => {
  const codes = Object.keys(AUTH_ERROR_STATUS);
  const headerValue = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc
      .constantFrom('Bearer ', 'Token ', 'AccessToken ', 'Basic ', 'bearer')
      .chain((s) => fc.string({ maxLength: 80 }).map((t) => s + t)),
  );
  const headerSet = fc.record(
    {
      authorization: fc.oneof(headerValue, fc.array(headerValue, { maxLength: 3 })),
      'x-api-key': fc.oneof(headerValue, fc.array(headerValue, { maxLength: 3 })),
    },
    { requiredKeys: [] },
  );

  it('authenticate never throws and answers only documented codes with their status', async () => {
    const { auth } = await setup(
      { paths: ['/v3/files/*'], ips: ['10.0.0.0/8'] },
      { apiKeyQueryParam: 'api_key' },
    );
    await fc.assert(
      fc.asyncProperty(
        headerSet,
        fc.string({ maxLength: 120 }),
        fc.option(fc.string({ maxLength: 40 })),
        async (headers, url, ip) => {
          const result = await auth({ headers, url, ip: ip ?? undefined }, { scopes: ['a'] });
          expect(result.ok).toBe(false);
          if (!result.ok) {
            expect(codes).toContain(result.error.code);
            expect(result.error.status).toBe(AUTH_ERROR_STATUS[result.error.code]);
          }
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('succeeds only with exactly one credential equal to the valid key', async () => {
    const { key, auth } = await setup();
    const slot = fc.oneof(fc.constant(undefined), fc.constant(key), fc.string({ maxLength: 60 }));
    await fc.assert(
      fc.asyncProperty(
        slot,
        slot,
        fc.constantFrom('Bearer', 'Token', 'AccessToken', 'Basic'),
        async (apiKey, authValue, scheme) => {
          const headers: Record<string, string> = {};
          if (apiKey !== undefined) headers['x-api-key'] = apiKey;
          if (authValue !== undefined) headers.authorization = `${scheme} ${authValue}`;
          const result = await auth({ headers });
          const expected =
            (apiKey === key && authValue === undefined) ||
            (apiKey === undefined && authValue === key && (scheme === 'Bearer' || scheme === 'Token'));
          expect(result.ok).toBe(expected);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('refusals that explain where the credential goes', () => {
  it('says an access token sent as Bearer goes in the AccessToken scheme, and nothing else about it', async () => {
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    });
    const keywarden = createKeywarden({
      keys,
      requireHttps: false,
      tokens: { secrets: [{ id: 't', secret: generateTokenSecret() }] },
    });
    const { record } = await keys.create({ name: 'k' });
    const { token } = await keywarden.mintAccessToken(record.id);
    for (const headers of [{ authorization: `Bearer ${token}` }, { 'x-api-key': token }]) {
      const result = await keywarden.authenticate({ method: 'GET', url: '/', headers });
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.error.status).toBe(400);
      expect(result.error.body).toMatchObject({
        code: 'invalid_request',
        detail: 'Access tokens are sent as "Authorization: AccessToken <token>", not as an API key.',
      });
      expect(JSON.stringify(result.error.body)).not.toContain(token.slice(0, 20));
    }
    // A long value that is no token keeps the bare refusal.
    const long = await keywarden.authenticate({
      method: 'GET',
      url: '/',
      headers: { authorization: `Bearer ${'x'.repeat(300)}` },
    });
    expect(long.ok ? null : long.error.body.detail).toBeUndefined();
  });

  it('says why plain HTTP is refused under requireHttps: a TLS proxy the framework does not trust', async () => {
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    });
    const keywarden = createKeywarden({ keys, requireHttps: true });
    const result = await keywarden.authenticate({ method: 'GET', url: '/', headers: {}, secure: false });
    expect(result.ok ? null : result.error.body).toMatchObject({
      code: 'https_required',
      detail: expect.stringMatching(/trust proxy/),
    });
  });
});

describe('keys hashed by another hasher', () => {
  it('are refused as hash_mismatch, not wrong_secret, and said once as a warning', async () => {
    const store = createMemoryKeyStore();
    const made = createKeyManager({ store, hasher: createHmacHasher({ pepper: 'p'.repeat(32) }) });
    const { key } = await made.create({ name: 'k' });
    const checking = createKeyManager({
      store,
      hasher: createArgon2Hasher({ memoryCost: 1024, timeCost: 1 }),
    });
    const warnings: Error[] = [];
    const listen = (w: Error) => warnings.push(w);
    process.on('warning', listen);
    try {
      expect(await checking.verify(key)).toMatchObject({ ok: false, reason: 'hash_mismatch' });
      const other = await made.create({ name: 'k2' });
      expect(await checking.verify(other.key)).toMatchObject({ ok: false, reason: 'hash_mismatch' });
      await new Promise((r) => setImmediate(r));
      expect(
        warnings.filter((w) => (w as { code?: string }).code === 'KEYWARDEN_HASH_MISMATCH'),
      ).toHaveLength(1);
      expect(warnings[0]!.message).toMatch(
        /hashed as \$hmac-sha256\$, but this key manager verifies with argon2id/,
      );
    } finally {
      process.off('warning', listen);
    }
  });
});
