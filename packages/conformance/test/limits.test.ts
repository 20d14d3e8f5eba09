// Limits through real servers: per-route cost in each framework's idiom, and exactness under
// concurrency (quota 100, 1,000 parallel requests over real sockets: exactly 100 pass).
import {
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  generateTokenSecret,
} from '@keywarden/core';
import { describe, expect, it } from 'vitest';
import { rawRequest } from '../src/raw-client.js';
import { SERVERS } from '../src/servers.js';

async function fresh(quota: number) {
  const keys = createKeyManager({
    store: createMemoryKeyStore(),
    hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
  });
  const tokens = { secrets: [{ id: 'k1', secret: generateTokenSecret() }] };
  const keywarden = createKeywarden({ keys, tokens, requireHttps: false });
  const { key, record } = await keys.create({
    name: 'q',
    scopes: ['images:write'],
    quota: { limit: quota, period: 'month' },
  });
  return { keywarden, key, keyId: record.id };
}

describe.each(Object.entries(SERVERS))('%s', (_name, start) => {
  it('charges the route cost: an upscale costs 2, a download 1', async () => {
    const { keywarden, key } = await fresh(3);
    const server = await start(keywarden, {});
    try {
      const call = (method: string, target: string) =>
        rawRequest(server.port, { method, target, headers: [['x-api-key', key]] });
      const upscale = await call('POST', '/v3/tools/upscale/process/');
      expect([upscale.status, upscale.headers.ratelimit]).toEqual([
        200,
        expect.stringMatching(/^"quota";r=1;t=\d+$/),
      ]);
      const again = await call('POST', '/v3/tools/upscale/process/');
      expect([again.status, JSON.parse(again.body).code]).toEqual([429, 'quota_exceeded']);
      expect(again.headers['retry-after']).toMatch(/^\d+$/);
      const download = await call('GET', '/v3/files/a.png');
      expect([download.status, download.headers.ratelimit]).toEqual([
        200,
        expect.stringMatching(/^"quota";r=0;/),
      ]);
    } finally {
      await server.close();
    }
  });

  it('pays for work done: a handler that fails after reserving leaves the quota as it was; a retry with the same Idempotency-Key is charged once', async () => {
    const { keywarden, key, keyId } = await fresh(7);
    const server = await start(keywarden, {});
    const used = async () => (await keywarden.peekLimits(keyId))!.quota!.used;
    try {
      const render = (...headers: [string, string][]) =>
        rawRequest(server.port, {
          method: 'POST',
          target: '/v3/tools/render/',
          headers: [['x-api-key', key], ...headers],
        });
      const failed = await render(['x-fail', '1']);
      expect([failed.status, JSON.parse(failed.body)]).toEqual([418, { user_error: 'render failed' }]);
      expect(await used()).toBe(0);
      const first = await render(['idempotency-key', 'job-1']);
      expect([first.status, JSON.parse(first.body)]).toEqual([200, { route: 'render', reused: false }]);
      const retry = await render(['idempotency-key', 'job-1']);
      expect([retry.status, JSON.parse(retry.body)]).toEqual([200, { route: 'render', reused: true }]);
      expect(await used()).toBe(3);
      // A failed first try gives its Idempotency-Key back: the retry is charged then.
      expect((await render(['idempotency-key', 'job-2'], ['x-fail', '1'])).status).toBe(418);
      expect(JSON.parse((await render(['idempotency-key', 'job-2'])).body).reused).toBe(false);
      expect(await used()).toBe(6);
      // Reserving past the quota is the quota's refusal, handed to the error handler (429).
      const over = await render();
      expect([over.status, JSON.parse(over.body)]).toEqual([429, { custom: 'quota_exceeded' }]);
      const malformed = await render(['idempotency-key', 'two words']);
      expect([malformed.status, JSON.parse(malformed.body)]).toEqual([400, { custom: 'invalid_request' }]);
      expect(await used()).toBe(6);
    } finally {
      await server.close();
    }
  });

  it('is exact: quota 100, 1,000 parallel requests, exactly 100 succeed and 900 get 429', async () => {
    const { keywarden, key } = await fresh(100);
    const server = await start(keywarden, {});
    try {
      const responses = await Promise.all(
        Array.from({ length: 1000 }, () =>
          rawRequest(server.port, {
            method: 'GET',
            target: '/v3/files/a.png',
            headers: [['x-api-key', key]],
          }),
        ),
      );
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(100);
      expect(statuses.filter((s) => s === 429)).toHaveLength(900);
      const remaining = responses
        .filter((r) => r.status === 200)
        .map((r) => Number(/r=(\d+)/.exec(r.headers.ratelimit!)![1]))
        .sort((a, b) => a - b);
      expect(remaining).toEqual(Array.from({ length: 100 }, (_, i) => i));
    } finally {
      await server.close();
    }
  });
});
