// Where a request's CPU time goes, per server, inside one server process: a diagnostic for the
// paired tables of `pnpm bench` (not part of it). Linux with `perf` only:
//
//   node bench/profile-paired.mjs [--rounds=8] [--limits]
//
// The servers of bench/warm-path.mjs (no auth, @fastify/bearer-auth, keywarden; with `--limits`,
// keywarden with a rate limit and a quota too) run in one process, as there, and take turns of one
// second under load while `perf` samples that process (its JIT code named through
// --perf-basic-prof). Each sample is given to the server that was under load at its time, so every
// server is measured in the same process and the same minutes. For each server, per request:
// - all: every sampled CPU nanosecond of the server process (user and kernel);
// - auth code: samples with a frame of the auth layer itself on the stack (keywarden's packages and
//   lru-cache, or @fastify/bearer-auth): what the layer's own code costs inside a busy server;
// - waking the client: samples under `sock_def_readable`, the kernel waking the load generator's
//   thread on the other CPU when a response arrives (an inter-processor interrupt: on a VM, a
//   costly exit to the hypervisor);
// - kernel: samples whose innermost frame is in the kernel.
// On the 2-core VM these benches run on, a slower server leaves the load generator idle more often,
// so that more of its responses must wake it: the server's kernel time per request grows with any
// work added to a request, beside that work itself. Two runs on 2026-12-02, µs a request (no auth /
// bearer-auth / keywarden): waking the client 4.27 / 4.82 / 5.43 and 5.39 / 6.63 / 7.62; the auth
// code's own frames 0 / 0.29 / 2.72 and 0 / 0.60 / 4.20. The VM's speed moved between and within
// the runs (no auth took 48 and 66 µs a request), so read the columns side by side, not alone.
// Nor read the requests column as throughput: `perf`'s call-graph sampling takes a large share of
// the server's CPU (on 2026-12-02, no auth served 17,000 req/s under it against 34,000 in
// bench/warm-path.mjs minutes before), and the servers' throughputs come close to one another
// under it (keywarden 0.97 of no auth where bench/warm-path.mjs measured 0.87).
import { spawn, spawnSync } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { startRedis } from './redis-server.mjs';
import { startServer } from './server-process.mjs';

const roundsArg = process.argv.find((a) => a.startsWith('--rounds='));
const ROUNDS = roundsArg ? Number(roundsArg.slice('--rounds='.length)) : 8;
const limits = process.argv.includes('--limits');
if (spawnSync('perf', ['--version']).status !== 0) {
  console.error('profile-paired: needs Linux perf (Debian: apt-get install linux-perf)');
  process.exit(1);
}

const SERVERS = [
  { server: 'none', form: 'x-api-key', label: 'no auth' },
  { server: 'bearer-auth', form: 'bearer', label: '@fastify/bearer-auth, 1 key' },
  { server: 'keywarden', form: 'x-api-key', label: 'keywarden, X-Api-Key' },
  ...(limits ? [{ server: 'keywarden-limits', form: 'x-api-key', label: 'keywarden, rate + quota' }] : []),
];
/** A sample belongs to a category when a frame of its stack matches. */
const AUTH_CODE = /packages\/(core|fastify)\/|lru-cache|wasm-function|bearer-auth/;
const WAKING_CLIENT = /\bsock_def_readable\b/;

const redis = limits ? await startRedis() : null;
const { child, ready, ask } = await startServer(
  ['paired', SERVERS.map((s) => s.server).join(','), ...(redis ? [redis.url] : [])],
  ['--perf-basic-prof'],
);
const headers = [];
for (const s of SERVERS)
  headers.push((await ask({ type: 'headers', form: s.form, server: s.server }, 'headers')).headers);
const load = (i, duration) =>
  autocannon({
    url: `http://127.0.0.1:${ready.ports[SERVERS[i].server]}/v3/files/bench.png`,
    headers: headers[i],
    connections: 50,
    duration,
  });
for (let i = 0; i < SERVERS.length; i++) await load(i, 2); // warm-up (JIT)

const data = join(tmpdir(), `keywarden-profile-${process.pid}.data`);
// -k mono: sample times on CLOCK_MONOTONIC, the clock of process.hrtime.
const perf = spawn(
  'perf',
  ['record', '-k', 'mono', '-F', '1999', '-g', '-p', String(child.pid), '-o', data],
  {
    stdio: 'ignore',
  },
);
await new Promise((resolve) => setTimeout(resolve, 500));
const windows = [];
for (let round = 0; round < ROUNDS; round++) {
  const order = SERVERS.map((_, i) => i);
  if (round % 2) order.reverse();
  for (const i of order) {
    const start = Number(process.hrtime.bigint()) / 1e9;
    const result = await load(i, 1);
    windows.push({ i, start, end: Number(process.hrtime.bigint()) / 1e9, requests: result.requests.total });
  }
  process.stderr.write(`profile: round ${round + 1}/${ROUNDS}\n`);
}
perf.kill('SIGINT');
await new Promise((resolve) => perf.once('exit', resolve));
child.kill();
redis?.stop();

const script = spawnSync('perf', ['script', '-i', data, '-F', 'time,period,ip,sym,dso'], {
  maxBuffer: 2 ** 31,
  encoding: 'utf8',
});
await rm(data, { force: true });
await rm(`${data}.old`, { force: true });
const totals = SERVERS.map(() => ({ all: 0, auth: 0, waking: 0, kernel: 0, requests: 0 }));
for (const w of windows) totals[w.i].requests += w.requests;
for (const sample of script.stdout.split('\n\n')) {
  const lines = sample.trim().split('\n');
  const [time, period] = lines[0].trim().split(/:?\s+/);
  const at = Number(time);
  const w = windows.find((x) => x.start <= at && at <= x.end);
  if (!w || lines.length < 2) continue;
  const t = totals[w.i];
  const ns = Number(period);
  t.all += ns;
  const stack = lines.slice(1).join('\n');
  if (AUTH_CODE.test(stack)) t.auth += ns;
  if (WAKING_CLIENT.test(stack)) t.waking += ns;
  if (/\(\[kernel/.test(lines[1])) t.kernel += ns;
}
const micros = (ns, t) => (ns / t.requests / 1000).toFixed(2);
console.table(
  SERVERS.map((s, i) => {
    const t = totals[i];
    const base = totals[0];
    return {
      server: s.label,
      requests: t.requests,
      'all µs/req': micros(t.all, t),
      'over no auth': (t.all / t.requests / 1000 - base.all / base.requests / 1000).toFixed(2),
      'auth code': micros(t.auth, t),
      'waking the client': micros(t.waking, t),
      kernel: micros(t.kernel, t),
    };
  }),
);
// What --perf-basic-prof leaves behind: the JIT map, and V8 logs named after the process.
await rm(join(tmpdir(), `perf-${child.pid}.map`), { force: true });
for (const file of await readdir('.'))
  if (file.startsWith('isolate-') && file.endsWith(`-${child.pid}-v8.log`)) await rm(file, { force: true });
