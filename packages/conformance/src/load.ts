// The load test: 100 connections per adapter against a server holding N distinct keys, with one
// invalid credential for every ten valid ones. Asserted: no 5xx, no socket error or timeout, every
// invalid credential refused for the right reason and every valid one accepted, and memory flat
// after warm-up. `pnpm test:load` runs it long; `pnpm test` runs a short version.
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { formatApiKey } from '@keywarden/core';
import autocannon from 'autocannon';

export interface LoadOptions {
  framework: string;
  keys: number;
  seconds: number;
  connections?: number;
  /** Sample memory this often, in seconds. */
  sampleEvery?: number;
}

export interface LoadResult {
  framework: string;
  requests: number;
  rps: number;
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  succeeded: number;
  failed: number;
  reasons: Record<string, number>;
  invalidShare: number;
  rssMB: number[];
}

function startServer(framework: string, keys: number) {
  const child = fork(join(import.meta.dirname, 'load-server.ts'), [framework, String(keys)], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <T>(type: string) =>
    new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`load server exited ${code}`));
      const onMessage = (message: { type: string }) => {
        if (message.type === type) {
          child.off('message', onMessage);
          child.off('exit', onExit);
          resolve(message as T);
        }
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  return { child, next };
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { framework, keys, seconds, connections = 100, sampleEvery = Math.max(1, seconds / 10) } = options;
  const { child, next } = startServer(framework, keys);
  let server: ChildProcess | undefined = child;
  try {
    const { port, valid } = await next<{ port: number; valid: string[] }>('ready');
    // One invalid credential per ten valid: unknown ids with a right checksum, and malformed keys.
    const invalid = Array.from({ length: Math.floor(valid.length / 10) }, (_, i) =>
      i % 2
        ? formatApiKey('kw_live', `ZZ${String(i).padStart(10, '0')}`, 'S'.repeat(32))
        : `kw_live_broken${i}`,
    );
    // Exactly one invalid credential after every ten valid ones, so that whatever share of the cycle
    // a connection gets through in the time given, one in eleven of its requests is invalid.
    const sequence: string[] = [];
    valid.forEach((key, i) => {
      sequence.push(key);
      if (i % 10 === 9) sequence.push(invalid[(i - 9) / 10]!);
    });
    const requests = sequence.map((key) => ({
      method: 'GET' as const,
      path: '/v3/files/a.png',
      headers: { 'x-api-key': key },
    }));
    const rssMB: number[] = [];
    const stats = () => {
      child.send({ type: 'stats' });
      return next<{
        outcomes: { succeeded: number; failed: number; reasons: Record<string, number> };
        rss: number;
      }>('stats');
    };
    const sampler = setInterval(() => {
      void stats().then((s) => rssMB.push(Math.round(s.rss / 1048576)));
    }, sampleEvery * 1000);
    // Each connection starts the cycle at its own place: were they all to start at the first key,
    // a short run (a busy machine) would stop every connection at the same point of the cycle and
    // skew the invalid share by up to one request in a connection's few dozen.
    let clients = 0;
    const result = await autocannon({
      url: `http://127.0.0.1:${port}`,
      connections,
      duration: seconds,
      requests,
      setupClient: (client: { setRequests(r: typeof requests): void }) => {
        const offset = clients++ % requests.length;
        client.setRequests([...requests.slice(offset), ...requests.slice(0, offset)]);
      },
    });
    clearInterval(sampler);
    const final = await stats();
    rssMB.push(Math.round(final.rss / 1048576));
    const statuses: Record<string, number> = {};
    for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = count;
    return {
      framework,
      requests: result.requests.total,
      rps: Math.round(result.requests.average),
      statuses,
      errors: result.errors,
      timeouts: result.timeouts,
      succeeded: final.outcomes.succeeded,
      failed: final.outcomes.failed,
      reasons: final.outcomes.reasons,
      invalidShare: 1 / 11,
      rssMB,
    };
  } finally {
    server?.kill();
    server = undefined;
  }
}
