// Three example instances, one of each framework, on one PostgreSQL (keys, accounts, usage) and
// one Redis (limits), as a deployment behind a load balancer runs them: a key made through one
// works on the others at once, a revocation refuses everywhere within a second, an account's quota
// holds exactly across them, usage sums across them, and a restarted instance loses nothing.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeyManager, PORTAL_CSRF_HEADER } from '@keywarden/core';
import { createPostgresKeyStore } from '@keywarden/postgres';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresServer, startPostgres } from '../../../packages/postgres/test/pg-server.js';
import { freePort, type RedisServer, startRedis } from '../../../packages/redis/test/redis-server.js';

const EXAMPLES = join(import.meta.dirname, '..', '..');

interface Instance {
  name: string;
  base: string;
  port: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** A signed-in session of the demo's alice on this instance (sessions live in its memory). */
  cookie?: string;
}

describe('three example instances on one PostgreSQL and one Redis', () => {
  let pg: PostgresServer;
  let redis: RedisServer;
  let dir: string;
  const instances: Instance[] = [];

  async function start(name: string, port: number): Promise<Instance> {
    const packageDir = join(EXAMPLES, `${name}-image-api`);
    const child = spawn(join(packageDir, 'node_modules', '.bin', 'tsx'), ['src/index.ts'], {
      cwd: packageDir,
      env: {
        ...process.env,
        PORT: String(port),
        DATABASE_URL: pg.url,
        REDIS_URL: redis.url,
        // One folder for the token secret and demo keys, one for the files: what a deployment
        // shares (a secret store, a bucket).
        KEYWARDEN_KEYS_FILE: join(dir, 'shared', 'keys.json'),
        KEYWARDEN_STORAGE_DIR: join(dir, 'files'),
      },
    });
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const listen = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('AccessToken')) resolve();
      };
      child.stdout!.on('data', listen);
      child.stderr!.on('data', listen);
      void exited.then((code) => reject(new Error(`the ${name} example exited ${code}: ${output}`)));
    });
    return { name, base: `http://127.0.0.1:${port}`, port, child, exited };
  }

  async function stop(instance: Instance): Promise<number | null> {
    instance.child.kill('SIGTERM');
    const timer = setTimeout(() => instance.child.kill('SIGKILL'), 15_000);
    const code = await instance.exited;
    clearTimeout(timer);
    return code;
  }

  /** A portal call as alice, signed in on `instance` first if she is not yet. */
  async function portal(instance: Instance, method: string, path: string, body?: unknown) {
    if (instance.cookie === undefined) {
      const signIn = await fetch(`${instance.base}/your-server/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ owner: 'alice' }),
      });
      expect(signIn.status).toBe(200);
      instance.cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
    }
    const response = await fetch(`${instance.base}/account/api-keys/${path}`, {
      method,
      headers: {
        cookie: instance.cookie,
        origin: instance.base,
        [PORTAL_CSRF_HEADER]: '1',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    // biome-ignore lint/suspicious/noExplicitAny: the portal's JSON, read field by field
    return { status: response.status, body: (await response.json()) as any };
  }

  const read = (instance: Instance, key: string) =>
    fetch(`${instance.base}/v3/files/nowhere/none.png`, { headers: { 'x-api-key': key } });

  beforeAll(async () => {
    [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
    dir = await mkdtemp(join(tmpdir(), 'keywarden-three-'));
    // The first one migrates and makes the demo keys; the other two find them.
    instances.push(await start('express', await freePort()));
    instances.push(...(await Promise.all(['koa', 'fastify'].map(async (n) => start(n, await freePort())))));
  }, 120_000);
  afterAll(async () => {
    for (const instance of instances) instance.child.kill('SIGKILL');
    await Promise.all([pg?.destroy(), redis?.destroy()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('share keys, revocations, exact limits and usage, and lose nothing in a restart', async () => {
    const [a, b, c] = instances as [Instance, Instance, Instance];
    // The operator's side, on the same database.
    const store = createPostgresKeyStore({ connectionString: pg.url, listen: false });
    const keys = createKeyManager({ store });
    try {
      // A key made through one instance works on the other two at once.
      const first = await portal(a, 'POST', 'keys', { name: 'made on express' });
      expect(first.status).toBe(201);
      expect(
        (await Promise.all([read(b, first.body.key), read(c, first.body.key)])).map((r) => r.status),
      ).toEqual([
        404,
        404, // through the key check; the file does not exist
      ]);

      // Revoked through one, refused by the others within a second.
      expect((await portal(a, 'POST', `keys/${first.body.record.id}/revoke`, {})).status).toBe(200);
      const revokedAt = Date.now();
      for (const other of [b, c]) {
        while ((await read(other, first.body.key)).status !== 401) {
          expect(Date.now() - revokedAt).toBeLessThan(1000);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }

      // An operator gives alice a quota of 30 units (and room for the requests): it reaches every
      // instance through the store's notifications.
      await keys.accounts.update('alice', {
        overrides: {
          quota: { limit: 30, period: 'month' },
          rateLimits: [{ limit: 1000, windowSeconds: 60 }],
        },
      });
      const second = await portal(b, 'POST', 'keys', { name: 'made on koa' });
      expect(second.status).toBe(201);
      const key = second.body.key as string;
      const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#fff' } })
        .png()
        .toBuffer();
      const form = new FormData();
      form.append('files', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'p.png');
      form.append('upload_path', 'three');
      const upload = await fetch(`${c.base}/v3/file-ops/upload/`, {
        method: 'POST',
        headers: { 'x-api-key': key },
        body: form,
      });
      expect(upload.status).toBe(200);
      // 45 resizes of one unit each, spread over the three instances at once: exactly 30 pass.
      const resized = await Promise.all(
        Array.from({ length: 45 }, (_, i) =>
          fetch(`${instances[i % 3]!.base}/v3/tools/ai/resize/process/`, {
            method: 'POST',
            headers: { 'x-api-key': key, 'content-type': 'application/json' },
            body: JSON.stringify({
              input_file_path: 'three/p.png',
              output_variants: [{ output_file_path: `three/r${i}.png`, scale: 1 }],
            }),
          }).then(
            async (r) =>
              [r.status, r.status === 429 ? ((await r.json()) as { code: string }).code : ''] as const,
          ),
        ),
      );
      expect(resized.filter(([status]) => status === 200)).toHaveLength(30);
      expect(resized.filter(([status, code]) => status === 429 && code === 'quota_exceeded')).toHaveLength(
        15,
      );

      // Usage sums across the instances: each writes its share within a second. The second key
      // made 46 requests (an upload, 45 resizes) through all three; 15 of them refused for the quota.
      const day = async (id: string) => (await keys.usage(id)).at(-1);
      const secondId = second.body.record.id as string;
      for (let i = 0; i < 50 && (await day(secondId))?.requests !== 46; i++)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await day(secondId)).toMatchObject({
        requests: 46,
        units: 30,
        refusals: { quota_exceeded: 15 },
      });
      const firstRequests = (await day(first.body.record.id))?.requests ?? 0;
      expect(firstRequests).toBeGreaterThanOrEqual(2); // the two reads, and any poll before the revocation arrived
      const usage = async () => (await keys.accounts.usage('alice')).at(-1);
      expect(await usage()).toMatchObject({
        requests: 46 + firstRequests,
        units: 30,
        refusals: { quota_exceeded: 15 },
      });

      // A restart of one instance (SIGTERM: it writes what it counted, gives back leased units).
      const before = await usage();
      expect(await stop(b)).toBe(0);
      const restarted = await start('koa', b.port);
      instances[1] = restarted;
      const after = await usage();
      expect(after).toEqual(before); // nothing counted twice, nothing lost
      // The key and the account's spent quota are still there, on the restarted instance too.
      expect((await read(restarted, key)).status).toBe(404);
      const account = await portal(restarted, 'GET', 'account');
      expect(account.body.account.usage.quota).toMatchObject({ used: 30, limit: 30 });
      const again = await fetch(`${restarted.base}/v3/tools/ai/resize/process/`, {
        method: 'POST',
        headers: { 'x-api-key': key, 'content-type': 'application/json' },
        body: JSON.stringify({
          input_file_path: 'three/p.png',
          output_variants: [{ output_file_path: 'three/x.png', scale: 1 }],
        }),
      });
      expect(again.status).toBe(429);
    } finally {
      await store.close();
    }
  }, 120_000);
});
