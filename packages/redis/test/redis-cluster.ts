// Starts a real three-master Redis Cluster for a test: three redis-server processes in cluster
// mode on loopback (temp dirs, random ports), joined with `redis-cli --cluster create`, no replicas.
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loopbackArgs, spawnRedis } from './redis-server.js';

export interface RedisCluster {
  /** The masters' ports (each also uses port + 10000 for the cluster bus). */
  ports: number[];
  destroy(): Promise<void>;
}

const run = promisify(execFile);

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
      .once('error', () => resolve(false))
      .listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** A random port whose cluster-bus port (+10000) is free as well. */
async function clusterPort(taken: number[]): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (taken.includes(port)) continue;
    if ((await portFree(port)) && (await portFree(port + 10_000))) return port;
  }
}

function startNode(dir: string, port: number): Promise<ChildProcess> {
  const args = loopbackArgs(port, dir);
  args.push('--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`);
  return spawnRedis([...args, '--cluster-node-timeout', '5000']);
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'keywarden-cluster-'));
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) ports.push(await clusterPort(ports));
  const nodes = await Promise.all(ports.map((port) => startNode(dir, port)));
  const addresses = ports.map((port) => `127.0.0.1:${port}`);
  await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes']);
  // Every node must see all 16384 slots served before a client can rely on it.
  for (let i = 0; ; i++) {
    const states = await Promise.all(
      ports.map(async (port) => (await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout),
    );
    if (states.every((state) => state.includes('cluster_state:ok'))) break;
    if (i > 100) throw new Error(`Redis Cluster did not become ready:\n${states.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    ports,
    async destroy() {
      await Promise.all(
        nodes.map(
          (node) =>
            new Promise<void>((resolve) => {
              if (node.exitCode !== null) return resolve();
              node.once('exit', () => resolve());
              node.kill('SIGKILL');
            }),
        ),
      );
      await rm(dir, { recursive: true, force: true });
    },
  };
}
