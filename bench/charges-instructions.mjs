// `node bench/charges-instructions.mjs`: what limits add to a warm request, in CPU instructions
// counted by Valgrind (callgrind), not in time. bench/charges.mjs times the same kinds, and on a
// shared 2-core VM its ratio of what a key and its account's limits add to what the key's limits
// add moved between 1.38x and 1.72x from one process to the next (a process's JIT decisions, and
// the machine); counted instructions repeat within about 1 %, so a change of a few percent in the
// limits path shows. Instructions are not time (a cache miss or an allocation costs more than its
// count): use it to see what a change does and where, and the timed rows for what a request costs.
//
// Per kind (bench/charges-setup.mjs), two processes under callgrind run the kind's warm request
// 1,000 and 50,000 times after the same warm-up; the difference, over 49,000, is the instructions
// of one request (set-up, warm-up and exit cancel). Every source of difference between the runs is
// pinned: one thread (`--single-threaded`: no concurrent compiler or GC), fixed random and hash
// seeds, no address randomization (`setarch -R`), builtins at their addresses in the binary.
// Counting starts at a marker call (`Math.hypot`) made once, just before the measured loop.
// Needs valgrind (`apt-get install valgrind`); skipped without it. About 4 minutes on 2 cores.
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const KINDS = ['none', 'key', 'account', 'credits'];
const FEW = 1_000;
const MANY = 50_000;
const WARM = 30_000;

if (process.argv[2] === '--worker') {
  const [, , , kind, count] = process.argv;
  const { keywarden, views } = await import('./charges-setup.mjs');
  // The same warm-up in every process, whichever kind it measures: every kind's code paths are
  // compiled alike before counting starts.
  for (const each of KINDS) for (let i = 0; i < WARM; i++) keywarden.authenticateNow(views[each]);
  const view = views[kind];
  const n = Number(count);
  Math.hypot(3, 4); // the marker: callgrind zeroes its counts here
  for (let i = 0; i < n; i++) {
    const res = keywarden.authenticateNow(view);
    if (res instanceof Promise || !res.ok) throw new Error(`not warm: ${kind}`);
  }
  process.exit(0);
}

const have = (command) => {
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
if (!have('valgrind') || !have('setarch')) {
  console.log('charges-instructions: skipped (needs valgrind and setarch: apt-get install valgrind)');
  process.exit(0);
}

const dir = await mkdtemp(join(tmpdir(), 'kw-callgrind-'));
/** Instructions from the marker to the end of a process running `kind` `n` times. */
async function counted(kind, n) {
  const out = join(dir, `${kind}-${n}.out`);
  await run(
    'setarch',
    [
      '-R',
      'valgrind',
      '--tool=callgrind',
      '--zero-before=Builtins_MathHypot',
      `--callgrind-out-file=${out}`,
      process.execPath,
      '--single-threaded',
      '--random-seed=1',
      '--hash-seed=1',
      '--no-short-builtin-calls',
      import.meta.filename,
      '--worker',
      kind,
      String(n),
    ],
    { maxBuffer: 1 << 24, timeout: 600_000 },
  );
  const text = await readFile(out, 'utf8');
  const total = /^(?:summary|totals): (\d+)/m.exec(text);
  if (!total) throw new Error(`no totals in callgrind's output for ${kind} x ${n}`);
  return Number(total[1]);
}

const perRequest = {};
try {
  for (const kind of KINDS) {
    // Two processes at a time (the machine's two cores).
    const [few, many] = await Promise.all([counted(kind, FEW), counted(kind, MANY)]);
    perRequest[kind] = (many - few) / (MANY - FEW);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
const adds = (kind) => perRequest[kind] - perRequest.none;
const line = (kind, label) =>
  `${label}: ${perRequest[kind].toFixed(0)} instructions a request${kind === 'none' ? '' : `, adds ${adds(kind).toFixed(0)}`}`;
console.log(`instructions of one warm request (callgrind, ${MANY - FEW} requests), memory limit store`);
console.log(line('none', 'key without limits'));
console.log(line('key', 'key rate + quota'));
console.log(line('account', 'key + account rate + quota'));
console.log(line('credits', 'key + account past its quota, on credits'));
console.log(
  `account: ${(adds('account') / adds('key')).toFixed(2)}x what the key's limits add (target 1.3x); credits: ${(adds('credits') / adds('account')).toFixed(2)}x what the account within its quota adds (target 1.2x)`,
);
const results = join(import.meta.dirname, 'results');
await mkdir(results, { recursive: true });
await writeFile(
  join(results, 'charges-instructions.json'),
  JSON.stringify({ requests: MANY - FEW, perRequest }, null, 2),
);
