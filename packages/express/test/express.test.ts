import type { AddressInfo } from 'node:net';
import { createHmacHasher, createKeyManager, createKeywarden, createMemoryKeyStore } from '@keywarden/core';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { createExpressAuth, getAuth } from '../src/index.js';

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
