// A lock between processes on one machine, for the file store's read-modify-write: the servers
// (flushing `lastUsedAt`) and CLI runs all write one keys file, and without it two writers that
// read the same version each rename their own over it, and one change is lost.
//
// Written by hand (about 80 lines) rather than taken from proper-lockfile, the common package:
// it hooks the process's signals when imported (signal-exit), which a library must not do to its
// host, and it only knows a lock is stale by age, so a writer that crashed blocks every other for
// 10 s; here a lock whose process is gone on this machine is taken over at once.
//
// The lock is a file created with O_EXCL holding the owner's pid, host, time and a random token.
// It is stale when its process no longer runs on this host, or when it is older than `staleMs`
// (another host on a network file system, or a pid reused after a crash). Breaking a stale lock
// takes a second, short-lived lock, and re-reads the first under it, so that two processes that
// both saw it stale cannot both break it and both believe they hold it.
import { randomBytes } from 'node:crypto';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';

/** Options of {@link withFileLock}. */
export interface FileLockOptions {
  /** Give up after this long, in ms; 0 tries once. @default 30000 */
  timeoutMs?: number;
  /** A lock older than this is stale whoever holds it, in ms. @default 600000 */
  staleMs?: number;
}

/** Thrown when the lock could not be taken in time. */
export class FileLockTimeoutError extends Error {
  override readonly name = 'FileLockTimeoutError';
}

interface Owner {
  pid: number;
  host: string;
  at: number;
  token: string;
}

const BREAKER_STALE_MS = 5000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // it exists, it is just not ours
  }
}

/** Creates `path` exclusively with `content`; false when it exists. */
async function create(path: string, content: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(content, 'utf8');
  } finally {
    await handle.close();
  }
  return true;
}

async function isStale(lockPath: string, staleMs: number): Promise<boolean | 'gone'> {
  let text: string;
  let modified: number;
  try {
    [text, modified] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath).then((s) => s.mtimeMs)]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw error;
  }
  let owner: Owner;
  try {
    owner = JSON.parse(text) as Owner;
  } catch {
    return Date.now() - modified > BREAKER_STALE_MS; // created, never written: its writer died at once
  }
  if (owner.host === hostname() && !running(owner.pid)) return true;
  return Date.now() - owner.at > staleMs;
}

/** Removes the lock at `lockPath` if it is stale; true when the caller should try again at once. */
async function breakIfStale(lockPath: string, staleMs: number): Promise<boolean> {
  const breaker = `${lockPath}.break`;
  if (!(await create(breaker, String(process.pid)))) {
    const age = await stat(breaker).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > BREAKER_STALE_MS) await unlink(breaker).catch(() => {}); // its holder died while breaking
    return false;
  }
  try {
    const stale = await isStale(lockPath, staleMs);
    if (stale === 'gone') return true;
    if (!stale) return false;
    await unlink(lockPath).catch(() => {});
    return true;
  } finally {
    await unlink(breaker).catch(() => {});
  }
}

/**
 * Runs `task` while holding the lock `${path}.lock`, waiting for it (with jittered polling) up to
 * `timeoutMs`; rejects with {@link FileLockTimeoutError} when it cannot be had.
 */
export async function withFileLock<T>(
  path: string,
  task: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const { timeoutMs = 30_000, staleMs = 600_000 } = options;
  const lockPath = `${path}.lock`;
  const token = randomBytes(12).toString('hex');
  const content = JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now(), token });
  const deadline = Date.now() + timeoutMs;
  while (!(await create(lockPath, content))) {
    if (await breakIfStale(lockPath, staleMs)) continue;
    if (Date.now() > deadline) {
      throw new FileLockTimeoutError(
        `keywarden: ${lockPath} is held by another process; no change was written`,
      );
    }
    // Every waiter polls at the same jittered pace (4-12 ms), never backing off: a waiter that
    // backed off would lose each release to newcomers, and with 20 CLI runs and two servers on one
    // file (the CLI test) the oldest waiter then timed out on a busy 2-core machine.
    await sleep(4 + Math.random() * 8);
  }
  try {
    return await task();
  } finally {
    // Only our own lock: never one that another process took after judging ours stale.
    const current = await readFile(lockPath, 'utf8').catch(() => '');
    if (current === content) await unlink(lockPath).catch(() => {});
  }
}
