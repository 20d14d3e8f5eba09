import type { AddressInfo } from 'node:net';
import { createHmacHasher, createKeyManager, createKeywarden, createMemoryKeyStore } from '@keywarden/core';
import Router from '@koa/router';
import Koa from 'koa';
import mount from 'koa-mount';
import { afterEach, describe, expect, it } from 'vitest';
import { createKoaAuth, getAuth } from '../src/index.js';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

describe('@keywarden/koa', () => {
  it('hideCredentials removes the header before downstream middleware, which sees the principal', async () => {
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    });
    const keywarden = createKeywarden({ keys, requireHttps: false });
    const { key, record } = await keys.create({ name: 'k' });
    const app = new Koa();
    app.use(createKoaAuth(keywarden, { hideCredentials: true }).authenticate());
    app.use((ctx) => {
      ctx.body = { header: ctx.get('authorization') || null, keyId: getAuth(ctx).keyId };
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    closers.push(() => server.close());
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const response = await fetch(`${base}/x`, { headers: { authorization: `Token ${key}` } });
    expect(await response.json()).toEqual({ header: null, keyId: record.id });
  });

  async function listen(app: Koa): Promise<string> {
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    closers.push(() => server.close());
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('hideCredentials under koa-mount removes only the parameter, every other byte of the URL kept', async () => {
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    });
    const keywarden = createKeywarden({ keys, requireHttps: false, apiKeyQueryParam: 'api_key' });
    const { key } = await keys.create({ name: 'k' });
    const api = new Koa();
    api.use(createKoaAuth(keywarden, { hideCredentials: true }).authenticate());
    api.use((ctx) => {
      ctx.body = { originalUrl: ctx.originalUrl, url: ctx.url, query: ctx.query };
    });
    const app = new Koa();
    app.use(mount('/v3', api));
    const base = await listen(app);
    const seen = await (await fetch(`${base}/v3/files/a.png?api_key=${key}&x=a%20b&y=1+2`)).json();
    expect(seen).toEqual({
      originalUrl: '/v3/files/a.png?x=a%20b&y=1+2',
      url: '/files/a.png?x=a%20b&y=1+2',
      query: { x: 'a b', y: '1 2' },
    });
  });

  it("charges a stacked route's cost: a quota of 10 and a route of cost 5 behind an app-wide authenticate() allow 2 calls", async () => {
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    });
    const keywarden = createKeywarden({ keys, requireHttps: false });
    const { key } = await keys.create({ name: 'k', quota: { limit: 10, period: 'month' } });
    const auth = createKoaAuth(keywarden);
    const app = new Koa();
    const router = new Router();
    router.post('/v3/tools/upscale', auth.authenticate({ cost: 5 }), (ctx) => {
      ctx.body = { ok: true };
    });
    app.use(auth.authenticate());
    app.use(router.routes());
    const base = await listen(app);
    const upscale = () =>
      fetch(`${base}/v3/tools/upscale`, { method: 'POST', headers: { 'x-api-key': key } });
    const first = await upscale();
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit')).toMatch(/^"quota";r=5;t=\d+$/);
    expect((await upscale()).status).toBe(200);
    const third = await upscale();
    expect(third.status).toBe(429);
    expect(((await third.json()) as { code: string }).code).toBe('quota_exceeded');
  });

  it('the middleware always answers with a promise, so wrappers may chain on it', async () => {
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
      failureThrottle: false,
    });
    const keywarden = createKeywarden({ keys, requireHttps: false });
    const { key } = await keys.create({ name: 'k' });
    const answering = createKoaAuth(keywarden).authenticate();
    const delegating = createKoaAuth(keywarden, { delegateErrors: true }).authenticate();
    const app = new Koa();
    app.use((ctx, next) => {
      const auth = ctx.get('x-delegate') ? delegating : answering;
      // A wrapper that chains on what the middleware returns (a plain function may not return a promise).
      return auth(ctx, next).then(
        () => ctx.set('x-wrapper', 'resolved'),
        (error: { status: number }) => {
          ctx.status = error.status;
          ctx.body = 'delegated';
          ctx.set('x-wrapper', 'rejected');
        },
      );
    });
    app.use((ctx) => {
      ctx.body = 'reached';
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    closers.push(() => server.close());
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const call = async (headers: Record<string, string>) => {
      const response = await fetch(`${base}/x`, { headers });
      return [response.status, response.headers.get('x-wrapper'), await response.text()];
    };
    expect(await call({ 'x-api-key': key })).toEqual([200, 'resolved', 'reached']);
    expect((await call({}))[1]).toBe('resolved');
    expect((await call({}))[0]).toBe(401);
    expect(await call({ 'x-delegate': '1' })).toEqual([401, 'rejected', 'delegated']);
    expect(await call({ 'x-delegate': '1', 'x-api-key': key })).toEqual([200, 'resolved', 'reached']);
  });

  it('a ctx.state.auth that other middleware set is not a keywarden principal', async () => {
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    });
    const keywarden = createKeywarden({ keys, requireHttps: false });
    const { key } = await keys.create({ name: 'k' });
    const auth = createKoaAuth(keywarden);
    const app = new Koa();
    app.use((ctx, next) => {
      // e.g. a JWT middleware, whose own object has none of a principal's fields but these
      (ctx.state as Record<string, unknown>).auth = { keyId: 'jwt-user', scopes: ['admin'] };
      return next();
    });
    app.use(auth.authenticate({ scopes: ['admin'] }));
    app.use((ctx) => {
      ctx.body = { reached: true };
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    closers.push(() => server.close());
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect((await fetch(`${base}/x`)).status).toBe(401);
    expect((await fetch(`${base}/x`, { headers: { 'x-api-key': key } })).status).toBe(403);
    const foreign = { state: { auth: { keyId: 'jwt-user' } } } as unknown as Parameters<typeof getAuth>[0];
    expect(() => getAuth(foreign)).toThrow(/auth.authenticate/);
  });

  it('getAuth explains a missing middleware', () => {
    expect(() => getAuth({ state: {} })).toThrow(/auth.authenticate/);
  });
});

describe('@keywarden/koa start-up checks', () => {
  it('refuses bad route requirements and a mint handler without tokens when they are defined', () => {
    const keys = createKeyManager({ store: createMemoryKeyStore() });
    const auth = createKoaAuth(createKeywarden({ keys }));
    expect(() => auth.authenticate({ scopes: 'admin' } as never)).toThrow(/scopes/);
    expect(() => auth.mint()).toThrow(/tokens/);
  });
});

describe('CORS', () => {
  it.each([
    ['before', true],
    ['after', false],
  ])(
    'with @koa/cors used %s authenticate(): preflights pass to it, refusals after it carry its headers',
    async (_order, corsFirst) => {
      const { default: cors } = await import('@koa/cors');
      const keys = createKeyManager({
        store: createMemoryKeyStore(),
        hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
      });
      const keywarden = createKeywarden({ keys, requireHttps: false });
      const app = new Koa();
      if (corsFirst) app.use(cors({ origin: 'https://app.example' }));
      app.use(createKoaAuth(keywarden).authenticate());
      if (!corsFirst) app.use(cors({ origin: 'https://app.example' }));
      app.use((ctx) => {
        ctx.body = { ok: true };
      });
      const server = app.listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      closers.push(() => server.close());
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const preflight = await fetch(`${base}/v3/files/a.png`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example');
      if (!corsFirst) return;
      const refused = await fetch(`${base}/v3/files/a.png`, { headers: { origin: 'https://app.example' } });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(((await refused.json()) as { code: string }).code).toBe('missing_credentials');
    },
  );
});

describe('living beside other middleware', () => {
  it('shows the principal under stateKey, steps aside for skip(ctx), and lets anonymous requests through optional routes', async () => {
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    });
    const keywarden = createKeywarden({ keys, requireHttps: false });
    const { key, record } = await keys.create({ name: 'k' });
    const auth = createKoaAuth(keywarden, { stateKey: 'apiKey', skip: (ctx) => ctx.path === '/health' });
    const app = new Koa();
    app.use(async (ctx, next) => {
      ctx.state.auth = { user: 'from a JWT middleware' };
      await next();
    });
    app.use(auth.authenticate({ optional: true }));
    app.use((ctx) => {
      const principal = (ctx.state as { apiKey?: { keyId: string } }).apiKey;
      ctx.body = { apiKey: principal?.keyId ?? null, auth: ctx.state.auth, path: ctx.path };
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    closers.push(() => server.close());
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect(await (await fetch(`${base}/x`, { headers: { 'x-api-key': key } })).json()).toEqual({
      apiKey: record.id,
      auth: { user: 'from a JWT middleware' },
      path: '/x',
    });
    expect(await (await fetch(`${base}/x`)).json()).toMatchObject({ apiKey: null });
    expect((await fetch(`${base}/x`, { headers: { 'x-api-key': 'junk' } })).status).toBe(401);
    expect((await fetch(`${base}/health`, { headers: { 'x-api-key': 'junk' } })).status).toBe(200);
  });
});
