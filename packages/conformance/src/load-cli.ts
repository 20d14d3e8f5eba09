// `pnpm test:load`: 60 s at 100 connections on each adapter with 1,000 distinct keys and one invalid
// credential in eleven, then a 5-minute soak on Fastify. Exits non-zero when a promise is broken.
//
// Memory bound: every cache keywarden keeps is bounded (10,000 verified keys and records, 10,000
// unknown ids, 10,000 throttle entries, 100,000 limit counters), which at a few hundred bytes each
// is under 20 MB at full; V8's heap and the allocator add slack, so RSS may rise by at most 50 MB
// from the end of warm-up to the end of the run. A leak of one small object per request would
// break it: 60 s at ~10,000 req/s is 600,000 requests.
import { type LoadResult, runLoad } from './load.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : Number(args[i + 1]);
};
const seconds = option('--seconds', 60);
const soak = option('--soak', 300);
const keys = option('--keys', 1000);
const BOUND_MB = 50;

const problems: string[] = [];
function check(result: LoadResult, label: string): void {
  const fivexx = Object.entries(result.statuses).filter(([code]) => Number(code) >= 500);
  if (fivexx.length) problems.push(`${label}: 5xx answers ${JSON.stringify(fivexx)}`);
  if (result.errors || result.timeouts)
    problems.push(`${label}: ${result.errors} socket errors, ${result.timeouts} timeouts`);
  const reasons = Object.keys(result.reasons).filter((r) => r !== 'malformed' && r !== 'unknown_key');
  if (reasons.length) problems.push(`${label}: refusals for ${reasons.join(', ')}`);
  const warm = result.rssMB[Math.max(0, Math.floor(result.rssMB.length / 5) - 1)]!;
  const growth = Math.max(...result.rssMB.slice(Math.floor(result.rssMB.length / 5))) - warm;
  if (growth > BOUND_MB) problems.push(`${label}: RSS grew ${growth} MB after warm-up (bound ${BOUND_MB})`);
  console.log(
    `${label}: ${result.requests.toLocaleString('en')} requests, ${result.rps.toLocaleString('en')} req/s, ` +
      `statuses ${JSON.stringify(result.statuses)}, errors ${result.errors}, refusals ${JSON.stringify(result.reasons)}, ` +
      `RSS MB after warm-up ${warm} -> max ${warm + growth} (samples ${result.rssMB.join(' ')})`,
  );
}

for (const framework of ['express5', 'koa3', 'fastify5']) {
  check(await runLoad({ framework, keys, seconds }), `${framework}, ${seconds} s`);
}
if (soak > 0)
  check(
    await runLoad({ framework: 'fastify5', keys, seconds: soak, sampleEvery: 10 }),
    `fastify5 soak, ${soak} s`,
  );

if (problems.length) {
  console.error(`\n${problems.length} problem(s):\n${problems.join('\n')}`);
  process.exit(1);
}
console.log('\nAll load promises held.');
