// HTTP part of `pnpm bench`: each framework without auth, with keywarden (every credential form,
// and an access token), and with the peers people use instead, in alternating rounds in one run.
// Loopback only, bounded: ROUNDS x configs x DURATION seconds.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { startRedis } from './redis-server.mjs';
import { PINNING, startServer } from './server-process.mjs';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 1 : 9;
const DURATION = quick ? 1 : 3;
const CONNECTIONS = 50;
const here = import.meta.dirname;

export const CONFIGS = [
  // Baselines get the same X-Api-Key header (ignored): the comparison is then the cost of
  // authenticating, not of parsing a header that no-auth clients would not send.
  { framework: 'fastify', mode: 'none', form: 'x-api-key', label: 'Fastify, no auth' },
  // Control: a second, identical no-auth server. Its ratio to the first is the measurement noise.
  {
    framework: 'fastify',
    mode: 'none-control',
    form: 'x-api-key',
    label: 'Fastify, no auth (control: identical second server)',
  },
  { framework: 'fastify', mode: 'keywarden', form: 'x-api-key', label: 'Fastify + keywarden, X-Api-Key' },
  { framework: 'fastify', mode: 'keywarden', form: 'bearer', label: 'Fastify + keywarden, Bearer' },
  { framework: 'fastify', mode: 'keywarden', form: 'token', label: 'Fastify + keywarden, Token' },
  {
    framework: 'fastify',
    mode: 'keywarden',
    form: 'access-token',
    label: 'Fastify + keywarden, AccessToken',
  },
  {
    framework: 'fastify',
    mode: 'bearer-auth',
    form: 'bearer',
    label: 'Fastify + @fastify/bearer-auth, 1 key',
  },
  {
    framework: 'fastify',
    mode: 'bearer-auth-100',
    form: 'bearer',
    label: 'Fastify + @fastify/bearer-auth, 100 keys',
  },
  // Limits: the same key with a rate limit and a monthly quota, counted in memory or in Redis,
  // against the rate limiter people use (which does not authenticate at all).
  {
    framework: 'fastify',
    mode: 'keywarden-limits',
    form: 'x-api-key',
    label: 'Fastify + keywarden, rate + quota, memory',
  },
  {
    framework: 'fastify',
    mode: 'keywarden-limits-redis',
    form: 'x-api-key',
    label: 'Fastify + keywarden, rate + quota, Redis',
  },
  {
    framework: 'fastify',
    mode: 'rate-limit',
    form: 'x-api-key',
    label: 'Fastify + @fastify/rate-limit, memory',
  },
  {
    framework: 'fastify',
    mode: 'rate-limit-redis',
    form: 'x-api-key',
    label: 'Fastify + @fastify/rate-limit, Redis',
  },
  // The floor: what any auth hook or middleware costs before it does anything.
  {
    framework: 'fastify',
    mode: 'empty-callback-hook',
    form: 'x-api-key',
    label: 'Fastify + empty onRequest hook (floor)',
  },
  { framework: 'express', mode: 'none', form: 'x-api-key', label: 'Express, no auth' },
  { framework: 'express', mode: 'keywarden', form: 'x-api-key', label: 'Express + keywarden, X-Api-Key' },
  { framework: 'express', mode: 'passport', form: 'x-api-key', label: 'Express + passport-headerapikey' },
  {
    framework: 'express',
    mode: 'keywarden-limits',
    form: 'x-api-key',
    label: 'Express + keywarden, rate + quota, memory',
  },
  {
    framework: 'express',
    mode: 'keywarden-limits-redis',
    form: 'x-api-key',
    label: 'Express + keywarden, rate + quota, Redis',
  },
  {
    framework: 'express',
    mode: 'express-rate-limit',
    form: 'x-api-key',
    label: 'Express + express-rate-limit, memory',
  },
  {
    framework: 'express',
    mode: 'express-rate-limit-redis',
    form: 'x-api-key',
    label: 'Express + express-rate-limit, Redis (rate-limit-redis)',
  },
  { framework: 'express', mode: 'empty', form: 'x-api-key', label: 'Express + empty middleware (floor)' },
  { framework: 'koa', mode: 'none', form: 'x-api-key', label: 'Koa, no auth' },
  { framework: 'koa', mode: 'keywarden', form: 'x-api-key', label: 'Koa + keywarden, X-Api-Key' },
  { framework: 'koa', mode: 'empty', form: 'x-api-key', label: 'Koa + empty middleware (floor)' },
];

// Pinning (bench/server-process.mjs) does not remove this VM's noise: the control row (an
// identical second no-auth server) still lands 0.82 to 0.97 of the first from one run to the next.

function start(framework, mode) {
  return startServer([framework, mode, ...(redis ? [redis.url] : [])]).then(({ child, ready, ask }) => ({
    child,
    port: ready.port,
    ask,
  }));
}

// `--only=fastify` (or express, koa) measures one framework, and `--match=<text>` only the rows
// whose label holds one of them (comma-separated; with the framework's no-auth row), for profiling; neither writes results.
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const match = process.argv
  .find((a) => a.startsWith('--match='))
  ?.slice('--match='.length)
  .split(',');
const RUN = CONFIGS.filter(
  (c) =>
    (!only || c.framework === only) &&
    (!match || match.some((text) => c.label.includes(text)) || c.mode === 'none'),
);
const redis = RUN.some((c) => c.mode.endsWith('-redis')) ? await startRedis() : null;
const samples = new Map(RUN.map((c) => [c.label, []]));
for (let round = 0; round < ROUNDS; round++) {
  // Alternate the order every round, so that drift (thermal, other load) falls on all alike.
  const order = round % 2 === 0 ? RUN : [...RUN].reverse();
  for (const config of order) {
    // A fresh server process per measurement: two identical servers started once differed by up to
    // 9% for a whole run (memory layout, JIT), a bias no number of rounds removes; restarting turns
    // it into noise that the median over rounds shrinks.
    const server = await start(config.framework, config.mode);
    const { headers } = await server.ask({ type: 'headers', form: config.form }, 'headers');
    const url = `http://127.0.0.1:${server.port}/v3/files/bench.png`;
    await autocannon({ url, headers, connections: CONNECTIONS, duration: 1 }); // warm-up (JIT)
    const before = (await server.ask({ type: 'cpu' }, 'cpu')).usage;
    const result = await autocannon({ url, headers, connections: CONNECTIONS, duration: DURATION });
    const { usage: after, rss } = await server.ask({ type: 'cpu' }, 'cpu');
    const cpu = after.user - before.user + (after.system - before.system);
    const total = result.requests.total;
    if (result.non2xx > 0 || result.errors > 0) {
      throw new Error(`${config.label}: ${result.non2xx} non-2xx answers and ${result.errors} errors`);
    }
    samples.get(config.label).push({
      rps: total / DURATION,
      p50: result.latency.p50,
      p99: result.latency.p99,
      cpuMicrosPerRequest: cpu / total,
      userMicrosPerRequest: (after.user - before.user) / total,
      rss,
    });
    process.stderr.write(
      `round ${round + 1}/${ROUNDS} ${config.label}: ${Math.round(total / DURATION)} req/s\n`,
    );
    server.child.kill();
    await new Promise((resolve) => server.child.once('exit', resolve));
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const rows = RUN.map((config) => {
  const runs = samples.get(config.label);
  const base = samples.get(CONFIGS.find((c) => c.framework === config.framework && c.mode === 'none').label);
  // Ratio of the medians over rounds. Not the median of per-round ratios: a Fastify server process
  // settles either in a fast state or in one about 2 µs a request slower (Node's nextTick
  // allocation; an empty onRequest hook showed it in 5 of 8 fresh processes, a no-hook server in
  // 0 of 8), independently of the process it is paired with, so pairing added that noise twice.
  const ratio = median(runs.map((r) => r.rps)) / median(base.map((r) => r.rps));
  // The same in server CPU per request (base / this): less sensitive to the load generator.
  const cpuRatio =
    median(base.map((r) => r.cpuMicrosPerRequest)) / median(runs.map((r) => r.cpuMicrosPerRequest));
  return {
    ...config,
    rps: {
      min: Math.min(...runs.map((r) => r.rps)),
      median: median(runs.map((r) => r.rps)),
      max: Math.max(...runs.map((r) => r.rps)),
    },
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    cpuMicrosPerRequest: median(runs.map((r) => r.cpuMicrosPerRequest)),
    userMicrosPerRequest: median(runs.map((r) => r.userMicrosPerRequest)),
    // What this server adds in user-space CPU per request over the baseline (medians): auth code
    // runs in user space, so this leaves out most of the kernel's loopback work and its noise.
    userMicrosOverBase:
      median(runs.map((r) => r.userMicrosPerRequest)) - median(base.map((r) => r.userMicrosPerRequest)),
    ratio,
    cpuRatio,
  };
});
console.table(
  rows.map((r) => ({
    server: r.label,
    'req/s median': Math.round(r.rps.median),
    'min..max': `${Math.round(r.rps.min)}..${Math.round(r.rps.max)}`,
    'p50 ms': r.p50,
    'p99 ms': r.p99,
    'CPU µs/req': r.cpuMicrosPerRequest.toFixed(1),
    'vs no auth': r.ratio.toFixed(3),
    'CPU vs no auth': r.cpuRatio.toFixed(3),
    'user µs/req': r.userMicrosPerRequest.toFixed(2),
    'user µs over no auth': r.userMicrosOverBase.toFixed(2),
  })),
);
redis?.stop();
if (only || match) process.exit(0);
await mkdir(join(here, 'results'), { recursive: true });
await writeFile(
  join(here, 'results', 'http.json'),
  JSON.stringify(
    { rounds: ROUNDS, duration: DURATION, connections: CONNECTIONS, pinning: PINNING, rows },
    null,
    2,
  ),
);
