// Fault injection on the embedded store while a real server serves: the keys file is corrupted on
// disk, then replaced by a good one holding a new key.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHmacHasher, createKeyManager, createKeywarden, openFileKeyStore } from '@keywarden/core';
import { keywardenFastify } from '@keywarden/fastify';
import Fastify from 'fastify';
import { afterAll, expect, it } from 'vitest';

let dir: string;
afterAll(() => rm(dir, { recursive: true, force: true }));

it('keeps serving the last good keys from a corrupted file, never accepts an unknown key, and picks up a repaired one', async () => {
  dir = await mkdtemp(join(tmpdir(), 'keywarden-faults-'));
  const path = join(dir, 'keys.json');
  const hasher = createHmacHasher({ pepper: 'p'.repeat(32) });
  const errors: Error[] = [];
  let reported: () => void = () => {};
  const store = await openFileKeyStore({
    path,
    onError: (error) => {
      errors.push(error);
      reported();
    },
  });
  const keys = createKeyManager({ store, hasher, cache: { recordTtlMs: 0 } }); // read the store every time
  const app = Fastify();
  await app.register(keywardenFastify, { keywarden: createKeywarden({ keys, requireHttps: false }) });
  app.get('/v3/files/*', async () => ({ ok: true }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const status = (key: string) =>
    fetch(`${base}/v3/files/a.png`, { headers: { 'x-api-key': key } }).then((r) => r.status);
  try {
    const a = await keys.create({ name: 'a' });
    expect(await status(a.key)).toBe(200);
    const good = await readFile(path, 'utf8');

    // Another handle (the CLI, elsewhere) makes key B; we keep its record for later.
    const other = createKeyManager({
      store: await openFileKeyStore({ path: join(dir, 'other.json'), watch: false }),
      hasher,
    });
    const b = await other.create({ name: 'b' });
    const bRecord = JSON.parse(await readFile(join(dir, 'other.json'), 'utf8')).keys[0];

    const corrupted = new Promise<void>((resolve) => {
      reported = resolve;
    });
    await writeFile(path, '{"version":1,"keys":[{"id": "truncated');
    await corrupted; // the watcher saw the bad file and reported it
    expect(errors.at(-1)?.message).toMatch(/JSON|keys file/);
    expect(await status(a.key)).toBe(200); // the last good keys stay in force
    expect(await status(b.key)).toBe(401); // an unknown key is never accepted
    expect(await status('kw_live_garbage')).toBe(401);

    const repaired = new Promise<void>((resolve) => {
      const stop = store.subscribe((id) => {
        if (id === bRecord.id) {
          stop();
          resolve();
        }
      });
    });
    const data = JSON.parse(good);
    data.keys.push(bRecord);
    await writeFile(path, JSON.stringify(data));
    await repaired;
    expect(await status(b.key)).toBe(200);
    expect(await status(a.key)).toBe(200);
  } finally {
    await app.close();
    keys.close();
    await store.close();
  }
});
