// Attacks on key verification over raw sockets, against every framework: pipelined guesses, a key
// switched off through its public id, a throttled address that still holds valid keys, and a
// client that resets its connection to dodge the count. Real argon2id with its default cost.
import { connect } from 'node:net';
import {
  createArgon2Hasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  type FailureThrottleOptions,
  formatApiKey,
  generateTokenSecret,
  type Hasher,
  type Keywarden,
} from '@keywarden/core';
import { afterEach, describe, expect, it } from 'vitest';
import { rawRequest } from '../src/raw-client.js';
import { type RunningServer, SERVERS } from '../src/servers.js';

const running: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
});

/** The real default hasher, counting its verifications. */
function countedArgon2() {
  const inner = createArgon2Hasher();
  const counts = { verify: 0 };
  const hasher: Hasher = {
    id: inner.id,
    hash: (key) => inner.hash(key),
    verify: (stored, key) => {
      counts.verify++;
      return inner.verify(stored, key);
    },
  };
  return { hasher, counts };
}

async function start(framework: string, failureThrottle?: FailureThrottleOptions) {
  const { hasher, counts } = countedArgon2();
  const keys = createKeyManager({
    store: createMemoryKeyStore(),
    hasher,
    ...(failureThrottle ? { failureThrottle } : {}),
  });
  const keywarden: Keywarden = createKeywarden({
    keys,
    requireHttps: false,
    tokens: { secrets: [{ id: 't', secret: generateTokenSecret() }] },
  });
  const server = await SERVERS[framework]!(keywarden, {});
  running.push(server);
  return { keys, keywarden, counts, port: server.port };
}

/** The key with a random secret: same public id, valid checksum. */
function guess(key: string, id: string, n: number): string {
  return formatApiKey(key.slice(0, 7), id, `G${String(n).padStart(9, '0')}${'x'.repeat(22)}`);
}

const get = (port: number, from: string, header: [string, string]) =>
  rawRequest(port, { method: 'GET', target: '/v3/files/a.png', headers: [header], from });

/** Writes `count` requests on one socket in a single write; resolves with every status, in order. */
function pipeline(port: number, from: string, requests: string[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress: from });
    let text = '';
    const statuses: number[] = [];
    socket.setTimeout(60_000, () => socket.destroy(new Error('pipeline timed out')));
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      // A status line may be cut between two chunks: read it only once its three digits are in.
      for (
        let at = text.indexOf('HTTP/1.1 ');
        at !== -1 && at + 12 <= text.length;
        at = text.indexOf('HTTP/1.1 ')
      ) {
        statuses.push(Number(text.slice(at + 9, at + 12)));
        text = text.slice(at + 12);
      }
      if (statuses.length === requests.length) {
        socket.end();
        resolve(statuses);
      }
    });
    socket.on('error', reject);
    socket.write(requests.join(''));
  });
}

describe.each(Object.keys(SERVERS))('%s', (framework) => {
  it('runs at most the budget of hashes for 1,100 pipelined guesses, and serves another address meanwhile within a second', async () => {
    const { keys, counts, port } = await start(framework);
    const victim = await keys.create({ name: 'victim' });
    const bystander = await keys.create({ name: 'bystander' }); // cold: never used
    const requests = Array.from(
      { length: 1100 },
      (_, n) =>
        `GET /v3/files/a.png HTTP/1.1\r\nhost: x\r\nx-api-key: ${guess(victim.key, victim.record.id, n)}\r\n\r\n`,
    );
    const flood = pipeline(port, '127.0.0.2', requests);
    await new Promise((r) => setTimeout(r, 300));
    const started = performance.now();
    const legit = await get(port, '127.0.0.3', ['x-api-key', bystander.key]);
    const waited = performance.now() - started;
    expect(legit.status).toBe(200);
    expect(waited).toBeLessThan(1000);
    const statuses = await flood;
    // 10 guesses on one key id from one client are hashed (401); every other one is 429.
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(1090);
    expect(counts.verify).toBe(10 + 1);
  }, 60_000);

  it('bounds guesses spread over many key ids by the per-client budget', async () => {
    const { keys, counts, port } = await start(framework);
    const created = await Promise.all(Array.from({ length: 50 }, (_, i) => keys.create({ name: `k${i}` })));
    counts.verify = 0;
    const requests = created.flatMap(({ key, record }, i) =>
      Array.from(
        { length: 4 },
        (_, j) =>
          `GET /v3/files/a.png HTTP/1.1\r\nhost: x\r\nx-api-key: ${guess(key, record.id, i * 4 + j)}\r\n\r\n`,
      ),
    );
    const statuses = await pipeline(port, '127.0.0.4', requests);
    expect(counts.verify).toBe(30);
    expect(statuses.filter((s) => s === 401)).toHaveLength(30);
    expect(statuses.filter((s) => s === 429)).toHaveLength(200 - 30);
  }, 60_000);

  it('never locks a key out through its public id: the right secret passes from another address, and once warm from any', async () => {
    const { keys, port } = await start(framework);
    const { key, record } = await keys.create({ name: 'customer' });
    for (let n = 0; n < 15; n++) {
      const refused = await get(port, '127.0.0.5', ['x-api-key', guess(key, record.id, n)]);
      expect(refused.status).toBe(n < 10 ? 401 : 429);
    }
    // The attacker's own address: the right key is not refused as wrong (401), only deferred (429).
    const deferred = await get(port, '127.0.0.5', ['x-api-key', key]);
    expect(deferred.status).toBe(429);
    expect(Number(deferred.headers['retry-after'])).toBeGreaterThan(0);
    expect((await get(port, '127.0.0.6', ['x-api-key', key])).status).toBe(200);
    expect((await get(port, '127.0.0.5', ['authorization', `Bearer ${key}`])).status).toBe(200);
  }, 60_000);

  it('still serves a throttled address its warm keys and tokens; only new cold verifications get 429 with Retry-After', async () => {
    const { keys, keywarden, port } = await start(framework, { maxClientFailures: 5 });
    const warm = await keys.create({ name: 'warm' });
    const cold = await keys.create({ name: 'cold' });
    const others = await Promise.all(Array.from({ length: 5 }, (_, i) => keys.create({ name: `o${i}` })));
    expect((await get(port, '127.0.0.7', ['x-api-key', warm.key])).status).toBe(200);
    const token = (await keywarden.mintAccessToken(warm.record.id)).token;
    for (const [n, other] of others.entries()) {
      expect((await get(port, '127.0.0.7', ['x-api-key', guess(other.key, other.record.id, n)])).status).toBe(
        401,
      );
    }
    const refused = await get(port, '127.0.0.7', ['x-api-key', cold.key]);
    expect(refused.status).toBe(429);
    expect(refused.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'rate_limited' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(59);
    expect((await get(port, '127.0.0.7', ['x-api-key', warm.key])).status).toBe(200);
    expect((await get(port, '127.0.0.7', ['authorization', `AccessToken ${token}`])).status).toBe(200);
    expect((await get(port, '127.0.0.8', ['x-api-key', cold.key])).status).toBe(200);
  }, 60_000);

  it("never runs more than a reader's budget of hashes for a client that pipelines guesses and resets before they are read", async () => {
    const { keys, counts, port } = await start(framework);
    const created = await Promise.all(Array.from({ length: 50 }, (_, i) => keys.create({ name: `k${i}` })));
    expect((await get(port, '127.0.0.13', ['x-api-key', created[0]!.key])).status).toBe(200);
    counts.verify = 0;
    let n = 0;
    const guesses = () =>
      Array.from({ length: 40 }, () => {
        const { key, record } = created[n % 50]!;
        return `GET /v3/files/a.png HTTP/1.1\r\nhost: x\r\nx-api-key: ${guess(key, record.id, n++)}\r\n\r\n`;
      }).join('');
    // Five connections, forty guesses each, reset 20 ms later: most are read after the reset, when
    // the kernel no longer knows the client's address.
    await Promise.all(
      Array.from({ length: 5 }, async () => {
        const socket = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.12' });
        socket.on('error', () => {});
        await new Promise((r) => socket.once('connect', r));
        socket.write(guesses());
        await new Promise((r) => setTimeout(r, 20));
        socket.resetAndDestroy();
      }),
    );
    for (let last = -1; last !== counts.verify; ) {
      last = counts.verify;
      await new Promise((r) => setTimeout(r, 1000));
    }
    // Then it reads its answers like anyone: what it got before counts against it.
    for (let i = 0; i < 40; i++) {
      const { key, record } = created[i]!;
      await get(port, '127.0.0.12', ['x-api-key', guess(key, record.id, 1000 + i)]);
    }
    expect(counts.verify).toBeLessThanOrEqual(30);
  }, 90_000);

  it('counts a failure whose client reset the connection during the hash', async () => {
    const { keys, counts, port } = await start(framework, { maxClientFailures: 3 });
    const created = await Promise.all(Array.from({ length: 4 }, (_, i) => keys.create({ name: `k${i}` })));
    counts.verify = 0;
    for (const [n, { key, record }] of created.slice(0, 3).entries()) {
      const socket = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.9' });
      socket.on('error', () => {});
      await new Promise((r) => socket.once('connect', r));
      const before = counts.verify;
      socket.write(
        `GET /v3/files/a.png HTTP/1.1\r\nhost: x\r\nx-api-key: ${guess(key, record.id, n)}\r\n\r\n`,
      );
      while (counts.verify === before) await new Promise((r) => setTimeout(r, 1));
      socket.resetAndDestroy(); // gone while its secret is being hashed
    }
    await new Promise((r) => setTimeout(r, 200)); // the three hashes finish
    const last = created[3]!;
    const after = await get(port, '127.0.0.9', ['x-api-key', guess(last.key, last.record.id, 9)]);
    expect(after.status).toBe(429);
    expect(counts.verify).toBe(3);
  }, 60_000);
});
