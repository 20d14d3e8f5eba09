// Starts a real redis-server (Debian package) for a test: temp dir, random port, no persistence
// unless asked (then every write is fsynced to the append-only file, so a kill loses nothing).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops for good and removes the folder. */
  destroy(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A server on 127.0.0.1:`port` keeping its files in `dir`, with no persistence unless more args add it. */
export function loopbackArgs(port: number, dir: string): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'];
}

/** Starts redis-server with `args`; resolves once it accepts connections. */
export function spawnRedis(args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.on('error', reject);
    proc.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) resolve(proc);
    });
    proc.on('exit', (code) => reject(new Error(`redis-server exited ${code}: ${output}`)));
  });
}

export async function startRedis(options: { persistent?: boolean } = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'keywarden-redis-'));
  const port = await freePort();
  let child: ChildProcess | null = null;
  const start = async () => {
    const persistence = options.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : [];
    child = await spawnRedis([...loopbackArgs(port, dir), ...persistence]);
  };
  const stop = () =>
    new Promise<void>((resolve) => {
      const proc = child;
      if (!proc || proc.exitCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    stop,
    async destroy() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
