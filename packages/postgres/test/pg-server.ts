// Starts a real PostgreSQL for a test: initdb in a temp dir, a random port, trust auth on
// 127.0.0.1, fsync off (a killed server keeps what the OS already has; only a machine crash would
// lose data). Debian's server binaries refuse to run as root, so as root they run as the
// `postgres` user the package creates (spawn's uid/gid: no wrapper process stands between us and
// the postmaster, so a kill really stops it).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PostgresServer {
  url: string;
  /** Stops the server abruptly (SIGKILL), like a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data (it recovers from its WAL). */
  start(): Promise<void>;
  destroy(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)) : [];
  if (versions.length === 0)
    throw new Error('PostgreSQL server binaries not found: apt-get install postgresql');
  return join(root, versions.sort((a, b) => Number(b) - Number(a))[0]!, 'bin');
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function postgresUser(): { uid: number; gid: number } | Record<string, never> {
  if (process.getuid?.() !== 0) return {};
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
  };
}

function portFree(port: number): Promise<void> {
  return new Promise((resolve) => {
    const attempt = () => {
      const probe = createServer()
        .once('error', () => setTimeout(attempt, 50))
        .listen(port, '127.0.0.1', () => probe.close(() => resolve()));
    };
    attempt();
  });
}

/** The pids whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields !== null && Number(fields[1]) === pid) found.push(Number(entry));
  }
  return found;
}

/** State and parent pid from /proc/<pid>/stat, or null once the process is gone. */
function statFields(pid: number): [string, string] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return [rest[0]!, rest[1]!];
  } catch {
    return null;
  }
}

/** A process counts as gone once it has exited, even while it waits to be reaped (a zombie). */
function alive(pid: number): boolean {
  const fields = statFields(pid);
  return fields !== null && fields[0] !== 'Z' && fields[0] !== 'X';
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = binDir();
  const dir = await mkdtemp(join(tmpdir(), 'keywarden-pg-'));
  const data = join(dir, 'data');
  const user = postgresUser();
  if ('uid' in user) chownSync(dir, user.uid, user.gid);
  execFileSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8'], {
    stdio: 'ignore',
    cwd: dir,
    ...user,
  });
  const port = await freePort();
  let child: ChildProcess | null = null;
  const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1'];
  for (const setting of ['fsync=off', 'full_page_writes=off']) args.push('-c', setting);
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const proc = spawn(join(bin, 'postgres'), args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        cwd: dir,
        detached: true,
        ...user,
      });
      child = proc;
      let output = '';
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('database system is ready to accept connections')) resolve();
      };
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', onData);
      proc.on('error', reject);
      proc.on('exit', (code) => reject(new Error(`postgres exited ${code}: ${output}`)));
    });
  const kill = async () => {
    const pid = child?.pid;
    if (pid !== undefined) {
      // Every backend calls setsid() (it leads its own process group), so a group kill reaches
      // only the postmaster; the backends would notice its death and leave in their own time,
      // holding the shared memory meanwhile. Kill each of them too, like a machine crash would.
      const family = [pid, ...childrenOf(pid)];
      for (const member of family) {
        try {
          process.kill(member, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      // A restart fails while an old process still holds the shared memory: wait for all of them.
      while (family.some(alive)) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await portFree(port);
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    kill,
    start,
    async destroy() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
