// `node bench/deploy-storm.mjs [--quick]`: the deploy storm. N active keys, each used once by
// parallel clients right after a restart (a key manager with an empty cache over the same store),
// while other clients keep using keys verified before it. Per hasher (HMAC, argon2id at its
// defaults) and N (1,000 and 10,000; --quick: 1,000 only): the time until every first request is
// served, the p99 of those first requests, and the p99 of the warm requests during the storm
// against the same warm requests on a quiet server. Targets: HMAC serves 10,000 within 2 s on one
// core; warm p99 during an argon2 storm within 2x of quiet.
//
// In one process, at keywarden's own interface (`authenticate`): what a server's auth layer does
// for these requests, without HTTP parsing around it; 100 clients send the first requests (each
// sends its next when the last was answered), and one warm client sends a request every
// millisecond, each timed from when it was due, so a stalled event loop shows in its latency.
// `HASHES=n`: the restarted key manager's maxConcurrentHashes (default 4): fewer argon2 threads
// leave the main thread more of a small machine, and make the storm longer.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const core = await import(join(root, 'packages/core/dist/index.js'));
const quick = process.argv.includes('--quick');
const SIZES = quick ? [1000] : [1000, 10_000];
const CLIENTS = 100;
const WARM_KEYS = 20;

const hashers = {
  'hmac-sha256': () => core.createHmacHasher({ pepper: 'p'.repeat(32) }),
  argon2id: () => core.createArgon2Hasher(),
};

const request = (key) => ({
  method: 'GET',
  url: '/v3/files/a.png',
  headers: { 'x-api-key': key },
  ip: '10.0.0.1',
});
const p99 = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))];
};

/** Makes `count` keys in `store` with `hasher`, many at once (argon2 runs on libuv's threads). */
async function makeKeys(store, hasher, count) {
  const keys = core.createKeyManager({ store, hasher, failureThrottle: false });
  const made = [];
  for (let i = 0; i < count; i += 200) {
    const batch = Array.from({ length: Math.min(200, count - i) }, (_, j) =>
      keys.create({ name: `k${i + j}` }),
    );
    for (const { key } of await Promise.all(batch)) made.push(key);
  }
  return made;
}

/** A warm client: one request a millisecond until `stop()`, each timed from when it was due. */
function warmClient(keywarden, keys) {
  const latencies = [];
  let running = true;
  let i = 0;
  const done = (async () => {
    let due = performance.now();
    while (running) {
      due += 1;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const result = await keywarden.authenticate(request(keys[i++ % keys.length]));
      if (!result.ok) throw new Error(`a warm key was refused: ${result.error.code}`);
      latencies.push(performance.now() - due);
    }
  })();
  return {
    latencies,
    async stop() {
      running = false;
      await done;
    },
  };
}

async function storm(hasherName, size) {
  const store = core.createMemoryKeyStore();
  const hasher = hashers[hasherName]();
  const cold = await makeKeys(store, hasher, size);
  const warm = await makeKeys(store, hasher, WARM_KEYS);
  // The restart: a new key manager (empty caches) over the same store.
  const keys = core.createKeyManager({
    store,
    hasher: hashers[hasherName](),
    failureThrottle: false,
    ...(process.env.HASHES ? { maxConcurrentHashes: Number(process.env.HASHES) } : {}),
  });
  const keywarden = core.createKeywarden({ keys, requireHttps: false, usage: false });
  for (const key of warm) if (!(await keywarden.authenticate(request(key))).ok) throw new Error('warm-up');
  const quiet = warmClient(keywarden, warm);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await quiet.stop();
  const during = warmClient(keywarden, warm);
  const first = [];
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < cold.length) {
        // Each request arrives as its own event (as from a socket): a client that answered at once
        // would otherwise chain the next in the same turn, and no timer could run meanwhile.
        await new Promise((resolve) => setImmediate(resolve));
        if (next >= cold.length) break;
        const key = cold[next++];
        const t0 = performance.now();
        const result = await keywarden.authenticate(request(key));
        if (!result.ok) throw new Error(`a first request was refused: ${result.error.code}`);
        first.push(performance.now() - t0);
      }
    }),
  );
  const served = performance.now() - started;
  await during.stop();
  keys.close();
  return {
    hasher: hasherName,
    keys: size,
    servedMs: served,
    firstP99Ms: p99(first),
    warmQuietP99Ms: p99(quiet.latencies),
    warmStormP99Ms: p99(during.latencies),
  };
}

const rows = [];
for (const hasherName of Object.keys(hashers))
  for (const size of SIZES) {
    const row = await storm(hasherName, size);
    rows.push(row);
    console.log(
      `${row.hasher}, ${row.keys.toLocaleString('en')} keys: all served in ${row.servedMs.toFixed(0)} ms, ` +
        `first requests p99 ${row.firstP99Ms.toFixed(1)} ms; warm p99 ${row.warmStormP99Ms.toFixed(2)} ms during, ` +
        `${row.warmQuietP99Ms.toFixed(2)} ms quiet (${(row.warmStormP99Ms / row.warmQuietP99Ms).toFixed(2)}x)`,
    );
  }
const results = join(import.meta.dirname, 'results');
await mkdir(results, { recursive: true });
await writeFile(join(results, 'deploy-storm.json'), JSON.stringify({ clients: CLIENTS, rows }, null, 2));
