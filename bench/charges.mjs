// `node bench/charges.mjs [--rounds=N]`: what limits add to a warm request, in one process on the
// memory limit store, each kind of charge measured in turn within every round (authenticateNow on
// a prebuilt request view, as in bench/paired-builds.mjs), so that the machine's drift falls on all
// alike. Per round, each kind's ns per request less the key without limits in the same round; the
// median over the rounds and the fastest round. Sub-microsecond differences the HTTP rows of
// bench/warm-path.mjs cannot resolve (their user CPU is sampled by the kernel's tick).
//
// Kinds: a key without limits; a key with a rate limit and a quota; the same key of an account on
// a plan with both (what an account adds; target: key + account at most 1.3x the key's limits);
// the same of an account past its quota, paid by its prepaid credits (target: at most 1.2x what
// the account within its quota adds); and a hold: the request charging nothing (cost 0), then
// `principal.reserve(1)` and `hold.commit()` (synchronous: no promise).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { keywarden, views } from './charges-setup.mjs';

const FREE = { cost: 0 };

/** ns per request of `kind`, over `n` requests. */
function run(kind, n) {
  const t0 = process.hrtime.bigint();
  if (kind === 'hold') {
    const view = views.account;
    for (let i = 0; i < n; i++) {
      const res = keywarden.authenticateNow(view, FREE);
      if (res instanceof Promise || !res.ok) throw new Error('not warm');
      const hold = res.principal.reserve(1);
      if (hold instanceof Promise) throw new Error('a hold went asynchronous');
      hold.commit();
    }
  } else {
    const view = views[kind];
    for (let i = 0; i < n; i++) {
      const res = keywarden.authenticateNow(view);
      if (res instanceof Promise || !res.ok) throw new Error(`not warm: ${kind}`);
    }
  }
  return Number(process.hrtime.bigint() - t0) / n;
}

const KINDS = ['none', 'key', 'account', 'credits', 'hold'];
const N = 20_000;
const ROUNDS = Number(process.argv.find((arg) => arg.startsWith('--rounds='))?.slice(9) ?? 60);
for (let w = 0; w < 20; w++) for (const kind of KINDS) run(kind, N);
const added = Object.fromEntries(KINDS.map((kind) => [kind, []]));
const times = Object.fromEntries(KINDS.map((kind) => [kind, []]));
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 ? [...KINDS].reverse() : KINDS;
  const got = {};
  for (const kind of order) got[kind] = run(kind, N);
  for (const kind of KINDS) {
    times[kind].push(got[kind]);
    added[kind].push(got[kind] - got.none);
  }
}
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const fastest = (kind) => Math.min(...times[kind]) - Math.min(...times.none);
const row = (kind, label) =>
  `${label}: ${median(times[kind]).toFixed(0)} ns a request, adds ${median(added[kind]).toFixed(0)} ns (median of rounds; fastest rounds ${fastest(kind).toFixed(0)} ns)`;
console.log(`${ROUNDS} rounds of ${N} requests, memory limit store`);
console.log(row('none', 'key without limits'));
console.log(row('key', 'key rate + quota'));
console.log(row('account', 'key + account rate + quota'));
console.log(row('credits', 'key + account past its quota, on credits'));
console.log(row('hold', 'key + account, cost 0 then reserve(1) + commit'));
const ratio = (a, b) => (median(added[a]) / median(added[b])).toFixed(2);
const fastRatio = (a, b) => (fastest(a) / fastest(b)).toFixed(2);
console.log(
  `account: ${ratio('account', 'key')}x what the key's limits add (fastest rounds ${fastRatio('account', 'key')}x; target 1.3x)`,
);
console.log(
  `credits: ${ratio('credits', 'account')}x what the account within its quota adds (fastest rounds ${fastRatio('credits', 'account')}x; target 1.2x)`,
);
console.log(
  `hold: ${ratio('hold', 'account')}x what charging the route's cost adds (fastest rounds ${fastRatio('hold', 'account')}x)`,
);

const results = join(import.meta.dirname, 'results');
await mkdir(results, { recursive: true });
const summary = (kind) => ({
  ns: median(times[kind]),
  addsMedian: median(added[kind]),
  addsFastest: fastest(kind),
});
await writeFile(
  join(results, 'charges.json'),
  JSON.stringify(
    { rounds: ROUNDS, requests: N, kinds: Object.fromEntries(KINDS.map((k) => [k, summary(k)])) },
    null,
    2,
  ),
);
