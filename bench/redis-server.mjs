// A redis-server of the benchmark's own, for the Redis rows of bench/http.mjs and bench/warm-path.mjs:
// a free loopback port, no persistence; stopped by the caller.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

/** Starts redis-server; resolves, once it accepts connections, to its URL and `stop()`. */
export async function startRedis() {
  const port = await new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
  });
  const child = spawn('redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ]);
  await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout.on('data', (chunk) => {
      if (String(chunk).includes('Ready to accept connections')) resolve();
    });
  });
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill() };
}
