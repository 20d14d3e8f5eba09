// The request path's fast paths, checked deterministically (no timing): each test fails when its
// fast path falls back to the slow one, which still gives the same answers and so would pass every
// other test. `pnpm bench` measures what they save.
import type { AddressInfo } from 'node:net';
import {
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  createMemoryLimitStore,
  generateTokenSecret,
  type Keywarden,
} from '@keywarden/core';
import { createExpressAuth, getAuth as getExpressAuth } from '@keywarden/express';
import { getAuth as getFastifyAuth, keywardenFastify } from '@keywarden/fastify';
import express5 from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';

async function setup(limits = false) {
  const keys = createKeyManager({
    store: createMemoryKeyStore(),
    hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
  });
  const keywarden: Keywarden = createKeywarden({
    keys,
    requireHttps: false,
    tokens: { secrets: [{ id: 't', secret: generateTokenSecret() }] },
    ...(limits ? { limits: { store: createMemoryLimitStore() } } : {}),
  });
  const { key, record } = await keys.create({
    name: 'k',
    paths: ['/v3/files/*'],
    ...(limits
      ? { rateLimit: { limit: 1000, windowSeconds: 60 }, quota: { limit: 1000, period: 'month' } }
      : {}),
  });
  const { token } = await keywarden.mintAccessToken(record.id, { paths: ['/v3/files/*'] });
  return { keywarden, key, token };
}

describe('the warm path answers synchronously', () => {
  it.each([
    ['a key', false, 'key'],
    ['a key with a rate limit and a quota in memory', true, 'key'],
    ['a token', false, 'token'],
  ] as const)('%s', async (_name, limits, form) => {
    const { keywarden, key, token } = await setup(limits);
    const headers = form === 'key' ? { 'x-api-key': key } : { authorization: `AccessToken ${token}` };
    const input = { method: 'GET', url: '/v3/files/a.png', headers, ip: '127.0.0.1' };
    expect((await keywarden.authenticate(input)).ok).toBe(true); // cold: verified once
    for (let i = 0; i < 3; i++) {
      const warm = keywarden.authenticateNow(input);
      expect(warm).not.toBeInstanceOf(Promise);
      expect((warm as { ok: boolean }).ok).toBe(true);
    }
  });
});

describe("Express shows req.auth through its request prototype's accessor, never an own property a request", () => {
  it.each([
    ['Express 4', express4 as unknown as typeof express5],
    ['Express 5', express5],
  ])('%s', async (_name, express) => {
    const { keywarden, key } = await setup();
    const app = express();
    app.use(createExpressAuth(keywarden).authenticate());
    app.get('/v3/files/a.png', (req, res) => {
      const record = req as unknown as Record<string, unknown>;
      res.json({ own: Object.hasOwn(req, 'auth'), same: record.auth === getExpressAuth(req) });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v3/files/a.png`;
      for (let i = 0; i < 2; i++)
        expect(await (await fetch(url, { headers: { 'x-api-key': key } })).json()).toEqual({
          own: false,
          same: true,
        });
    } finally {
      server.close();
    }
  });
});

describe("Fastify's route config", () => {
  it('is read from the route context after the first request, not through request.routeOptions', async () => {
    const { keywarden, key } = await setup();
    const app = Fastify();
    let reads = 0;
    // Before the plugin's hook: every read of routeOptions from here on is counted.
    app.addHook('onRequest', async (request) => {
      let getter: (() => unknown) | undefined;
      for (let proto = Object.getPrototypeOf(request); proto && !getter; proto = Object.getPrototypeOf(proto))
        getter = Object.getOwnPropertyDescriptor(proto, 'routeOptions')?.get;
      if (!getter) throw new Error('Fastify has no routeOptions getter here');
      Object.defineProperty(request, 'routeOptions', {
        configurable: true,
        get() {
          reads++;
          return getter.call(this);
        },
      });
    });
    await app.register(keywardenFastify, { keywarden, hook: 'preParsing' });
    app.get('/v3/files/*', { config: { keywarden: { scopes: [] } } }, async (request) => ({
      id: getFastifyAuth(request).keyId,
    }));
    try {
      const ask = () => app.inject({ method: 'GET', url: '/v3/files/a.png', headers: { 'x-api-key': key } });
      expect((await ask()).statusCode).toBe(200); // the first request finds the context
      reads = 0;
      for (let i = 0; i < 3; i++) expect((await ask()).statusCode).toBe(200);
      expect(reads).toBe(0);
    } finally {
      await app.close();
    }
  });
});
