// The warm path, paired: what a warm API key or access token adds to a Fastify request, against
// what @fastify/bearer-auth with one key adds, measured inside one server process.
//
// Why a bench of its own: bench/http.mjs starts a fresh process per measurement, and on a shared VM
// the CPU time a request costs moves by up to 2x from one process (or minute) to the next, while
// what an auth hook adds is about 1 µs of 25. Here every server of the comparison lives in the
// same process (one Fastify instance each, on a port of its own), and rounds of one second
// alternate between them, so that each round's figure is compared with the no-auth server's in the
// same round: drift and the process's own state fall on all alike. Several such processes make a
// run; the figures are medians over every round of every process.
//
// `--limits` measures the limits rows the same way (results/limits-paired.json): a rate limit and a
// quota on the key, in memory and on Redis, against @fastify/rate-limit in memory and on Redis.
// `--adapters` measures Express and Koa the same way (results/adapters-paired.json), each against
// its own no-auth server: their rows in bench/http.mjs come from fresh processes, whose spread
// between runs is larger than the 0.90 target's margin (Express + keywarden measured 1.009 in one
// run and 0.859 in the next).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { startRedis } from './redis-server.mjs';
import { PINNING, startServer } from './server-process.mjs';

const quick = process.argv.includes('--quick');
const limitsSet = process.argv.includes('--limits');
const adaptersSet = process.argv.includes('--adapters');
const PROCESSES = quick ? 1 : 3;
const ROUNDS = quick ? 3 : 11;
const DURATION = 1;
const WARMUP = 0.25; // seconds of load before each measurement, not counted
const CONNECTIONS = 50;
const here = import.meta.dirname;

/**
 * server: a Fastify mode of bench/http-server.mjs; form: the credential form sent; ref: the server
 * (by its label) a row is also compared with, when not only with no auth.
 */
export const PAIRED = [
  { server: 'none', form: 'x-api-key', label: 'Fastify, no auth' },
  {
    server: 'none-control',
    form: 'x-api-key',
    label: 'Fastify, no auth (control: identical second server)',
  },
  { server: 'empty-callback-hook', form: 'x-api-key', label: 'Fastify + empty onRequest hook (floor)' },
  { server: 'bearer-auth', form: 'bearer', label: 'Fastify + @fastify/bearer-auth, 1 key' },
  { server: 'keywarden', form: 'x-api-key', label: 'Fastify + keywarden, X-Api-Key' },
  { server: 'keywarden', form: 'bearer', label: 'Fastify + keywarden, Bearer' },
  { server: 'keywarden', form: 'access-token', label: 'Fastify + keywarden, AccessToken' },
];

const KEY_ROW = 'Fastify + keywarden, X-Api-Key, no limits';
const MEMORY_ROW = 'Fastify + keywarden, X-Api-Key, rate + quota, memory';
const REDIS_ROW = 'Fastify + keywarden, X-Api-Key, rate + quota, Redis';
const ACCOUNT_MEMORY_ROW = 'Fastify + keywarden, X-Api-Key, key + account rate + quota, memory';
const ACCOUNT_REDIS_ROW = 'Fastify + keywarden, X-Api-Key, key + account rate + quota, Redis';
/** The limits set: every server of bench/http.mjs's limits rows on Fastify, in one process. */
export const PAIRED_LIMITS = [
  PAIRED[0],
  PAIRED[1],
  PAIRED[2],
  {
    server: 'ratelimit-headers',
    form: 'x-api-key',
    label: 'Fastify + the two RateLimit headers alone (floor)',
    ref: PAIRED[2].label,
  },
  { server: 'rate-limit', form: 'x-api-key', label: 'Fastify + @fastify/rate-limit, memory (no auth)' },
  { server: 'rate-limit-redis', form: 'x-api-key', label: 'Fastify + @fastify/rate-limit, Redis (no auth)' },
  { server: 'keywarden', form: 'x-api-key', label: KEY_ROW },
  { server: 'keywarden-limits', form: 'x-api-key', label: MEMORY_ROW, ref: KEY_ROW },
  {
    server: 'keywarden-limits-redis',
    form: 'x-api-key',
    label: REDIS_ROW,
    ref: MEMORY_ROW,
  },
  // Key + account limits (the key's rate and quota, and its account's: four counters in one
  // charge) against the key's limits alone: what an account adds.
  {
    server: 'keywarden-limits-account',
    form: 'x-api-key',
    label: ACCOUNT_MEMORY_ROW,
    ref: MEMORY_ROW,
  },
  {
    server: 'keywarden-limits-account-redis',
    form: 'x-api-key',
    label: ACCOUNT_REDIS_ROW,
    ref: REDIS_ROW,
  },
  // The same account past its quota, every request paid by its prepaid credits, against the
  // account within its quota (target: credits add at most 1.2x what the quota alone adds).
  {
    server: 'keywarden-limits-credits',
    form: 'x-api-key',
    label: 'Fastify + keywarden, X-Api-Key, key + account past its quota, on credits, memory',
    ref: ACCOUNT_MEMORY_ROW,
  },
  {
    server: 'keywarden-limits-credits-redis',
    form: 'x-api-key',
    label: 'Fastify + keywarden, X-Api-Key, key + account past its quota, on credits, Redis',
    ref: ACCOUNT_REDIS_ROW,
  },
];
const EXPRESS = 'Express, no auth';
const KOA = 'Koa, no auth';
/**
 * The adapters set: Express and Koa servers in one process, each row against its own framework's
 * no-auth server (`ref`), and passport-headerapikey, the Express peer, beside keywarden.
 */
export const PAIRED_ADAPTERS = [
  { server: 'express:none', form: 'x-api-key', label: EXPRESS },
  {
    server: 'express:none-control',
    form: 'x-api-key',
    label: 'Express, no auth (control: identical second server)',
    ref: EXPRESS,
  },
  { server: 'express:empty', form: 'x-api-key', label: 'Express + empty middleware (floor)', ref: EXPRESS },
  { server: 'express:passport', form: 'x-api-key', label: 'Express + passport-headerapikey', ref: EXPRESS },
  { server: 'express:keywarden', form: 'x-api-key', label: 'Express + keywarden, X-Api-Key', ref: EXPRESS },
  { server: 'koa:none', form: 'x-api-key', label: KOA },
  { server: 'koa:empty', form: 'x-api-key', label: 'Koa + empty middleware (floor)', ref: KOA },
  { server: 'koa:keywarden', form: 'x-api-key', label: 'Koa + keywarden, X-Api-Key', ref: KOA },
];
const SET = limitsSet ? PAIRED_LIMITS : adaptersSet ? PAIRED_ADAPTERS : PAIRED;
const redis = SET.some((c) => c.server.endsWith('-redis')) ? await startRedis() : null;

/** The process of every server of this bench (pinned as bench/http.mjs's servers). */
function startPaired() {
  const modes = [...new Set(SET.map((c) => c.server))].join(',');
  return startServer(['paired', modes, ...(redis ? [redis.url] : [])]).then(({ child, ready, ask }) => ({
    child,
    ports: ready.ports,
    ask,
  }));
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** One load of DURATION seconds on one config: req/s, and CPU µs per request (user, and all). */
async function measure(server, config, headers) {
  const url = `http://127.0.0.1:${server.ports[config.server]}/v3/files/bench.png`;
  // Not counted: a short load first, so that every server is measured as a busy server runs, not
  // as it restarts after the others' turns. Without it the order of the rows showed in the
  // figures: the three keywarden rows share one server, and whichever came first of them (after
  // another server) came out 1 to 2 % below the two that followed it on the same server, in
  // whichever order the three were listed.
  await autocannon({ url, headers, connections: CONNECTIONS, duration: WARMUP });
  const before = (await server.ask({ type: 'cpu' }, 'cpu')).usage;
  const result = await autocannon({ url, headers, connections: CONNECTIONS, duration: DURATION });
  const after = (await server.ask({ type: 'cpu' }, 'cpu')).usage;
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${config.label}: ${result.non2xx} non-2xx answers and ${result.errors} errors`);
  const total = result.requests.total;
  const user = after.user - before.user;
  return { rps: total / DURATION, user: user / total, cpu: (user + after.system - before.system) / total };
}

/** One server process: a warm-up round, then ROUNDS alternating rounds, each a figure per config. */
async function runProcess(index) {
  const server = await startPaired();
  const headers = [];
  for (const config of SET)
    headers.push(
      (await server.ask({ type: 'headers', form: config.form, server: config.server }, 'headers')).headers,
    );
  const rounds = [];
  for (let round = -1; round < ROUNDS; round++) {
    const order = SET.map((_, i) => i);
    if (round % 2 !== 0) order.reverse();
    const figures = [];
    for (const i of order) figures[i] = await measure(server, SET[i], headers[i]);
    if (round >= 0) rounds.push(figures); // round -1 warms every server up (JIT)
    process.stderr.write(`warm path: process ${index + 1}/${PROCESSES}, round ${round + 1}/${ROUNDS}\n`);
  }
  server.child.kill();
  await new Promise((resolve) => server.child.once('exit', resolve));
  return rounds;
}

const processes = [];
for (let p = 0; p < PROCESSES; p++) processes.push(await runProcess(p));
redis?.stop();
const all = processes.flat();

// What a config adds over another (no auth, or its `ref`): per round, its CPU per request less the
// other server's in the same round; the median over the rounds. User CPU is the measure the targets
// use (auth code runs in user space). It is noisy on kernels that account CPU time by ticks (here
// 250 a second: the split between user and system time is a sample, about ±1 µs a request in a 1 s
// round), hence many rounds; all CPU (user + system) is exact, and shown beside it, but also
// carries the kernel work that a slower server causes on loopback (more wake-ups of the load
// generator).
const added = (rounds, i, kind, base = 0) => median(rounds.map((r) => r[i][kind] - r[base][kind]));
const bearer = SET.findIndex((c) => c.server === 'bearer-auth');
const rows = SET.map((config, i) => {
  const ref = config.ref ? SET.findIndex((c) => c.label === config.ref) : -1;
  return {
    ...config,
    rps: median(all.map((r) => r[i].rps)),
    ratio: median(all.map((r) => r[i].rps / r[0].rps)),
    userMicrosPerRequest: median(all.map((r) => r[i].user)),
    userMicrosOverBase: added(all, i, 'user'),
    cpuMicrosPerRequest: median(all.map((r) => r[i].cpu)),
    cpuMicrosOverBase: added(all, i, 'cpu'),
    // Against its `ref` in the same rounds: throughput ratio and user CPU added.
    ...(ref === -1
      ? {}
      : {
          ratioToRef: median(all.map((r) => r[i].rps / r[ref].rps)),
          userMicrosOverRef: added(all, i, 'user', ref),
        }),
    // As a multiple of what @fastify/bearer-auth with one key adds: all rounds, then per process.
    ...(bearer === -1
      ? {}
      : {
          userOverBearer: added(all, i, 'user') / added(all, bearer, 'user'),
          cpuOverBearer: added(all, i, 'cpu') / added(all, bearer, 'cpu'),
          userOverBearerPerProcess: processes.map(
            (rounds) => added(rounds, i, 'user') / added(rounds, bearer, 'user'),
          ),
        }),
  };
});
const fixed = (x, digits = 2) => (x === undefined ? '' : x.toFixed(digits));
console.table(
  rows.map((r) => ({
    server: r.label,
    'req/s': Math.round(r.rps),
    'vs no auth': r.ratio.toFixed(3),
    'user µs over no auth': r.userMicrosOverBase.toFixed(2),
    'CPU µs over no auth': r.cpuMicrosOverBase.toFixed(2),
    ...(limitsSet || adaptersSet
      ? { 'vs ref': fixed(r.ratioToRef, 3), 'user µs over ref': fixed(r.userMicrosOverRef) }
      : {
          'x bearer-auth (user)': fixed(r.userOverBearer),
          'x bearer-auth (CPU)': fixed(r.cpuOverBearer),
          'per process (user)': r.userOverBearerPerProcess.map((x) => x.toFixed(2)).join(' / '),
        }),
  })),
);
await mkdir(join(here, 'results'), { recursive: true });
await writeFile(
  join(
    here,
    'results',
    limitsSet ? 'limits-paired.json' : adaptersSet ? 'adapters-paired.json' : 'warm-path.json',
  ),
  JSON.stringify(
    {
      processes: PROCESSES,
      rounds: ROUNDS,
      duration: DURATION,
      connections: CONNECTIONS,
      pinning: PINNING,
      rows,
    },
    null,
    2,
  ),
);
