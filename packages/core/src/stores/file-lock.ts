// A lock between processes on one machine, for the file store's read-modify-write: the servers
// (flushing `lastUsedAt`) and CLI runs all write one keys file, and without it two writers that
// read the same version each rename their own over it, and one change is lost.
//
// Written by hand (about 80 lines) rather than taken from proper-lockfile, the common package:
// it hooks the process's signals when imported (signal-exit), which a library must not do to its
// host, and it only knows a lock is stale by age, so a writer that crashed blocks every other for
// 10 s; here a lock whose process is gone on this machine is taken over at once.
//
// The lock is a file holding the owner's pid, host, time and a random token, made whole in one step
// (written aside, then hard-linked into place, which fails when the path exists). It is stale when
// its process no longer runs on this host, or when it is older than `staleMs` (another host on a
// network file system, or a pid reused after a crash).
//
// Breaking a stale lock must remove that lock and nothing else. Judging and removing cannot be one
// step: between them its holder may release it and another process take a new one at the path, and
// an unlink by path would delete that live lock (two writers then write). So a breaker works under a
// second, short-lived lock (`.break`), moves whatever is at the path aside (rename is atomic), and
// compares what it moved with what it judged: the same content (it holds a random token) is the
// stale lock, deleted; anything else is a live lock, put back. A process that takes the lock while
// a breaker runs does not start its task until no breaker runs, then checks the lock is still its
// own (a breaker may have moved it aside and found the path taken when putting it back).
import { randomBytes } from 'node:crypto';
import { link, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
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

/** A test seam: awaited at named points, to widen a race window on purpose. */
export type LockSeam = (point: 'judged-stale' | 'moved-aside') => Promise<void>;

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

/** Creates `path` exclusively, already holding `content`; false when it exists. */
async function create(path: string, content: string): Promise<boolean> {
  // Waiters poll every few ms: a lock that is plainly there costs a stat, not a file written.
  if (
    await stat(path).then(
      () => true,
      () => false,
    )
  )
    return false;
  const draft = `${path}.${randomBytes(6).toString('hex')}.new`;
  await writeFile(draft, content, { encoding: 'utf8', mode: 0o600, flag: 'wx' });
  try {
    await link(draft, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(draft).catch(() => {});
  }
}

/** The lock's content when it is stale, `null` when it is live, `'gone'` when there is none. */
async function staleContent(lockPath: string, staleMs: number): Promise<string | null | 'gone'> {
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
    // Unreadable (an empty file left by an older version whose writer died at once): stale by age.
    return Date.now() - modified > BREAKER_STALE_MS ? text : null;
  }
  if (owner.host === hostname() && !running(owner.pid)) return text;
  return Date.now() - owner.at > staleMs ? text : null;
}

/** Removes a breaker lock whose holder died while breaking; true when one is there and live. */
async function breakerRunning(breaker: string): Promise<boolean> {
  const age = await stat(breaker).then(
    (s) => Date.now() - s.mtimeMs,
    () => null,
  );
  if (age === null) return false;
  if (age <= BREAKER_STALE_MS) return true;
  await unlink(breaker).catch(() => {});
  return false;
}

/** Removes the lock at `lockPath` if it is stale; true when the caller should try again at once. */
async function breakIfStale(lockPath: string, staleMs: number, seam?: LockSeam): Promise<boolean> {
  const breaker = `${lockPath}.break`;
  if (!(await create(breaker, String(process.pid)))) {
    await breakerRunning(breaker);
    return false;
  }
  try {
    const judged = await staleContent(lockPath, staleMs);
    if (judged === 'gone') return true;
    if (judged === null) return false;
    await seam?.('judged-stale');
    const aside = `${lockPath}.${randomBytes(6).toString('hex')}.stale`;
    try {
      await rename(lockPath, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
      throw error;
    }
    await seam?.('moved-aside');
    const moved = await readFile(aside, 'utf8').catch(() => null);
    if (moved !== judged) await link(aside, lockPath).catch(() => {}); // a live lock: put it back
    await unlink(aside).catch(() => {});
    return moved === judged;
  } finally {
    await unlink(breaker).catch(() => {});
  }
}

/**
 * After taking the lock: waits until no breaker runs (one may have judged an earlier lock stale
 * before ours existed), then whether the lock at the path is still ours.
 */
async function stillOurs(lockPath: string, content: string): Promise<boolean> {
  while (await breakerRunning(`${lockPath}.break`)) await sleep(2);
  return (await readFile(lockPath, 'utf8').catch(() => '')) === content;
}

/**
 * Runs `task` while holding the lock `${path}.lock`, waiting for it (with jittered polling) up to
 * `timeoutMs`; rejects with {@link FileLockTimeoutError} when it cannot be had.
 */
export async function withFileLock<T>(
  path: string,
  task: () => Promise<T>,
  options: FileLockOptions = {},
  seam?: LockSeam,
): Promise<T> {
  const { timeoutMs = 30_000, staleMs = 600_000 } = options;
  const lockPath = `${path}.lock`;
  const token = randomBytes(12).toString('hex');
  const content = JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now(), token });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await create(lockPath, content)) {
      if (await stillOurs(lockPath, content)) break;
      continue;
    }
    if (await breakIfStale(lockPath, staleMs, seam)) continue;
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
