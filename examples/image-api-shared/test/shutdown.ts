// Each example as `pnpm demo` runs it, in its own process on Redis: SIGTERM must finish the work,
// write the usage counted since the last batch, give back the Redis units leased, and exit, also
// once a background removal has run (its worker thread once kept the process alive for good).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeyManager, createKeywarden, openFileKeyStore } from '@keywarden/core';
import { createRedisLimitStore } from '@keywarden/redis';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type RedisServer, startRedis } from '../../../packages/redis/test/redis-server.js';

export function runShutdownSuite(name: string, packageDir: string): void {
  describe(`${name} example process`, () => {
    let redis: RedisServer;
    let dir: string;
    let child: ChildProcess | undefined;
    beforeAll(async () => {
      redis = await startRedis();
      dir = await mkdtemp(join(tmpdir(), `keywarden-${name}-shutdown-`));
    }, 60_000);
    afterAll(async () => {
      child?.kill('SIGKILL');
      await redis.destroy();
      await rm(dir, { recursive: true, force: true });
    });

    it('on SIGTERM writes its usage, gives back leased units and exits, also after a background removal', async () => {
      const port = await freePort();
      const keysFile = join(dir, 'keys.json');
      child = spawn(join(packageDir, 'node_modules', '.bin', 'tsx'), ['src/index.ts'], {
        cwd: packageDir,
        env: { ...process.env, PORT: String(port), KEYWARDEN_KEYS_FILE: keysFile, REDIS_URL: redis.url },
      });
      let output = '';
      const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
      await new Promise<void>((resolve, reject) => {
        const listen = (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('AccessToken')) resolve();
        };
        child!.stdout!.on('data', listen);
        child!.stderr!.on('data', listen);
        void exited.then((code) => reject(new Error(`the example exited ${code}: ${output}`)));
      });
      const key = (await readFile(join(dir, 'demo-key'), 'utf8')).trim();
      const base = `http://127.0.0.1:${port}`;
      const headers = { 'x-api-key': key };
      const form = new FormData();
      const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#fff' } })
        .png()
        .toBuffer();
      form.append('files', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'p.png');
      form.append('upload_path', 'shutdown');
      expect(
        (await fetch(`${base}/v3/file-ops/upload/`, { method: 'POST', headers, body: form })).status,
      ).toBe(200);
      const tool = (name: string, output: string) =>
        fetch(`${base}/v3/tools/ai/${name}/process/`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify({
            input_file_path: 'shutdown/p.png',
            output_variants: [{ output_file_path: output, ...(name === 'resize' ? { scale: 1 } : {}) }],
          }),
        });
      expect((await tool('remove-bg', 'shutdown/cut.png')).status).toBe(200); // 3 units
      for (let i = 0; i < 10; i++) expect((await tool('resize', `shutdown/r${i}.png`)).status).toBe(200); // 10
      for (let i = 0; i < 38; i++)
        expect((await fetch(`${base}/v3/files/shutdown/none.png`, { headers })).status).toBe(404);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      expect(code, output).toBe(0);
      // What the process counted, read back from Redis by another process's keywarden.
      const keys = createKeyManager({ store: await openFileKeyStore({ path: keysFile, watch: false }) });
      const limitStore = createRedisLimitStore({ url: redis.url });
      const keywarden = createKeywarden({ keys, limits: { store: limitStore } });
      const id = key.slice(key.length - 50, key.length - 38);
      try {
        const [today] = await keys.usage(id);
        expect(today).toMatchObject({ requests: 50, units: 13 });
        expect((await keywarden.peekLimits(id))?.quota?.used).toBe(13); // no unit kept leased
      } finally {
        await keywarden.close();
        await limitStore.close?.();
        keys.close();
      }
    }, 90_000);
  });
}
