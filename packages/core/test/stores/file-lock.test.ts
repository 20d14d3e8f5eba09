import { spawn } from 'node:child_process';
import { readdir, readFile, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openFileKeyStore } from '../../src/index.js';
import { FileLockTimeoutError, withFileLock } from '../../src/stores/file-lock.js';
import { tempDir } from '../helpers.js';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Whether a lock file is at `lockPath`. */
const lockHeld = async (lockPath: string) =>
  (await readFile(lockPath, 'utf8').catch(() => '')).includes('"token"');

/** Polls `check` every 5 ms, for at most 2 s. */
async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400 && !(await check()); i++) await new Promise((r) => setTimeout(r, 5));
}

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

  it('never breaks a lock taken after the stale one was judged (injected delay)', async () => {
    // The breaker judges the lock stale, then waits; meanwhile the stale lock goes away (its holder
    // released it) and another process takes a live lock at the same path. Breaking must not
    // remove that live lock: two holders would write at once.
    const path = join(await tempDir(), 'keys.json');
    const lockPath = `${path}.lock`;
    await writeFile(
      lockPath,
      JSON.stringify({ pid: await deadPid(), host: hostname(), at: Date.now(), token: 'x' }),
    );
    const judged = deferred();
    const resume = deferred();
    let inside = 0;
    let most = 0;
    const holding = (ms: number) => async () => {
      most = Math.max(most, ++inside);
      await new Promise((r) => setTimeout(r, ms));
      inside--;
    };
    const breaker = withFileLock(path, holding(50), { timeoutMs: 5000 }, async (point) => {
      if (point !== 'judged-stale') return;
      judged.resolve();
      await resume.promise;
    });
    await judged.promise;
    await unlink(lockPath); // the stale lock's holder released it after all
    const taker = withFileLock(path, holding(150), { timeoutMs: 5000 });
    await until(() => lockHeld(lockPath)); // the taker's lock is at the path: let the breaker go on
    resume.resolve();
    await Promise.all([breaker, taker]);
    expect(most).toBe(1);
    expect(await readdir(join(path, '..'))).toEqual([]); // nothing left aside
  });

  it('lets one holder in when the path is taken while a live lock is moved aside (injected delays)', async () => {
    // The breaker moves a live lock aside by mistake and, before it can put it back, a third process
    // takes the path: the moved lock's holder must find it is no longer its own and wait its turn.
    const path = join(await tempDir(), 'keys.json');
    const lockPath = `${path}.lock`;
    await writeFile(
      lockPath,
      JSON.stringify({ pid: await deadPid(), host: hostname(), at: Date.now(), token: 'x' }),
    );
    const ready = { judged: deferred(), moved: deferred() };
    const resume = { judged: deferred(), moved: deferred() };
    const ran: string[] = [];
    let inside = 0;
    let most = 0;
    const holding = (name: string) => async () => {
      most = Math.max(most, ++inside);
      await new Promise((r) => setTimeout(r, 40));
      ran.push(name);
      inside--;
    };
    const breaker = withFileLock(path, holding('breaker'), { timeoutMs: 5000 }, async (point) => {
      const at = point === 'judged-stale' ? 'judged' : 'moved';
      ready[at].resolve();
      await resume[at].promise;
    });
    await ready.judged.promise;
    await unlink(lockPath);
    const second = withFileLock(path, holding('second'), { timeoutMs: 5000 });
    await until(() => lockHeld(lockPath));
    resume.judged.resolve();
    await ready.moved.promise; // the second's live lock is aside now
    const third = withFileLock(path, holding('third'), { timeoutMs: 5000 });
    await until(() => lockHeld(lockPath));
    resume.moved.resolve();
    await Promise.all([breaker, second, third]);
    expect(most).toBe(1);
    expect(ran.sort()).toEqual(['breaker', 'second', 'third']);
    expect(await readdir(join(path, '..'))).toEqual([]);
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
