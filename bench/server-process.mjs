// A benchmark server (bench/http-server.mjs) in a process of its own, shared by bench/http.mjs and
// bench/warm-path.mjs. With `taskset` and 2+ cores, the server runs on the last core and the
// calling process (the load generator) is moved to the others, so that they never take turns on
// one core.
import { fork, spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

const cpus = availableParallelism();
const pinned = cpus >= 2 && spawnSync('taskset', ['-V']).status === 0;
const clientCpus = cpus > 2 ? `0-${cpus - 2}` : '0';
if (pinned) spawnSync('taskset', ['-a', '-cp', clientCpus, String(process.pid)]);

/** How the processes are placed, for the report. */
export const PINNING = pinned
  ? `servers on CPU ${cpus - 1}, load generator on CPU ${clientCpus}`
  : 'not pinned';

/**
 * Starts bench/http-server.mjs with `args` (and Node's own flags `nodeArgs`); resolves, once it is ready, to the child, its 'ready'
 * message, and `ask(message, type)`, which sends a message and resolves to the first reply of `type`.
 */
export function startServer(args, nodeArgs = []) {
  const script = join(import.meta.dirname, 'http-server.mjs');
  const options = { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] };
  const child = pinned
    ? spawn('taskset', ['-c', String(cpus - 1), process.execPath, ...nodeArgs, script, ...args], options)
    : fork(script, args, { ...options, execArgv: nodeArgs });
  const ask = (message, type) =>
    new Promise((resolve) => {
      const onMessage = (reply) => {
        if (reply.type === type) {
          child.off('message', onMessage);
          resolve(reply);
        }
      };
      child.on('message', onMessage);
      if (message) child.send(message);
    });
  return ask(null, 'ready').then((ready) => ({ child, ready, ask }));
}
