// How far PostgreSQL notifications carry key changes: N instances listen (a store each, one
// dedicated connection each), one writer changes keys as fast as 10 parallel updates go, and every
// change's arrival at every instance is timed from the start of its update. Rows for N = 1, 10
// and 40 instances, and the writer alone with nobody listening, so the cost of fan-out shows in
// updates a second and in delivery latency. The listeners share this process (and the machine)
// with the writer: the rows with many of them carry every instance's receiving too.
//
//   node bench/notify.mjs
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startPostgres } from './pg-server.mjs';

const root = join(import.meta.dirname, '..');
const core = await import(join(root, 'packages/core/dist/index.js'));
const { createPostgresKeyStore } = await import(join(root, 'packages/postgres/dist/index.js'));
const UPDATES = 3000;
const PARALLEL = 10;

const pg = await startPostgres();
const rows = [];
try {
  const writer = createPostgresKeyStore({ connectionString: pg.url, listen: false });
  await writer.migrate();
  const maker = core.createKeyManager({
    store: writer,
    hasher: core.createHmacHasher({ pepper: 'p'.repeat(32) }),
  });
  const ids = [];
  for (let i = 0; i < 100; i++) ids.push((await maker.create({ name: `k${i}` })).record.id);
  await run(writer, ids, 0); // warm-up: the first rounds of a fresh server are slower
  for (const listeners of [0, 1, 10, 40]) {
    const row = await run(writer, ids, listeners);
    rows.push(row);
    console.log(
      `${listeners} listening instances: ${row.updatesPerSecond.toLocaleString('en')} updates/s; delivery p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, slowest ${row.maxMs} ms; ${row.delivered}/${row.expected} delivered`,
    );
  }
  await writer.close();
  const dir = join(import.meta.dirname, 'results');
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'notify.json'),
    `${JSON.stringify({ updates: UPDATES, parallel: PARALLEL, rows, node: process.version }, null, 2)}\n`,
  );
} finally {
  await pg.stop();
}

async function run(writer, ids, listeners) {
  // Notifications arrive in commit order: a listener's k-th notification of a key is its k-th update.
  const starts = new Map(ids.map((id) => [id, []]));
  const latencies = [];
  const stores = [];
  let counting = false;
  for (let i = 0; i < listeners; i++) {
    const store = createPostgresKeyStore({ connectionString: pg.url });
    const seen = new Map();
    store.subscribe((id) => {
      if (!counting || id === null) return;
      const k = seen.get(id) ?? 0;
      seen.set(id, k + 1);
      const start = starts.get(id)?.[k];
      if (start !== undefined) latencies.push(performance.now() - start);
    });
    stores.push(store);
  }
  // Give every listener time to connect and LISTEN.
  await new Promise((resolve) => setTimeout(resolve, 500 + listeners * 20));
  counting = true;
  let next = 0;
  const t0 = performance.now();
  const worker = async (lane) => {
    for (let round = 0; next < UPDATES; round++) {
      const n = next++;
      // Each lane has keys of its own, so a key has one update in flight at a time.
      const id = ids[lane * 10 + (round % 10)];
      starts.get(id).push(performance.now());
      await writer.update(id, { name: `u${n}` });
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, (_, lane) => worker(lane)));
  const seconds = (performance.now() - t0) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 1000)); // the last notifications
  for (const store of stores) await store.close();
  latencies.sort((a, b) => a - b);
  const at = (q) =>
    latencies.length
      ? Number(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))].toFixed(1))
      : null;
  return {
    listeners,
    updatesPerSecond: Math.round(UPDATES / seconds),
    expected: UPDATES * listeners,
    delivered: latencies.length,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: latencies.length ? Number(latencies.at(-1).toFixed(1)) : null,
  };
}
