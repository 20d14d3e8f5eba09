import { createHmacHasher, createKeyManager, createKeywarden, createMemoryKeyStore } from '@keywarden/core';
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
    app.get('/public', { config: { keywarden: false } }, async (request) => ({ auth: request.auth }));
    const hidden = await app.inject({ url: '/x', headers: { 'x-api-key': key } });
    expect(hidden.json()).toEqual({ header: null, keyId: record.id });
    expect((await app.inject({ url: '/public' })).json()).toEqual({ auth: null });
    expect(() => getAuth({ auth: null } as never)).toThrow(/public/);
    await app.close();
  });
});
