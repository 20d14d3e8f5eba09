import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmacHasher, createKeyManager, createKeywarden, createMemoryKeyStore } from '@keywarden/core';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { type AuthenticatedRequest, createExpressAuth, getAuth } from '../src/index.js';

/** The key with its last character changed (whatever that character was). */
const damage = (key: string) => key.slice(0, -1) + (key.endsWith('Q') ? 'R' : 'Q');

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

async function start(app: express.Express): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  closers.push(() => server.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function setup(options: Parameters<typeof createExpressAuth>[1] = {}) {
  const keys = createKeyManager({
    store: createMemoryKeyStore(),
    hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
  });
  const keywarden = createKeywarden({ keys, requireHttps: false, apiKeyQueryParam: 'api_key' });
  const { key } = await keys.create({ name: 'k' });
  return { key, auth: createExpressAuth(keywarden, options) };
}

describe('@keywarden/express', () => {
  it('hideCredentials removes the header and the query parameter before the handler', async () => {
    const { key, auth } = await setup({ hideCredentials: true });
    const app = express();
    app.use(auth.authenticate());
    app.get('/x', (req, res) => {
      res.json({
        header: req.headers['x-api-key'] ?? null,
        raw: req.rawHeaders.some((h) => h.includes(key)),
        url: req.originalUrl,
        query: req.query,
        keyId: getAuth(req).keyId,
      });
    });
    const base = await start(app);
    const viaHeader = await (await fetch(`${base}/x`, { headers: { 'x-api-key': key } })).json();
    expect(viaHeader).toMatchObject({ header: null, raw: false, url: '/x' });
    const viaQuery = await (await fetch(`${base}/x?a=1&api_key=${key}`)).json();
    expect(viaQuery).toMatchObject({ url: '/x?a=1', query: { a: '1' } });
    expect(JSON.stringify(viaQuery)).not.toContain(key);
  });

  it('hideCredentials inside a mounted router removes only the parameter, every other byte of the URL kept', async () => {
    const { key, auth } = await setup({ hideCredentials: true });
    const app = express();
    const router = express.Router();
    router.use(auth.authenticate());
    router.get('/files/:name', (req, res) => {
      res.json({ originalUrl: req.originalUrl, url: req.url, query: req.query });
    });
    app.use('/v3', router);
    const base = await start(app);
    const seen = await (await fetch(`${base}/v3/files/a.png?api_key=${key}&x=a%20b&y=1+2`)).json();
    expect(seen).toEqual({
      originalUrl: '/v3/files/a.png?x=a%20b&y=1+2',
      url: '/files/a.png?x=a%20b&y=1+2',
      query: { x: 'a b', y: '1 2' },
    });
    const alone = await (await fetch(`${base}/v3/files/a.png?api_key=${key}`)).json();
    expect(alone).toMatchObject({ originalUrl: '/v3/files/a.png', url: '/files/a.png' });
  });

  it("charges a stacked route's cost: a quota of 10 and a route of cost 5 behind a router-wide authenticate() allow 2 calls", async () => {
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    });
    const keywarden = createKeywarden({ keys, requireHttps: false });
    const { key } = await keys.create({ name: 'k', quota: { limit: 10, period: 'month' } });
    const auth = createExpressAuth(keywarden);
    const app = express();
    app.use('/v3', auth.authenticate());
    app.post('/v3/tools/upscale', auth.authenticate({ cost: 5 }), (_req, res) => {
      res.json({ ok: true });
    });
    app.get('/v3/files/a.png', auth.authenticate({ cost: 0 }), (_req, res) => {
      res.json({ ok: true });
    });
    const base = await start(app);
    const upscale = () =>
      fetch(`${base}/v3/tools/upscale`, { method: 'POST', headers: { 'x-api-key': key } });
    const first = await upscale();
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit')).toBe(
      `"quota";r=5;t=${first.headers.get('ratelimit')!.split('t=')[1]}`,
    );
    expect((await upscale()).status).toBe(200);
    const third = await upscale();
    expect(third.status).toBe(429);
    expect(((await third.json()) as { code: string }).code).toBe('quota_exceeded');
  });

  it('a req.auth that another library set is not a keywarden principal', async () => {
    const { key, auth } = await setup();
    const app = express();
    // e.g. express-jwt and express-oauth2-jwt-bearer set req.auth too.
    app.use((req, _res, next) => {
      (req as unknown as { auth: unknown }).auth = { keyId: 'jwt-user', scopes: ['admin'] };
      next();
    });
    app.get('/admin', auth.authenticate({ scopes: ['admin'] }), (_req, res) => {
      res.json({ reached: true });
    });
    const base = await start(app);
    const bare = await fetch(`${base}/admin`);
    expect(bare.status).toBe(401);
    expect(await bare.text()).not.toContain('reached');
    // With a key that lacks the scope: still refused (403), not waved through by the other req.auth.
    expect((await fetch(`${base}/admin`, { headers: { 'x-api-key': key } })).status).toBe(403);
  });

  it('req.auth reaches handlers in mounted apps and routers; another library may still assign it', async () => {
    const { key, auth } = await setup();
    const app = express();
    const sub = express();
    const router = express.Router();
    app.use(auth.authenticate());
    sub.get('/who', (req, res) =>
      res.json({ keyId: (req as AuthenticatedRequest).auth?.keyId, viaGetAuth: getAuth(req).keyId }),
    );
    router.get('/who', auth.authenticate({ scopes: [] }), (req, res) =>
      res.json({ keyId: (req as AuthenticatedRequest).auth?.keyId }),
    );
    app.use('/sub', sub);
    app.use('/router', router);
    app.get('/later', (req, _res, next) => {
      (req as unknown as { auth: unknown }).auth = { other: true };
      next();
    });
    app.get('/later', (req, res) =>
      res.json({ auth: (req as AuthenticatedRequest).auth, viaGetAuth: getAuth(req).keyId }),
    );
    const base = await start(app);
    const headers = { 'x-api-key': key };
    const fromSub = (await (await fetch(`${base}/sub/who`, { headers })).json()) as Record<string, string>;
    expect(fromSub.keyId).toMatch(/^[0-9A-Za-z]{12}$/);
    expect(fromSub.viaGetAuth).toBe(fromSub.keyId);
    expect(await (await fetch(`${base}/router/who`, { headers })).json()).toEqual({ keyId: fromSub.keyId });
    expect(await (await fetch(`${base}/later`, { headers })).json()).toEqual({
      auth: { other: true },
      viaGetAuth: fromSub.keyId,
    });
  });

  it('sets req.auth on a bare router without an Express app', async () => {
    const { key, auth } = await setup();
    const router = express.Router();
    router.get('/who', auth.authenticate(), (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          keyId: (req as AuthenticatedRequest).auth?.keyId ?? null,
          viaGetAuth: getAuth(req).keyId,
        }),
      );
    });
    const server = http.createServer((req, res) =>
      router(req as express.Request, res as express.Response, () => {
        res.statusCode = 404;
        res.end();
      }),
    );
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    closers.push(() => server.close());
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const response = await fetch(`${base}/who`, { headers: { 'x-api-key': key } });
    const body = (await response.json()) as Record<string, string>;
    expect(body.keyId).toMatch(/^[0-9A-Za-z]{12}$/);
    expect(body.viaGetAuth).toBe(body.keyId);
    expect((await fetch(`${base}/who`)).status).toBe(401);
  });

  it('getAuth explains a missing middleware', () => {
    expect(() => getAuth({} as express.Request)).toThrow(/auth.authenticate/);
  });
});

describe('@keywarden/express start-up checks', () => {
  it('refuses bad route requirements and a mint handler without tokens when they are defined', async () => {
    const { auth } = await setup();
    expect(() => auth.authenticate({ cost: -1 })).toThrow(/cost/);
    expect(() => auth.mint()).toThrow(/tokens/);
  });
});

describe('CORS', () => {
  it.each([
    ['before', true],
    ['after', false],
  ])(
    'with cors() mounted %s authenticate(): preflights pass to it, refusals after it carry its headers',
    async (_order, corsFirst) => {
      const { default: cors } = await import('cors');
      const { auth } = await setup();
      const app = express();
      if (corsFirst) app.use(cors({ origin: 'https://app.example' }));
      app.use('/v3', auth.authenticate());
      if (!corsFirst) app.use(cors({ origin: 'https://app.example' }));
      app.get('/v3/files/a.png', (_req, res) => {
        res.json({ ok: true });
      });
      const base = await start(app);
      const preflight = await fetch(`${base}/v3/files/a.png`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example');
      if (!corsFirst) return; // a refusal before cors() has no CORS headers: mount cors() first (README)
      const refused = await fetch(`${base}/v3/files/a.png`, { headers: { origin: 'https://app.example' } });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(((await refused.json()) as { code: string }).code).toBe('missing_credentials');
    },
  );
});

describe('living beside other middleware', () => {
  it('shows the principal under requestProperty, getAuth reads it whatever the name, and req.auth is left alone', async () => {
    const { key, auth } = await setup({ requestProperty: 'apiKey' });
    const app = express();
    app.use((req, _res, next) => {
      (req as unknown as { auth: unknown }).auth = { payload: { sub: 'jwt-user' } }; // another library's
      next();
    });
    app.use(auth.authenticate());
    app.get('/x', (req, res) => {
      res.json({
        apiKey: (req as AuthenticatedRequest<'apiKey'>).apiKey?.keyId,
        auth: (req as unknown as { auth: unknown }).auth,
        viaGetAuth: getAuth(req).keyId,
      });
    });
    const base = await start(app);
    const seen = (await (await fetch(`${base}/x`, { headers: { 'x-api-key': key } })).json()) as Record<
      string,
      unknown
    >;
    expect(seen).toEqual({
      apiKey: seen.viaGetAuth,
      auth: { payload: { sub: 'jwt-user' } },
      viaGetAuth: expect.any(String),
    });
  });

  it('steps aside for skip(req), and lets anonymous requests through an optional route while refusing wrong keys', async () => {
    const { key, auth } = await setup({ skip: (req) => req.path === '/health' });
    const app = express();
    app.use(auth.authenticate({ optional: true }));
    app.get('/health', (_req, res) => {
      res.json({ ok: true });
    });
    app.get('/x', (req, res) => {
      res.json({ anonymous: (req as AuthenticatedRequest).auth === undefined });
    });
    const base = await start(app);
    expect(await (await fetch(`${base}/health`, { headers: { 'x-api-key': 'junk' } })).json()).toEqual({
      ok: true,
    });
    expect(await (await fetch(`${base}/x`)).json()).toEqual({ anonymous: true });
    expect(await (await fetch(`${base}/x`, { headers: { 'x-api-key': key } })).json()).toEqual({
      anonymous: false,
    });
    expect((await fetch(`${base}/x`, { headers: { 'x-api-key': damage(key) } })).status).toBe(401);
  });

  it('behind a trusted proxy, requireHttps accepts what the proxy says was HTTPS, and warns about nothing', async () => {
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    });
    const { key } = await keys.create({ name: 'k' });
    const auth = createExpressAuth(createKeywarden({ keys, requireHttps: true }));
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) => void (w.code && warnings.push(w.code));
    process.on('warning', onWarning);
    try {
      const app = express();
      app.set('trust proxy', 'loopback');
      app.use(auth.authenticate());
      app.get('/x', (_req, res) => {
        res.json({ ok: true });
      });
      const base = await start(app);
      const ask = (proto: string) =>
        fetch(`${base}/x`, { headers: { 'x-api-key': key, 'x-forwarded-proto': proto } });
      expect((await ask('https')).status).toBe(200);
      expect((await ask('http')).status).toBe(403); // the client did use plain HTTP
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).not.toContain('KEYWARDEN_HTTPS_PROXY');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('refuses a bad requestProperty or skip at start-up', async () => {
    const { auth: _ } = await setup();
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    });
    const keywarden = createKeywarden({ keys, requireHttps: false });
    expect(() => createExpressAuth(keywarden, { requestProperty: 'a b' })).toThrow(/requestProperty/);
    expect(() => createExpressAuth(keywarden, { skip: 'yes' as never })).toThrow(/skip/);
  });
});
