// Adversarial part of `pnpm bench`, in process (no HTTP): what an attacker's traffic does to memory
// and to valid users' latency, and what a burst of first uses costs.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  API_KEY_PARTS,
  BASE62_ALPHABET,
  createArgon2Hasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  formatApiKey,
} from '../packages/core/dist/index.js';

const quick = process.argv.includes('--quick');
const SPRAY = quick ? 100_000 : 1_000_000;
const gc = globalThis.gc ?? (() => {});
const mb = (bytes) => Math.round((bytes / 1024 / 1024) * 10) / 10;
const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
};

function counted(store, hasher) {
  const calls = { get: 0, verify: 0 };
  return {
    calls,
    store: {
      ...store,
      get: (id) => {
        calls.get++;
        return store.get(id);
      },
    },
    hasher: {
      id: hasher.id,
      hash: (k) => hasher.hash(k),
      verify: (h, k) => {
        calls.verify++;
        return hasher.verify(h, k);
      },
    },
  };
}

/** The n-th well-formed key nobody holds: a fresh id, a right checksum. */
function sprayKey(n) {
  let id = '';
  for (let rest = n, i = 0; i < API_KEY_PARTS.id; i++) {
    id = BASE62_ALPHABET[rest % 62] + id;
    rest = Math.floor(rest / 62);
  }
  return formatApiKey('kw_live', id, 'S'.repeat(API_KEY_PARTS.secret));
}

// --- 1. spray: unknown well-formed keys, with valid traffic interleaved
const base = createMemoryKeyStore();
const spy = counted(base, createArgon2Hasher());
const keys = createKeyManager({ store: spy.store, hasher: spy.hasher });
const keywarden = createKeywarden({ keys, requireHttps: false });
const { key } = await keys.create({ name: 'valid', paths: ['/v3/files/*'] });
const request = (k) => ({ method: 'GET', url: '/v3/files/a.png', headers: ['X-Api-Key', k] });
const sprayRequest = (n) => ({
  ...request(sprayKey(n)),
  ip: `2001:${(n % 65_521).toString(16)}:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}::1`,
});
const valid = request(key);
await keywarden.authenticate(valid);
const timeValid = async () => {
  const t = process.hrtime.bigint();
  const result = keywarden.authenticateNow(valid);
  const r = result instanceof Promise ? await result : result;
  if (!r.ok) throw new Error('valid key refused');
  return Number(process.hrtime.bigint() - t);
};
const quiet = [];
for (let i = 0; i < 50_000; i++) quiet.push(await timeValid());
/**
 * Memory still held: several full collections with pauses between them, so that V8 gives back the
 * young generation and old-space pages it grew for the spray's allocation rate (one gc() right
 * after the spray left 30-40 MB of such committed-but-free heap in RSS; heapUsed was unchanged).
 */
async function settledMemory() {
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return process.memoryUsage();
}
const before = await settledMemory();
const underSpray = [];
const storeReadsBefore = spy.calls.get;
const started = Date.now();
for (let n = 0; n < SPRAY; n++) {
  // Each from its own address, spread over many /32s: the failure budgets see a new client every
  // time (the worst case for their tables), not one client they would stop after 30.
  const result = keywarden.authenticateNow(sprayRequest(n + 1));
  if (result instanceof Promise) await result;
  if (n % 20 === 0) underSpray.push(await timeValid());
}
const sprayMs = Date.now() - started;
const after = await settledMemory();
const spray = {
  keys: SPRAY,
  seconds: sprayMs / 1000,
  perSecond: Math.round(SPRAY / (sprayMs / 1000)),
  heapGrowthMB: mb(after.heapUsed - before.heapUsed),
  rssGrowthMB: mb(after.rss - before.rss),
  storeReads: spy.calls.get - storeReadsBefore,
  hashVerifies: spy.calls.verify,
  validP99QuietNs: percentile(quiet, 0.99),
  validP99UnderSprayNs: percentile(underSpray, 0.99),
};
spray.p99Ratio = Math.round((spray.validP99UnderSprayNs / spray.validP99QuietNs) * 100) / 100;

// --- 2. cold-key burst: 100 new keys, each used by 10 parallel first requests
const burstSpy = counted(createMemoryKeyStore(), createArgon2Hasher());
const burstKeys = createKeyManager({ store: burstSpy.store, hasher: burstSpy.hasher });
const burstWarden = createKeywarden({ keys: burstKeys, requireHttps: false });
const fresh = [];
for (let i = 0; i < 100; i++) fresh.push((await burstKeys.create({ name: `cold ${i}` })).key);
burstSpy.calls.get = 0;
burstSpy.calls.verify = 0;
const burstStart = process.hrtime.bigint();
const latencies = await Promise.all(
  fresh.flatMap((k) =>
    Array.from({ length: 10 }, async () => {
      const t = process.hrtime.bigint();
      const r = await burstWarden.authenticate(request(k));
      if (!r.ok) throw new Error(`cold key refused: ${r.error.code}`);
      return Number(process.hrtime.bigint() - t) / 1e6;
    }),
  ),
);
const burst = {
  keys: 100,
  requests: 1000,
  storeReads: burstSpy.calls.get,
  hashVerifies: burstSpy.calls.verify,
  totalMs: Math.round(Number(process.hrtime.bigint() - burstStart) / 1e6),
  p50Ms: Math.round(percentile(latencies, 0.5) * 10) / 10,
  p99Ms: Math.round(percentile(latencies, 0.99) * 10) / 10,
};

console.log('Spray of unknown well-formed keys:');
console.table([spray]);
console.log('Cold-key burst (argon2id m=19456 t=2 p=1, 4 concurrent hashes):');
console.table([burst]);
await mkdir(join(import.meta.dirname, 'results'), { recursive: true });
await writeFile(
  join(import.meta.dirname, 'results', 'adversarial.json'),
  JSON.stringify({ spray, burst }, null, 2),
);
