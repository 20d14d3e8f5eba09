// The adapter kernel with a framework of plain objects (a pure unit test: the real frameworks run
// it in the conformance suite): what it calls on the binding, in which case, and when it answers
// without a promise.
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  type Principal,
} from '../../src/index.js';
import {
  createAdapterKernel,
  createPrincipalRecord,
  type FrameworkBinding,
  readCommonOptions,
} from '../../src/integration-kit.js';

interface FakeRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
}
type Call = [string, ...unknown[]];

async function setup(options: object = {}) {
  const keys = createKeyManager({
    store: createMemoryKeyStore(),
    hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
  });
  const keywarden = createKeywarden({
    keys,
    requireHttps: false,
    apiKeyQueryParam: 'api_key',
  });
  const { key } = await keys.create({ name: 'k', scopes: ['images:read'] });
  const calls: Call[] = [];
  const principals = createPrincipalRecord();
  const binding: FrameworkBinding<FakeRequest, FakeRequest, string, string> = {
    input: (req) => ({ method: req.method, url: req.url, headers: req.headers, ip: '127.0.0.1' }),
    raw: (req) => req as unknown as IncomingMessage,
    principals,
    setHeaders: (_res, headers) => void calls.push(['headers', headers]),
    next(_req, _res, next, principal) {
      calls.push(['next', principal?.keyId]);
      return `${next}:next`;
    },
    answer(_req, _res, _next, response) {
      calls.push(['answer', response.status]);
      return 'answered';
    },
    delegate(_req, _res, _next, error) {
      calls.push(['delegate', error.code]);
      return 'delegated';
    },
    hideCredential: (_req, name) => void calls.push(['hide', name]),
    untrustedProxy: () => {
      calls.push(['proxy?']);
      return null;
    },
  };
  const kernel = createAdapterKernel(keywarden, readCommonOptions<FakeRequest>(options, []), binding);
  const request = (url: string, headers: Record<string, string> = {}, method = 'GET'): FakeRequest => ({
    method,
    url,
    headers,
  });
  return { keywarden, key, kernel, calls, principals, request };
}

describe('the adapter kernel', () => {
  it('answers a warm key without a promise: headers, the principal recorded, then next', async () => {
    const { kernel, key, calls, principals, request } = await setup();
    const req = request('/v3/files/a', { 'x-api-key': key });
    expect(await kernel.authenticate(req, req, 'n', undefined)).toBe('n:next'); // cold: the hash
    const again = request('/v3/files/a', { 'x-api-key': key });
    calls.length = 0;
    const answer = kernel.authenticate(again, again, 'n', undefined);
    expect(answer).toBe('n:next');
    expect(calls.map((c) => c[0])).toEqual(['headers', 'next']);
    expect(principals.get(again)?.name).toBe('k');
  });

  it('refuses by answering, or by delegating when asked, and asks about the proxy only for https_required', async () => {
    const answering = await setup();
    const req = answering.request('/v3/files/a', { 'x-api-key': 'nope' });
    expect(await answering.kernel.authenticate(req, req, 'n', undefined)).toBe('answered');
    expect(answering.calls).toEqual([['answer', 401]]);
    const delegating = await setup({ delegateErrors: true });
    const other = delegating.request('/v3/files/a');
    expect(delegating.kernel.authenticate(other, other, 'n', undefined)).toBe('delegated');
    expect(delegating.calls).toEqual([['delegate', 'missing_credentials']]);
  });

  it('lets a preflight and a skipped request through untouched, and an optional route anonymous', async () => {
    const { kernel, calls, request } = await setup({ skip: (req: FakeRequest) => req.url === '/health' });
    const preflight = request(
      '/v3/files/a',
      { origin: 'https://app.example', 'access-control-request-method': 'PUT' },
      'OPTIONS',
    );
    expect(kernel.authenticate(preflight, preflight, 'n', undefined)).toBe('n:next');
    const health = request('/health');
    expect(kernel.authenticate(health, health, 'n', undefined)).toBe('n:next');
    const anonymous = request('/v3/files/a');
    expect(kernel.authenticate(anonymous, anonymous, 'n', { optional: true })).toBe('n:next');
    expect(calls).toEqual([
      ['next', undefined],
      ['next', undefined],
      ['next', undefined],
    ]);
  });

  it('runs a stacked route on the principal recorded earlier: its scopes, its cost', async () => {
    const { kernel, key, calls, principals, request } = await setup();
    const req = request('/v3/files/a', { 'x-api-key': key });
    await kernel.authenticate(req, req, 'n', undefined);
    const first: Principal | undefined = principals.get(req);
    calls.length = 0;
    expect(kernel.authenticate(req, req, 'n', { scopes: ['images:read'], cost: 3 })).toBe('n:next');
    expect(principals.get(req)).toBe(first);
    expect(principals.charged(req)).toBe(3);
    expect(kernel.authenticate(req, req, 'n', { scopes: ['images:write'] })).toBe('answered');
    expect(calls.map((c) => c[0])).toEqual(['headers', 'next', 'answer']);
    expect(calls[2]).toEqual(['answer', 403]);
  });

  it('hides a query credential in the framework too, a header one only in Node’s request', async () => {
    const { kernel, key, calls, request } = await setup({ hideCredentials: true });
    const byQuery = request(`/v3/files/a?api_key=${key}&x=1`);
    await kernel.authenticate(byQuery, byQuery, 'n', undefined);
    expect(byQuery.url).toBe('/v3/files/a?x=1');
    expect(calls).toContainEqual(['hide', 'api_key']);
    calls.length = 0;
    const byHeader = request('/v3/files/a', { 'x-api-key': key });
    (byHeader as unknown as { rawHeaders: string[] }).rawHeaders = ['X-Api-Key', key];
    await kernel.authenticate(byHeader, byHeader, 'n', undefined);
    expect(byHeader.headers['x-api-key']).toBeUndefined();
    expect(calls.some((c) => c[0] === 'hide')).toBe(false);
  });

  it('checks the common options, and names a misspelt one', () => {
    expect(() => readCommonOptions({ hideCredential: true }, [])).toThrow(/hideCredential/);
    expect(() => readCommonOptions({ skip: 'no' }, [])).toThrow(/skip/);
    expect(() => readCommonOptions({ logger: {} }, [])).toThrow(/logger/);
    expect(readCommonOptions({ stateKey: 'x', logger: false }, ['stateKey'])).toMatchObject({
      hideCredentials: false,
      delegateErrors: false,
      logger: false,
    });
  });
});
