// `pnpm bench`: core micro-benchmarks. Each task runs a batch of operations per sample so that
// tinybench's own per-sample overhead does not hide nanosecond costs; figures are per operation.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createVerifier } from 'fast-jwt';
import { jwtVerify, SignJWT } from 'jose';
import { Bench } from 'tinybench';
import {
  createArgon2Hasher,
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  formatApiKey,
  generateApiKey,
  generateTokenSecret,
  matchPathPattern,
  parseApiKey,
} from '../packages/core/dist/index.js';

const quick = process.argv.includes('--quick');
const time = quick ? 200 : 1000;
const rows = [];

/** Counts every store and hasher call, so the malformed benchmark can prove it made none. */
function counted(store, hasher) {
  const calls = { store: 0, hash: 0 };
  const wrap = (target, counter) =>
    new Proxy(target, {
      get(obj, prop) {
        const value = obj[prop];
        if (typeof value !== 'function') return value;
        return (...args) => {
          calls[counter]++;
          return value.apply(obj, args);
        };
      },
    });
  return { store: wrap(store, 'store'), hasher: wrap(hasher, 'hash'), calls };
}

async function measure(name, batch, fn, note = '') {
  const bench = new Bench({ time, warmupTime: quick ? 50 : 200 });
  bench.add(name, fn);
  await bench.run();
  const { latency } = bench.tasks[0].result;
  const nsPerOp = (latency.mean * 1e6) / batch;
  rows.push({
    benchmark: name,
    'ns/op': nsPerOp < 1e5 ? Number(nsPerOp.toFixed(1)) : Math.round(nsPerOp),
    'ops/s': Math.round(1e9 / nsPerOp),
    'p99 ns/op': Math.round((latency.p99 * 1e6) / batch),
    samples: latency.samplesCount ?? bench.tasks[0].result.latency.samples?.length,
    note,
  });
}

// --- malformed keys: parse alone, and through the whole verifier with counting wrappers
const valid = generateApiKey('kw_live').key;
const malformed = [
  '',
  'not-a-key',
  `${valid.slice(0, -1)}${valid.endsWith('A') ? 'B' : 'A'}`, // bad checksum
  `kw_live_${'a'.repeat(200)}`, // too long
  valid.replace('kw_live', 'kw_prod'), // unknown prefix
  `${valid.slice(0, 20)}-${valid.slice(21)}`, // bad character
  'Bearer abc.def.ghi',
  `kw_live_${'é'.repeat(50)}`,
];
const prefixes = new Set(['kw_live', 'kw_test']);
const BATCH = 1000;
await measure(
  'parseApiKey, malformed (mixed)',
  BATCH,
  () => {
    for (let i = 0; i < BATCH; i++) parseApiKey(malformed[i & 7], prefixes);
  },
  'no store, no hash',
);

const hmacPepper = 'bench-pepper-bench-pepper-bench-pepper';
const c1 = counted(createMemoryKeyStore(), createArgon2Hasher());
const managerForMalformed = createKeyManager({ store: c1.store, hasher: c1.hasher });
const created = await managerForMalformed.create({ name: 'bench' });
c1.calls.store = 0;
c1.calls.hash = 0;
await measure('verify(), malformed (mixed)', BATCH, async () => {
  for (let i = 0; i < BATCH; i++) await managerForMalformed.verify(malformed[i & 7]);
});
rows.at(-1).note = `store calls ${c1.calls.store}, hash calls ${c1.calls.hash}`;
if (c1.calls.store !== 0 || c1.calls.hash !== 0)
  throw new Error('malformed keys reached the store or hasher');

// --- warm verification (cache hit): argon2 is not involved
await managerForMalformed.verify(created.key);
await measure(
  'verify(), warm key (cache hit)',
  100,
  async () => {
    for (let i = 0; i < 100; i++) await managerForMalformed.verify(created.key);
  },
  'keyed digest (SipHash) + LRU + status check + a new info object (the public API)',
);

// --- wrong secret on a warm id is throttled after 10 failures; measure an unknown id instead
const unknownKey = formatApiKey('kw_live', 'ZZZZZZZZZZZZ', 'S'.repeat(32));
await measure(
  'verify(), unknown id (negative cache)',
  100,
  async () => {
    for (let i = 0; i < 100; i++) await managerForMalformed.verify(unknownKey);
  },
  'one store read per 10 s per id',
);

// --- full request authentication: credential extraction, warm key, IP, path and scope checks
const scoped = await managerForMalformed.create({
  name: 'scoped',
  scopes: ['images:read', 'images:write'],
  paths: ['/v3/file-ops/upload/', '/v3/tools/*', '/v3/files/*'],
  ips: ['127.0.0.0/8', '::1'],
});
const keywarden = createKeywarden({ keys: managerForMalformed, requireHttps: false });
const request = {
  method: 'GET',
  url: '/v3/files/my-project/result.png?download=1',
  headers: { authorization: [`Token ${scoped.key}`], accept: ['*/*'], 'user-agent': ['bench'] },
  ip: '127.0.0.1',
  secure: false,
};
const route = { scopes: ['images:read'] };
if (!(await keywarden.authenticate(request, route)).ok) throw new Error('authenticate failed');
await measure(
  'authenticate(), warm key + path + IP + scope',
  100,
  async () => {
    for (let i = 0; i < 100; i++) await keywarden.authenticate(request, route);
  },
  'the whole per-request cost of an API key',
);
// The same key's cost with a rate limit and a monthly quota counted in memory: what limits add.
const limitedKey = await managerForMalformed.create({
  name: 'limited',
  rateLimit: { limit: 1_000_000_000, windowSeconds: 60 },
  quota: { limit: 1_000_000_000_000, period: 'month' },
});
const limitedRequest = { ...request, headers: { 'x-api-key': [limitedKey.key] } };
const plainRequest = {
  ...request,
  headers: { 'x-api-key': [(await managerForMalformed.create({ name: 'plain' })).key] },
};
for (const warm of [limitedRequest, plainRequest])
  if (!(await keywarden.authenticate(warm)).ok) throw new Error('a bench key was refused');
await measure(
  'authenticateNow(), warm key, no limits',
  100,
  () => {
    for (let i = 0; i < 100; i++) keywarden.authenticateNow(plainRequest);
  },
  'the reference for the rows below (usage metering on, the default)',
);
// The same without usage metering: the difference is what metering adds to a request.
const unmetered = createKeywarden({ keys: managerForMalformed, requireHttps: false, usage: false });
await measure(
  'authenticateNow(), warm key, no limits, usage metering off',
  100,
  () => {
    for (let i = 0; i < 100; i++) unmetered.authenticateNow(plainRequest);
  },
  'the row above less this one: what metering adds',
);
await measure(
  'authenticateNow(), warm key + rate limit + quota (memory store)',
  100,
  () => {
    for (let i = 0; i < 100; i++) {
      if (keywarden.authenticateNow(limitedRequest) instanceof Promise) throw new Error('not synchronous');
    }
  },
  'synchronous: counters and headers reused while the window lasts',
);
// Malformed keys cost no store read and no hash, so they are never throttled: each runs the whole check.
const malformedRequest = { ...request, ip: undefined, headers: { 'x-api-key': [malformed[2]] } };
await measure('authenticate(), malformed key, many clients', 100, async () => {
  for (let i = 0; i < 100; i++) await keywarden.authenticate(malformedRequest);
});
// A client over its failure budget (10 wrong secrets on one key id) presenting another guess:
// refused with 429 before any store read or hash.
const scopedId = parseApiKey(scoped.key, prefixes).id;
const throttledRequest = {
  ...request,
  ip: '198.51.100.7',
  headers: { 'x-api-key': [formatApiKey('kw_live', scopedId, 'W'.repeat(32))] },
};
for (let i = 0; i < 10; i++) await keywarden.authenticate(throttledRequest);
const throttledAnswer = await keywarden.authenticate(throttledRequest);
if (throttledAnswer.ok || throttledAnswer.error.status !== 429)
  throw new Error('the client was not throttled');
await measure(
  'authenticate(), throttled client, cold guess',
  100,
  async () => {
    for (let i = 0; i < 100; i++) await keywarden.authenticate(throttledRequest);
  },
  '429 before any store read or hash',
);

// --- access tokens: the library comparison behind the choice of fast-jwt, then keywarden's own path
const jwtSecret = randomBytes(32);
const nowSec = Math.floor(Date.now() / 1000);
const sampleClaims = {
  iss: 'keywarden',
  aud: 'keywarden',
  sub: 'abcdefABCDEF',
  paths: ['/v3/file-ops/upload/', '/v3/tools/*', '/v3/files/*'],
  scope: 'images:read images:write',
  iat: nowSec,
  exp: nowSec + 600,
  jti: 'x'.repeat(22),
};
const sampleToken = await new SignJWT(sampleClaims)
  .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: 'k1' })
  .sign(jwtSecret);
await measure('JWT HS256 verify: jose jwtVerify', 10, async () => {
  for (let i = 0; i < 10; i++) await jwtVerify(sampleToken, jwtSecret, { algorithms: ['HS256'] });
});
const fastVerify = createVerifier({ key: jwtSecret, algorithms: ['HS256'], cache: false });
await measure('JWT HS256 verify: fast-jwt (no cache)', 10, () => {
  for (let i = 0; i < 10; i++) fastVerify(sampleToken);
});
await measure('JWT HS256 verify: node:crypto HMAC + JSON.parse', 10, () => {
  for (let i = 0; i < 10; i++) {
    const d1 = sampleToken.indexOf('.');
    const d2 = sampleToken.indexOf('.', d1 + 1);
    const mac = createHmac('sha256', jwtSecret).update(sampleToken.slice(0, d2)).digest();
    if (!timingSafeEqual(mac, Buffer.from(sampleToken.slice(d2 + 1), 'base64url'))) throw new Error('bad');
    JSON.parse(Buffer.from(sampleToken.slice(0, d1), 'base64url').toString());
    JSON.parse(Buffer.from(sampleToken.slice(d1 + 1, d2), 'base64url').toString());
  }
});

const tokenSecret = generateTokenSecret();
const tokenWarden = createKeywarden({
  keys: managerForMalformed,
  requireHttps: false,
  tokens: { secrets: [{ id: 'k1', secret: tokenSecret }] },
});
const mintedToken = await tokenWarden.mintAccessToken(scoped.record.id, {
  paths: ['/v3/file-ops/upload/', '/v3/files/*'],
  expiresIn: 600,
});
const tokenRequest = {
  ...request,
  headers: { authorization: [`AccessToken ${mintedToken.token}`], accept: ['*/*'] },
};
if (!(await tokenWarden.authenticate(tokenRequest, route)).ok) throw new Error('token authenticate failed');
await measure(
  'authenticate(), access token (warm)',
  100,
  async () => {
    for (let i = 0; i < 100; i++) await tokenWarden.authenticate(tokenRequest, route);
  },
  'verified-token cache + parent key check + path + scope',
);
// The same keyring with a one-entry cache: cycling through 1,000 tokens, every use is a cache miss.
const uncachedWarden = createKeywarden({
  keys: managerForMalformed,
  requireHttps: false,
  tokens: { secrets: [{ id: 'k1', secret: tokenSecret }], cacheSize: 1 },
});
const coldTokens = [];
for (let i = 0; i < 1000; i++) {
  coldTokens.push((await tokenWarden.mintAccessToken(scoped.record.id, { paths: ['/v3/files/*'] })).token);
}
let coldIndex = 0;
await measure(
  'authenticate(), access token (first use)',
  10,
  async () => {
    for (let i = 0; i < 10; i++) {
      const token = coldTokens[coldIndex++ % coldTokens.length];
      await uncachedWarden.authenticate(
        { ...request, headers: { authorization: [`AccessToken ${token}`] } },
        route,
      );
    }
  },
  'pre-checks + fast-jwt signature + claim checks',
);

// --- path matcher worst case: 512-char pattern against an 8 KB path that shares its prefix
const worstPattern = `/${'a/'.repeat(254)}*`;
const worstPath = `/${'a/'.repeat(4095)}`;
await measure(
  'matchPathPattern, worst case (512 B pattern, 8 KB path)',
  10,
  () => {
    for (let i = 0; i < 10; i++) matchPathPattern(worstPattern, worstPath);
  },
  'linear scan; compare the 8x shorter case below',
);
const shortPath = `/${'a/'.repeat(511)}`;
await measure('matchPathPattern, 1 KB path', 10, () => {
  for (let i = 0; i < 10; i++) matchPathPattern(worstPattern, shortPath);
});

// --- cold verification: every sample verifies a key never seen before
async function cold(name, hasher, count) {
  const store = createMemoryKeyStore();
  const manager = createKeyManager({ store, hasher, maxConcurrentHashes: 1 });
  const keys = [];
  for (let i = 0; i < count; i++) keys.push((await manager.create({ name: `cold ${i}` })).key);
  const durations = [];
  for (const key of keys) {
    const start = process.hrtime.bigint();
    const result = await manager.verify(key);
    durations.push(Number(process.hrtime.bigint() - start));
    if (!result.ok) throw new Error(`cold verify failed: ${result.reason}`);
  }
  durations.sort((a, b) => a - b);
  const mean = durations.reduce((a, b) => a + b, 0) / durations.length;
  rows.push({
    benchmark: name,
    'ns/op': Math.round(mean),
    'ops/s': Math.round(1e9 / mean),
    'p99 ns/op': durations[Math.min(durations.length - 1, Math.floor(durations.length * 0.99))],
    samples: durations.length,
    note: `${(mean / 1e6).toFixed(2)} ms/op`,
  });
}
await cold('verify(), cold key, argon2id m=19456 t=2 p=1', createArgon2Hasher(), quick ? 10 : 40);
await cold('verify(), cold key, HMAC-SHA-256', createHmacHasher({ pepper: hmacPepper }), quick ? 100 : 1000);

// Memory per cached verified key, measured in a process of its own (bench/heap.mjs): here, the
// tables and timers of the benchmarks above could be freed in the middle of the measurement.
{
  const { execFileSync } = await import('node:child_process');
  const script = new URL('./heap.mjs', import.meta.url).pathname;
  for (const mode of [null, '--limits', '--accounts']) {
    const args = ['--expose-gc', script, ...(quick ? ['--quick'] : []), ...(mode ? [mode] : [])];
    rows.push(...JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8', timeout: 600_000 })));
  }
}

console.log(`keywarden core benchmarks — node ${process.version}, ${process.platform}/${process.arch}`);
console.table(rows);
const { mkdir, writeFile } = await import('node:fs/promises');
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(new URL('./results/core.json', import.meta.url), JSON.stringify(rows, null, 2));
