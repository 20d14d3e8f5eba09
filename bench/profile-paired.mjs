// Where a request's CPU time goes, per server, inside one server process: a diagnostic for the
// paired tables of `pnpm bench` (not part of it). Linux with `perf` only:
//
//   node bench/profile-paired.mjs [--rounds=8] [--limits] [--functions]
//
// The servers of bench/warm-path.mjs (no auth, @fastify/bearer-auth, keywarden; with `--limits`,
// keywarden with a rate limit and a quota too) run in one process, as there, and take turns of one
// second under load while `perf` samples that process (its JIT code named through
// --perf-basic-prof). Each sample is given to the server that was under load at its time, so every
// server is measured in the same process and the same minutes. For each server, per request:
// - all: every sampled CPU nanosecond of the server process (user and kernel);
// - auth code: samples with a frame of the auth layer itself on the stack (keywarden's packages and
//   lru-cache, or @fastify/bearer-auth) and no frame of Fastify's request handling inside it: a
//   hook that passes calls `done()`, which runs the route's handler within the hook's own call, so
//   those samples are the handler's, not the layer's (counting them had added about 0.3 µs a
//   request to both layers);
// - waking the client: samples under `sock_def_readable`, the kernel waking the load generator's
//   thread on the other CPU when a response arrives (an inter-processor interrupt: on a VM, a
//   costly exit to the hypervisor);
// - kernel: samples whose innermost frame is in the kernel.
// On the 2-core VM these benches run on, a slower server leaves the load generator idle more often,
// so that more of its responses must wake it: the server's kernel time per request grows with any
// work added to a request, beside that work itself. Two runs on 2026-12-02, µs a request (no auth /
// bearer-auth / keywarden): waking the client 4.27 / 4.82 / 5.43 and 5.39 / 6.63 / 7.62. The VM's
// speed moved between and within the runs (no auth took 48 and 66 µs a request), so read the
// columns side by side, not alone.
// With `--functions`, two lists more per server: the auth layer's own functions, each with every
// sample it is on the stack of (ns a request: a function's callees included, so the list does not
// add up), and the frames whose own time grew most over no auth (JIT code, builtins, kernel), which
// shows costs outside the auth layer that it causes (Fastify's request constructor, for example,
// assigns every request decorator). A run on 2026-12-02 (10 rounds): auth code 1.59 µs a request
// for keywarden's X-Api-Key, of which the key's digest 0.45 (0.10 in a loop) and the path check
// 0.17, against 0.17 for all of @fastify/bearer-auth's (one `timingSafeEqual`); over no auth in all,
// 1.95 and 0.69.
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
const functions = process.argv.includes('--functions');
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
/** Fastify's request handling past the hooks, which a passing hook's `done()` runs (see "auth code" above). */
const DOWNSTREAM = /fastify\/lib\/handle-request\.js/;
/** Whether a stack (innermost frame first) is the auth layer's own work: an auth frame before any downstream one. */
function inAuthCode(frames) {
  for (const frame of frames) {
    if (DOWNSTREAM.test(frame)) return false;
    if (AUTH_CODE.test(frame)) return true;
  }
  return false;
}
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
const totals = SERVERS.map(() => ({
  all: 0,
  auth: 0,
  waking: 0,
  kernel: 0,
  requests: 0,
  /** Frame name -> ns with it innermost (`--functions`). */
  self: new Map(),
  /** Auth-layer frame name -> ns with it anywhere on the stack (`--functions`). */
  authFrames: new Map(),
}));
/** A frame's name without its address and object file: `JS:*name file:line:column`, or a symbol. */
const frameName = (line) =>
  line
    .trim()
    .replace(/^[0-9a-f]+\s+/, '')
    .replace(/\s+\(\/[^)]*\)$/, '');
const add = (map, key, ns) => map.set(key, (map.get(key) ?? 0) + ns);
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
  const frames = lines.slice(1);
  const auth = inAuthCode(frames);
  if (auth) t.auth += ns;
  const stack = frames.join('\n');
  if (WAKING_CLIENT.test(stack)) t.waking += ns;
  if (/\(\[kernel/.test(lines[1])) t.kernel += ns;
  if (!functions) continue;
  add(t.self, frameName(lines[1]), ns);
  if (!auth) continue;
  for (const name of new Set(frames.map(frameName))) if (AUTH_CODE.test(name)) add(t.authFrames, name, ns);
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
if (functions) {
  const perRequest = (ns, t) => ns / t.requests;
  const top = (entries, n) => entries.sort((a, b) => b[1] - a[1]).slice(0, n);
  const show = (title, rows) => {
    console.log(`\n${title}`);
    for (const [name, ns] of rows) console.log(`${ns.toFixed(0).padStart(7)}  ${name.slice(0, 150)}`);
  };
  const base = totals[0];
  for (let i = 1; i < SERVERS.length; i++) {
    const t = totals[i];
    const own = [...t.authFrames].map(([name, ns]) => [name, perRequest(ns, t)]);
    show(`${SERVERS[i].label}: auth-layer functions, ns a request with callees`, top(own, 20));
    const grown = [...new Set([...t.self.keys(), ...base.self.keys()])].map((name) => [
      name,
      perRequest(t.self.get(name) ?? 0, t) - perRequest(base.self.get(name) ?? 0, base),
    ]);
    show(`${SERVERS[i].label}: own time grown most over no auth, ns a request`, top(grown, 20));
  }
}
// What --perf-basic-prof leaves behind: the JIT map, and V8 logs named after the process.
await rm(join(tmpdir(), `perf-${child.pid}.map`), { force: true });
for (const file of await readdir('.'))
  if (file.startsWith('isolate-') && file.endsWith(`-${child.pid}-v8.log`)) await rm(file, { force: true });
