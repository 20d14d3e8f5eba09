import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  generateTokenSecret,
} from '@keywarden/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeAuth, getAuth } from '../src/index.js';

/** The key with its last character changed (whatever that character was). */
const damage = (key: string) => key.slice(0, -1) + (key.endsWith('x') ? 'y' : 'x');

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler).listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function setup() {
  const keys = createKeyManager({
    store: createMemoryKeyStore(),
    hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
  });
  const keywarden = createKeywarden({
    keys,
    requireHttps: false,
    apiKeyQueryParam: 'api_key',
    tokens: { secrets: [{ id: 't', secret: generateTokenSecret() }] },
  });
  const { key, record } = await keys.create({
    name: 'k',
    scopes: ['read'],
    quota: { limit: 10, period: 'month' },
  });
  return { keys, keywarden, key, record };
}

describe('@keywarden/node', () => {
  it('guards a plain http.createServer handler: the principal on success, problem+json on refusal', async () => {
    const { keywarden, key, record } = await setup();
    const guard = createNodeAuth(keywarden).authenticate({ scopes: ['read'] });
    const base = await listen(async (req, res) => {
      const principal = await guard(req, res);
      if (principal) res.end(JSON.stringify({ keyId: getAuth(req).keyId, same: principal === getAuth(req) }));
    });
    const ok = await fetch(`${base}/x`, { headers: { 'x-api-key': key } });
    expect(await ok.json()).toEqual({ keyId: record.id, same: true });
    expect(ok.headers.get('ratelimit')).toMatch(/"quota";r=9/);
    const refused = await fetch(`${base}/x`, { headers: { 'x-api-key': damage(key) } });
    expect([refused.status, refused.headers.get('content-type')]).toEqual([401, 'application/problem+json']);
    expect(((await refused.json()) as { code: string }).code).toBe('invalid_credentials');
  });

  it('works Connect style: next() after success, next(error) when delegating, stacked handlers charge the extra cost', async () => {
    const { keywarden, key } = await setup();
    const auth = createNodeAuth(keywarden, { delegateErrors: true });
    const all = auth.authenticate();
    const upscale = auth.authenticate({ cost: 5 });
    const base = await listen((req, res) => {
      const fail = (error: unknown) => {
        const e = error as { status: number; code: string };
        res.writeHead(e.status, { 'content-type': 'application/json' }).end(JSON.stringify({ mine: e.code }));
      };
      void all(req, res, (error) =>
        error ? fail(error) : void upscale(req, res, (e2) => (e2 ? fail(e2) : res.end('done'))),
      );
    });
    const call = () => fetch(`${base}/v3/upscale`, { headers: { 'x-api-key': key } });
    expect(await (await call()).text()).toBe('done');
    expect(await (await call()).text()).toBe('done');
    const third = await call();
    expect([third.status, await third.json()]).toEqual([429, { mine: 'quota_exceeded' }]);
    const missing = await fetch(`${base}/v3/upscale`);
    expect([missing.status, await missing.json()]).toEqual([401, { mine: 'missing_credentials' }]);
  });

  it('hides the credential before the handler, and mints tokens that it then accepts', async () => {
    const { keywarden, key } = await setup();
    const auth = createNodeAuth(keywarden, { hideCredentials: true });
    const guard = auth.authenticate();
    const mint = auth.mint();
    const base = await listen(async (req, res) => {
      if (req.url === '/mint') return mint(req, res);
      if (await guard(req, res))
        res.end(JSON.stringify({ url: req.url, header: req.headers['x-api-key'] ?? null }));
    });
    expect(await (await fetch(`${base}/a?api_key=${key}&x=a%20b`)).json()).toEqual({
      url: '/a?x=a%20b',
      header: null,
    });
    expect(await (await fetch(`${base}/a`, { headers: { 'x-api-key': key } })).json()).toEqual({
      url: '/a',
      header: null,
    });
    const minted = await fetch(`${base}/mint`, {
      method: 'POST',
      headers: { 'x-api-key': key },
      body: '{"paths":["/a"]}',
    });
    expect(minted.status).toBe(200);
    const { access_token: token } = (await minted.json()) as { access_token: string };
    expect((await fetch(`${base}/a`, { headers: { authorization: `AccessToken ${token}` } })).status).toBe(
      200,
    );
    expect((await fetch(`${base}/b`, { headers: { authorization: `AccessToken ${token}` } })).status).toBe(
      401,
    );
  });

  it('steps aside for skip(req), and lets a request without credential through an optional handler while refusing a wrong key', async () => {
    const { keywarden, key, record } = await setup();
    const guard = createNodeAuth(keywarden, { skip: (req) => req.url === '/health' }).authenticate({
      optional: true,
    });
    const base = await listen(async (req, res) => {
      const principal = await guard(req, res);
      // A refusal has answered already; anonymous and skipped requests have not.
      if (!res.writableEnded) res.end(JSON.stringify({ keyId: principal?.keyId ?? null }));
    });
    const body = async (path: string, headers: Record<string, string> = {}) => {
      const response = await fetch(`${base}${path}`, { headers });
      return [response.status, await response.json()];
    };
    expect(await body('/health', { 'x-api-key': 'junk' })).toEqual([200, { keyId: null }]);
    expect(await body('/x')).toEqual([200, { keyId: null }]);
    expect(await body('/x', { 'x-api-key': key })).toEqual([200, { keyId: record.id }]);
    const wrong = await body('/x', { 'x-api-key': damage(key) });
    expect(wrong).toEqual([401, expect.objectContaining({ code: 'invalid_credentials' })]);
    expect(() => createNodeAuth(keywarden, { skip: true as never })).toThrow(/skip/);
    expect(() => createNodeAuth(keywarden).authenticate({ optional: 'yes' as never })).toThrow(/optional/);
  });

  it('refuses unknown options and a mint handler without tokens, and explains a missing principal', async () => {
    const { keys } = await setup();
    const keywarden = createKeywarden({ keys, requireHttps: false });
    expect(() => createNodeAuth(keywarden, { hide: true } as never)).toThrow(/unknown option hide/);
    expect(() => createNodeAuth(keywarden).mint()).toThrow(/tokens/);
    expect(() => getAuth({} as IncomingMessage)).toThrow(/auth.authenticate/);
  });
});
