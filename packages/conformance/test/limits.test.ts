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
  const { key } = await keys.create({
    name: 'q',
    scopes: ['images:write'],
    quota: { limit: quota, period: 'month' },
  });
  return { keywarden, key };
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
