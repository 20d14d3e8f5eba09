// Heap per cached verified key (run by bench/run.mjs in a process of its own): prints its rows as
// JSON. Run alone: node --expose-gc bench/heap.mjs [--quick] [--limits | --accounts]
import {
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
} from '../packages/core/dist/index.js';

const quick = process.argv.includes('--quick');
const hmacPepper = 'p'.repeat(32);
const rows = [];

// Memory per cached verified key: N keys (a scope and a path pattern each, with or without a rate
// limit) verified through one manager; heap after a full GC, before and after. Everything
// measured stays referenced to the end, or V8 would drop it and the difference would lie.
// What is measured is the caches: the keys are used once through another manager first, so the
// memory store's own records already hold their lastUsedAt; usage metering is off (its history per
// key and day is data, kept in the limit store's backend, not a cache).
// `accounts`: each key belongs to an account of its own, on a plan with a rate limit (and the key
// has none): the key's cache entry, the account's (its record and view) and its counter.
async function heapPerKey(name, mode) {
  const limits = mode === 'limits';
  const accounts = mode === 'accounts';
  const count = quick ? 5_000 : 50_000;
  const store = createMemoryKeyStore();
  const hasher = createHmacHasher({ pepper: hmacPepper });
  const creator = createKeyManager({ store, hasher });
  const manager = createKeyManager({ store, hasher, failureThrottle: false, cache: { maxKeys: count } });
  const server = createKeywarden({
    keys: manager,
    requireHttps: false,
    usage: false,
    ...(accounts ? { plans: { team: { rateLimits: [{ limit: 100, windowSeconds: 3600 }] } } } : {}),
  });
  const requests = [];
  for (let i = 0; i < count; i++) {
    if (accounts) await creator.accounts.create({ id: `account-${i}`, plan: 'team' });
    const { key } = await creator.create({
      name: `cached ${i}`,
      scopes: ['images:read'],
      paths: ['/v3/files/*'],
      ...(limits ? { rateLimit: { limit: 100, windowSeconds: 3600 } } : {}),
      ...(accounts ? { ownerId: `account-${i}` } : {}),
    });
    requests.push({ method: 'GET', url: '/v3/files/a.png', headers: { 'x-api-key': [key] }, secure: false });
  }
  const first = createKeyManager({ store, hasher, failureThrottle: false, cache: { maxKeys: 10 } });
  for (const { headers } of requests)
    if (!(await first.verify(headers['x-api-key'][0])).ok) throw new Error('refused');
  const heap = () => {
    for (let i = 0; i < 3; i++) globalThis.gc();
    return process.memoryUsage().heapUsed;
  };
  const before = heap();
  for (const request of requests) if (!(await server.authenticate(request)).ok) throw new Error('refused');
  const after = heap();
  if (requests.length !== count || !store || !creator || !manager || !server) throw new Error('unreachable');
  const bytes = Math.round((after - before) / count);
  rows.push({
    benchmark: name,
    'ns/op': null,
    'ops/s': null,
    'p99 ns/op': null,
    samples: count,
    note: `${bytes} bytes of heap per key`,
  });
}
// One measurement per process: a manager of an earlier measurement stays reachable from its
// timers for a while, and its release in the middle of a later one would falsify that one.
if (process.argv.includes('--limits'))
  await heapPerKey('heap per cached verified key, with a rate limit counter', 'limits');
else if (process.argv.includes('--accounts'))
  await heapPerKey(
    'heap per cached verified key of its own account (the account: a plan with a rate limit)',
    'accounts',
  );
else await heapPerKey('heap per cached verified key (HMAC, memory store)', 'none');

console.log(JSON.stringify(rows));
