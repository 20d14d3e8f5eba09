// The short version of the load test, in `pnpm test`; `pnpm test:load` runs it for minutes.
import { describe, expect, it } from 'vitest';
import { runLoad } from '../src/load.js';

describe.each(['express5', 'koa3', 'fastify5'])('load on %s', (framework) => {
  it('100 connections, 200 keys and 10% invalid ones: no 5xx, no socket error, every invalid refused', async () => {
    const r = await runLoad({ framework, keys: 200, seconds: 3 });
    expect(r.errors + r.timeouts).toBe(0);
    expect(Object.keys(r.statuses).filter((code) => Number(code) >= 500)).toEqual([]);
    expect(r.statuses['200']! + r.statuses['401']!).toBe(r.requests);
    // Every refusal is of an invalid credential, for the reason it deserves.
    expect(Object.keys(r.reasons).sort()).toEqual(['malformed', 'unknown_key']);
    // The server also counts requests still in flight when the client stops: at most one a connection.
    expect(r.failed - r.statuses['401']!).toBeGreaterThanOrEqual(0);
    expect(r.failed - r.statuses['401']!).toBeLessThanOrEqual(100);
    expect(r.succeeded - r.statuses['200']!).toBeLessThanOrEqual(100);
    const share = r.failed / (r.failed + r.succeeded);
    expect(Math.abs(share - r.invalidShare)).toBeLessThan(0.02);
  }, 60_000);
});
