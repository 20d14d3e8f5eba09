import { spawn } from 'node:child_process';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openFileKeyStore } from '../../src/index.js';
import { FileLockTimeoutError, withFileLock } from '../../src/stores/file-lock.js';
import { tempDir } from '../helpers.js';

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

/** A Node process running `code` (ESM, the core's source through tsx); resolves with its stdout. */
function run(code: string): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: import.meta.dirname,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk));
  return new Promise((resolve, reject) =>
    child.on('exit', (status) => (status === 0 ? resolve(out) : reject(new Error(`exit ${status}: ${err}`)))),
  );
}

describe('file lock', () => {
  it('lets one holder in at a time', async () => {
    const path = join(await tempDir(), 'keys.json');
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        withFileLock(path, async () => {
          most = Math.max(most, ++inside);
          await new Promise((r) => setTimeout(r, 2));
          inside--;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(await readdir(join(path, '..'))).toEqual([]); // no lock left behind
  });

  it('takes over at once a lock whose process has died', async () => {
    const path = join(await tempDir(), 'keys.json');
    const pid = await deadPid();
    await writeFile(`${path}.lock`, JSON.stringify({ pid, host: hostname(), at: Date.now(), token: 'x' }));
    const started = Date.now();
    expect(await withFileLock(path, async () => 'mine', { timeoutMs: 5000 })).toBe('mine');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('takes over a lock older than staleMs, and one left empty by a writer that died at once', async () => {
    const path = join(await tempDir(), 'keys.json');
    await writeFile(
      `${path}.lock`,
      JSON.stringify({ pid: process.pid, host: 'elsewhere', at: Date.now() - 60_000, token: 'x' }),
    );
    expect(await withFileLock(path, async () => 1, { staleMs: 30_000, timeoutMs: 2000 })).toBe(1);
    await writeFile(`${path}.lock`, '');
    const old = new Date(Date.now() - 10_000);
    await utimes(`${path}.lock`, old, old);
    expect(await withFileLock(path, async () => 2, { timeoutMs: 2000 })).toBe(2);
  });

  it('recovers from a breaker lock abandoned mid-break', async () => {
    const path = join(await tempDir(), 'keys.json');
    await writeFile(
      `${path}.lock`,
      JSON.stringify({ pid: await deadPid(), host: hostname(), at: Date.now(), token: 'x' }),
    );
    await writeFile(`${path}.lock.break`, '1');
    const old = new Date(Date.now() - 10_000);
    await utimes(`${path}.lock.break`, old, old);
    expect(await withFileLock(path, async () => 'ok', { timeoutMs: 3000 })).toBe('ok');
  });

  it('waits for a live holder, and gives up with a clear error, changing nothing', async () => {
    const path = join(await tempDir(), 'keys.json');
    const held = `${path}.lock`;
    await writeFile(
      held,
      JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now(), token: 'other' }),
    );
    await expect(withFileLock(path, async () => 'never', { timeoutMs: 300 })).rejects.toThrow(
      FileLockTimeoutError,
    );
    expect(JSON.parse(await readFile(held, 'utf8')).token).toBe('other'); // not ours to remove
  });
});

describe('file store across processes', () => {
  it('loses no write when six processes insert and update one file at once', async () => {
    const path = join(await tempDir(), 'keys.json');
    const writer = (n: number) => `
      import { openFileKeyStore } from '../../src/index.ts';
      const store = await openFileKeyStore({ path: ${JSON.stringify(path)}, watch: false });
      const at = new Date('2026-01-01T00:00:00Z');
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.insert({
        id: 'p${n}k' + String(i).padStart(8, '0'), name: 'p${n}', environment: 'live', prefix: 'kw_live',
        hash: 'h', scopes: [], paths: ['*'], ips: [], createdAt: at, expiresAt: null, revokedAt: null,
        lastUsedAt: null, rateLimit: null, quota: null, metadata: {}, ownerId: null, replacedBy: null, lineageId: 'l',
      })));
      for (let i = 0; i < 20; i += 2) await store.update('p${n}k' + String(i).padStart(8, '0'), { name: 'p${n} updated' });
      await store.close();
    `;
    await Promise.all(Array.from({ length: 6 }, (_, n) => run(writer(n))));
    const store = await openFileKeyStore({ path, watch: false });
    const all = await store.list();
    expect(all).toHaveLength(120);
    expect(all.filter((r) => r.name.endsWith('updated'))).toHaveLength(60);
  }, 60_000);
});
