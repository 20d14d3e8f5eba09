import type { AddressInfo } from 'node:net';
import {
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  formatApiKey,
} from '@keywarden/core';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { getAuth, keywardenFastify } from '../src/index.js';

function keywardenWith(tokens = false) {
  const keys = createKeyManager({
    store: createMemoryKeyStore(),
    hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
  });
  return createKeywarden({
    keys,
    requireHttps: false,
    ...(tokens
      ? { tokens: { secrets: [{ id: 'k1', secret: Buffer.from(Array.from({ length: 32 }, (_, i) => i)) }] } }
      : {}),
  });
}

describe('@keywarden/fastify', () => {
  it('refuses a missing keywarden, and a mint route without tokens, at start-up', async () => {
    await expect(
      Fastify()
        .register(keywardenFastify, {} as never)
        .ready(),
    ).rejects.toThrow(/createKeywarden/);
    await expect(
      Fastify().register(keywardenFastify, { keywarden: keywardenWith(), mintPath: '/mint' }).ready(),
    ).rejects.toThrow(/tokens/);
  });

  it('refuses a bad route config when the route is registered', async () => {
    const app = Fastify();
    await app.register(keywardenFastify, { keywarden: keywardenWith() });
    expect(() => app.get('/x', { config: { keywarden: { cost: 1.5 } } }, async () => 'x')).toThrow(/cost/);
    await app.close();
  });

  it('hideCredentials removes the header; public routes have a null principal', async () => {
    const keywarden = keywardenWith(true);
    const { key, record } = await keywarden.keys.create({ name: 'k' });
    const app = Fastify();
    await app.register(keywardenFastify, { keywarden, hideCredentials: true });
    app.get('/x', async (request) => ({
      header: request.headers['x-api-key'] ?? null,
      keyId: getAuth(request).keyId,
    }));
    // No principal is undefined, as on every adapter.
    app.get('/public', { config: { keywarden: false } }, async (request) => ({
      auth: typeof (request as unknown as { auth?: unknown }).auth,
    }));
    const hidden = await app.inject({ url: '/x', headers: { 'x-api-key': key } });
    expect(hidden.json()).toEqual({ header: null, keyId: record.id });
    expect((await app.inject({ url: '/public' })).json()).toEqual({ auth: 'undefined' });
    expect(() => getAuth({ auth: null } as never)).toThrow(/public/);
    await app.close();
  });
});

describe('the CommonJS module', () => {
  it('is the plugin itself, with .default and the named exports, the way Fastify plugins ship', async () => {
    const { createRequire } = await import('node:module');
    const plugin = createRequire(import.meta.url)('../dist/index.cjs');
    expect(typeof plugin).toBe('function');
    expect(plugin.default).toBe(plugin);
    expect(plugin.keywardenFastify).toBe(plugin);
    expect(typeof plugin.getAuth).toBe('function');
    const app = Fastify();
    await app.register(plugin, { keywarden: keywardenWith() });
    app.get('/x', async () => 'x');
    expect((await app.inject({ url: '/x' })).statusCode).toBe(401);
    await app.close();
  });
});

describe('CORS', () => {
  const preflight = {
    method: 'OPTIONS' as const,
    url: '/v3/files/a.png',
    headers: {
      origin: 'https://app.example',
      'access-control-request-method': 'GET',
      'access-control-request-headers': 'authorization',
    },
  };
  it.each([
    ['before', true],
    ['after', false],
  ])(
    'with @fastify/cors registered %s the plugin: preflights pass, refusals carry its headers',
    async (_order, corsFirst) => {
      const { default: cors } = await import('@fastify/cors');
      const app = Fastify();
      if (corsFirst) await app.register(cors, { origin: 'https://app.example' });
      await app.register(keywardenFastify, { keywarden: keywardenWith() });
      if (!corsFirst) await app.register(cors, { origin: 'https://app.example' });
      app.get('/v3/files/*', async () => ({ ok: true }));
      const answered = await app.inject(preflight);
      expect(answered.statusCode).toBe(204);
      expect(answered.headers['access-control-allow-origin']).toBe('https://app.example');
      const refused = await app.inject({
        method: 'GET',
        url: '/v3/files/a.png',
        headers: { origin: 'https://app.example' },
      });
      expect(refused.statusCode).toBe(401);
      expect(refused.headers['access-control-allow-origin']).toBe('https://app.example');
      expect(refused.json()).toMatchObject({ code: 'missing_credentials' });
      await app.close();
    },
  );

  it('refuses an unknown hook at start-up', async () => {
    await expect(
      Fastify()
        .register(keywardenFastify, { keywarden: keywardenWith(), hook: 'preHandler' as never })
        .ready(),
    ).rejects.toThrow(/hook/);
  });
});

describe('living beside other plugins', () => {
  it('shows the principal under decorator, steps aside for skip(request), lets anonymous requests through optional routes', async () => {
    const keywarden = keywardenWith();
    const { key, record } = await keywarden.keys.create({ name: 'k' });
    const app = Fastify();
    app.decorateRequest('auth', null); // another plugin owns request.auth
    await app.register(keywardenFastify, {
      keywarden,
      decorator: 'apiKey',
      skip: (request) => request.url === '/health',
    });
    const who = async (request: import('fastify').FastifyRequest) => ({
      apiKey: (request as unknown as { apiKey?: { keyId: string } }).apiKey?.keyId ?? null,
      viaGetAuth: (() => {
        try {
          return getAuth(request).keyId;
        } catch {
          return null;
        }
      })(),
    });
    app.get('/x', who);
    app.get('/maybe', { config: { keywarden: { optional: true } } }, who);
    app.get('/health', async () => ({ ok: true }));
    expect((await app.inject({ url: '/x', headers: { 'x-api-key': key } })).json()).toEqual({
      apiKey: record.id,
      viaGetAuth: record.id,
    });
    expect((await app.inject({ url: '/x' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/maybe' })).json()).toEqual({ apiKey: null, viaGetAuth: null });
    expect((await app.inject({ url: '/maybe', headers: { 'x-api-key': 'junk' } })).statusCode).toBe(401);
    expect((await app.inject({ url: '/health', headers: { 'x-api-key': 'junk' } })).json()).toEqual({
      ok: true,
    });
    await app.close();
  });
});

describe('logging', () => {
  const serve = async (
    app: ReturnType<typeof Fastify>,
    keywarden: ReturnType<typeof keywardenWith>,
    options = {},
  ) => {
    await app.register(keywardenFastify, { keywarden, ...options });
    app.get('/x', async () => 'ok');
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    return (apiKey: string, requestId: string) =>
      fetch(`http://127.0.0.1:${port}/x`, { headers: { 'x-api-key': apiKey, 'x-request-id': requestId } });
  };
  const capture = () => {
    const lines: Record<string, unknown>[] = [];
    return { lines, stream: { write: (line: string) => lines.push(JSON.parse(line)) } };
  };
  const ours = (lines: Record<string, unknown>[]) =>
    lines.filter((line) => String(line.msg).startsWith('keywarden'));

  it("logs refusals to Fastify's own logger with the request id, and successes not at all", async () => {
    const keywarden = keywardenWith();
    const { key, record } = await keywarden.keys.create({ name: 'k' });
    const { lines, stream } = capture();
    const app = Fastify({ logger: { level: 'info', stream }, requestIdHeader: 'x-request-id' });
    const ask = await serve(app, keywarden);
    expect((await ask(key, 'r-ok')).status).toBe(200);
    const wrong = formatApiKey(record.prefix, record.id, 'W'.repeat(32));
    expect((await ask(wrong, 'r-bad')).status).toBe(401);
    expect(ours(lines)).toEqual([
      expect.objectContaining({
        level: 30,
        reqId: 'r-bad',
        msg: 'keywarden refused the request: invalid_credentials (wrong_secret)',
        keywarden: expect.objectContaining({ keyId: record.id, reason: 'wrong_secret', path: '/x' }),
      }),
    ]);
    expect(JSON.stringify(lines)).not.toContain(key.slice(-38));
    expect(JSON.stringify(lines)).not.toContain(wrong.slice(-38));
    await app.close();
  });

  it('logs nothing when Fastify is silent or logger is false, and to the logger given otherwise', async () => {
    const silent = capture();
    const off = capture();
    const given: string[] = [];
    const setups = [
      { app: Fastify({ logger: { level: 'silent', stream: silent.stream } }), options: {} },
      { app: Fastify({ logger: { level: 'info', stream: off.stream } }), options: { logger: false } },
      {
        app: Fastify(),
        options: { logger: { info: (_: object, m: string) => given.push(m), warn() {}, error() {} } },
      },
    ];
    for (const { app, options } of setups) {
      const keywarden = keywardenWith();
      const { record } = await keywarden.keys.create({ name: 'k' });
      const ask = await serve(app, keywarden, options);
      expect((await ask(formatApiKey(record.prefix, record.id, 'W'.repeat(32)), 'r')).status).toBe(401);
      await app.close();
    }
    expect(ours(silent.lines)).toEqual([]);
    expect(ours(off.lines)).toEqual([]);
    expect(given).toEqual(['keywarden refused the request: invalid_credentials (wrong_secret)']);
  });

  it('logs a refusal once when one keywarden and logger serve several plugin contexts', async () => {
    const keywarden = keywardenWith();
    const { record } = await keywarden.keys.create({ name: 'k' });
    const given: string[] = [];
    const logger = { info: (_: object, m: string) => given.push(m), warn() {}, error() {} };
    const app = Fastify();
    for (const prefix of ['/a', '/b'])
      await app.register(
        async (scope) => {
          await scope.register(keywardenFastify, { keywarden, logger });
          scope.get('/x', async () => 'ok');
        },
        { prefix },
      );
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const wrong = formatApiKey(record.prefix, record.id, 'W'.repeat(32));
    const res = await fetch(`http://127.0.0.1:${port}/a/x`, { headers: { 'x-api-key': wrong } });
    expect(res.status).toBe(401);
    expect(given).toHaveLength(1);
    await app.close();
  });
});

describe("each route's config.keywarden", () => {
  it('holds for routes registered before the plugin, after it, and in child scopes, over real sockets', async () => {
    const keywarden = keywardenWith();
    const { key } = await keywarden.keys.create({ name: 'k', scopes: ['images:read'] });
    const app = Fastify();
    const routes = (scope: import('fastify').FastifyInstance, at: string) => {
      scope.get(`${at}/open`, { config: { keywarden: false } }, async () => 'open');
      scope.get(`${at}/read`, { config: { keywarden: { scopes: ['images:read'] } } }, async () => 'read');
      scope.get(`${at}/write`, { config: { keywarden: { scopes: ['images:write'] } } }, async () => 'write');
      scope.get(`${at}/plain`, async () => 'plain');
    };
    routes(app, '/before'); // Fastify applies the plugin's hooks to these too
    await app.register(keywardenFastify, { keywarden });
    routes(app, '/after');
    await app.register(async (child) => routes(child, '/child'));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      for (const at of ['/before', '/after', '/child']) {
        const status = async (path: string, withKey: boolean) =>
          (await fetch(`${base}${at}${path}`, withKey ? { headers: { 'x-api-key': key } } : {})).status;
        // Alternate routes so that a reader keyed to the first route would show here.
        expect([
          await status('/write', true),
          await status('/open', false),
          await status('/read', true),
        ]).toEqual([403, 200, 200]);
        expect([
          await status('/plain', false),
          await status('/plain', true),
          await status('/read', false),
        ]).toEqual([401, 200, 401]);
      }
    } finally {
      await app.close();
    }
  });

  it("is read from Fastify's route context only when that object is routeOptions.config itself", async () => {
    const { findConfigReader } = await import('../src/route-config.js');
    const config = { keywarden: { scopes: ['a'] } };
    const contextSymbol = Symbol('fastify.context');
    const request = (context: unknown, routeConfig: unknown) =>
      ({ [contextSymbol]: context, routeOptions: { config: routeConfig } }) as never;
    // The context's config is routeOptions.config: read from the context (the getter is not asked again).
    const fromContext = request({ config }, config);
    const direct = findConfigReader(fromContext);
    Object.defineProperty(fromContext, 'routeOptions', {
      get: () => {
        throw new Error('routeOptions read');
      },
    });
    expect(direct(fromContext)).toBe(config.keywarden);
    // Another object under that name, no such symbol, or no config: always the getter.
    for (const other of [
      request({ config: { keywarden: false } }, config),
      { routeOptions: { config } } as never,
      request(undefined, config),
    ]) {
      const read = findConfigReader(other);
      expect(read({ routeOptions: { config: { keywarden: false } } } as never)).toBe(false);
    }
    expect(
      findConfigReader(request({ config: undefined }, undefined))({ routeOptions: { config } } as never),
    ).toBe(config.keywarden);
  });
});
