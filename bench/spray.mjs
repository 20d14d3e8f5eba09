// A botnet's spray against the PostgreSQL store: 10,000 addresses each send 3 well-formed keys
// with random ids (30,000 keys, 500 in flight), while 100 real keys, never seen by this instance,
// are used once each. Counts the store's queries for key records (each `get` and each batched
// `getMany`) with the key manager's default bound on store reads (100 a second) and without it
// (`maxStoreReadsPerSecond: 0`, every miss its own query: what keywarden did before), and checks
// that every real key was accepted. In one process, at the key manager's `verify`.
//
//   node bench/spray.mjs
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startPostgres } from './pg-server.mjs';

const root = join(import.meta.dirname, '..');
const core = await import(join(root, 'packages/core/dist/index.js'));
const { createPostgresKeyStore } = await import(join(root, 'packages/postgres/dist/index.js'));
const ADDRESSES = 10_000;
const PER_ADDRESS = 3;
const IN_FLIGHT = 500;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const randomText = (n) => [...randomBytes(n)].map((b) => ALPHABET[b % 62]).join('');
const hasher = core.createHmacHasher({ pepper: 'p'.repeat(32) });

const pg = await startPostgres();
const rows = [];
try {
  const setup = createPostgresKeyStore({ connectionString: pg.url, listen: false });
  await setup.migrate();
  const maker = core.createKeyManager({ store: setup, hasher });
  const real = [];
  for (let i = 0; i < 200; i++) real.push((await maker.create({ name: `real ${i}` })).key);
  await setup.close();
  for (const [label, perSecond] of [
    ['every miss its own query (before)', 0],
    ['at most 100 reads a second (default)', undefined],
  ]) {
    const batch = real.splice(0, 100);
    rows.push({ label, ...(await spray(perSecond, batch)) });
    const r = rows.at(-1);
    console.log(
      `${label}: ${r.sprayed.toLocaleString('en')} sprayed keys in ${r.seconds} s; ${r.queries.toLocaleString('en')} store queries (${r.queriesPerKey} a sprayed key; ${r.busiestSecond} in the busiest second); real keys accepted ${r.realAccepted}/100, their p99 ${r.realP99Ms} ms`,
    );
  }
  const dir = join(import.meta.dirname, 'results');
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'spray.json'),
    `${JSON.stringify({ addresses: ADDRESSES, perAddress: PER_ADDRESS, inFlight: IN_FLIGHT, rows, node: process.version }, null, 2)}\n`,
  );
  if (rows.some((r) => r.realAccepted !== 100) || rows[1].busiestSecond > 110) {
    console.error('a real key was refused, or the default bound let more than 100 queries a second through');
    process.exitCode = 1;
  }
} finally {
  await pg.stop();
}

/** One spray on a fresh instance (a store and key manager of its own, nothing cached). */
async function spray(perSecond, realKeys) {
  const store = createPostgresKeyStore({ connectionString: pg.url, listen: false });
  const sent = [];
  const query = store.pool.query.bind(store.pool);
  store.pool.query = (text, values) => {
    if (/^SELECT \* FROM keywarden_keys WHERE id/.test(text)) sent.push(performance.now());
    return query(text, values);
  };
  const keys = core.createKeyManager({
    store,
    hasher,
    ...(perSecond === undefined ? {} : { cache: { maxStoreReadsPerSecond: perSecond } }),
  });
  const template = core.parseApiKey(realKeys[0]);
  const jobs = [];
  for (let a = 0; a < ADDRESSES; a++)
    for (let k = 0; k < PER_ADDRESS; k++)
      jobs.push({
        key: core.formatApiKey(template.prefix, randomText(template.id.length), randomText(32)),
        ip: `10.${a >> 8}.${a & 255}.1`,
      });
  // The real keys go in among the sprayed ones, evenly.
  const step = Math.floor(jobs.length / realKeys.length);
  for (const [i, key] of realKeys.entries())
    jobs.splice(i * (step + 1), 0, { key, ip: '192.0.2.7', real: true });
  const realTimes = [];
  let realAccepted = 0;
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      const t = performance.now();
      const result = await keys.verify(job.key, { ip: job.ip });
      if (job.real) {
        realTimes.push(performance.now() - t);
        if (result.ok) realAccepted++;
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const seconds = (performance.now() - started) / 1000;
  await store.close();
  realTimes.sort((a, b) => a - b);
  const sprayed = jobs.length - realKeys.length;
  const queries = sent.length;
  // The busiest second: the most queries sent within any 1,000 ms.
  let busiest = 0;
  for (let i = 0, j = 0; i < sent.length; i++) {
    while (sent[i] - sent[j] >= 1000) j++;
    busiest = Math.max(busiest, i - j + 1);
  }
  return {
    busiestSecond: busiest,
    sprayed,
    seconds: Number(seconds.toFixed(2)),
    queries,

    queriesPerKey: Number((queries / sprayed).toFixed(4)),
    realAccepted,
    realP99Ms: Number(realTimes[Math.floor(realTimes.length * 0.99)].toFixed(1)),
  };
}
