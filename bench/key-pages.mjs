// Listing that scales: 1,000,000 keys in PostgreSQL (10,000 owners of 90 keys each, and one owner
// of 100,000), then the time of a first page, a page deep in the list (after a cursor), an owner's
// pages and the count of an owner's active keys, each the median and the slowest of 30 calls;
// the query plans of what the store sends (an index scan, never a sequential one); and the heap of a process that streams
// all 1,000,000 through `keys.listAll`, which holds one page at a time.
//
//   node --expose-gc bench/key-pages.mjs [--keys=1000000]
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startPostgres } from './pg-server.mjs';

const root = join(import.meta.dirname, '..');
const core = await import(join(root, 'packages/core/dist/index.js'));
const { createPostgresKeyStore } = await import(join(root, 'packages/postgres/dist/index.js'));
const total = Number(process.argv.find((a) => a.startsWith('--keys='))?.slice(7) ?? 1_000_000);
const ms = (t) => Number(t.toFixed(2));

const pg = await startPostgres();
const store = createPostgresKeyStore({ connectionString: pg.url, listen: false });
try {
  await store.migrate();
  const keys = core.createKeyManager({ store, hasher: core.createHmacHasher({ pepper: 'p'.repeat(32) }) });
  const template = (await keys.create({ name: 'template', ownerId: 'acct_0' })).record.id;
  const started = performance.now();
  await fill(template);
  const filled = performance.now() - started;
  console.log(`${total.toLocaleString('en')} keys inserted in ${(filled / 1000).toFixed(1)} s`);
  const middle = (
    await store.pool.query('SELECT id FROM keywarden_keys ORDER BY created_at, id OFFSET $1 LIMIT 1', [
      Math.floor(total / 2),
    ])
  ).rows[0].id;
  const bigMiddle = (
    await store.pool.query(
      "SELECT id FROM keywarden_keys WHERE owner_id = 'big' ORDER BY created_at, id OFFSET $1 LIMIT 1",
      [Math.floor(total / 20)],
    )
  ).rows[0].id;
  const now = new Date();
  const rows = {
    'first page of 100': await timed(() => keys.list({ limit: 100 })),
    'page of 100 after a cursor halfway': await timed(() => keys.list({ limit: 100, after: middle })),
    'first page of 100 of a 100,000-key owner': await timed(() => keys.list({ ownerId: 'big', limit: 100 })),
    'page of 100 after a cursor halfway through that owner': await timed(() =>
      keys.list({ ownerId: 'big', limit: 100, after: bigMiddle }),
    ),
    "count of a 90-key owner's active keys": await timed(() =>
      keys.count({ ownerId: 'acct_77', activeAt: now }),
    ),
    "count of a 100,000-key owner's active keys": await timed(() =>
      keys.count({ ownerId: 'big', activeAt: now }),
    ),
  };
  for (const [name, row] of Object.entries(rows))
    console.log(`${name}: median ${row.median} ms, slowest ${row.max} ms`);
  const ownerMiddle = (
    await store.pool.query(
      "SELECT id FROM keywarden_keys WHERE owner_id = 'acct_77' ORDER BY created_at, id OFFSET 4 LIMIT 1",
    )
  ).rows[0].id;
  const plans = await explain(keys, middle, ownerMiddle);
  for (const [name, plan] of Object.entries(plans)) console.log(`plan, ${name}: ${plan}`);
  const heap = await streamAll(keys);
  console.log(
    `listAll of ${heap.keys.toLocaleString('en')} keys: ${heap.seconds} s; heap before ${heap.beforeMb} MB, highest after a collection ${heap.peakMb} MB`,
  );
  const out = {
    keys: total,
    fillSeconds: ms(filled / 1000),
    rows,
    plans,
    stream: heap,
    node: process.version,
  };
  const dir = join(import.meta.dirname, 'results');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'key-pages.json'), `${JSON.stringify(out, null, 2)}\n`);
  const failed = Object.entries(rows).filter(([name, row]) => name.startsWith('first') && row.median >= 50);
  if (Object.values(plans).some((plan) => /Seq Scan/.test(plan)) || failed.length > 0) {
    console.error('a page read the table, or a first page took 50 ms or more');
    process.exitCode = 1;
  }
} finally {
  await store.close();
  await pg.stop();
}

/** Copies the template row `total - 1` times with new ids, times and owners, in one statement. */
async function fill(template) {
  // A handle of its own: one statement writes a million rows, past the store's default timeout.
  const filler = createPostgresKeyStore({ connectionString: pg.url, listen: false, timeoutMs: 900_000 });
  try {
    await copyRows(filler.pool, template);
  } finally {
    await filler.close();
  }
}

async function copyRows(pool, template) {
  const { rows } = await pool.query(
    "SELECT column_name FROM information_schema.columns WHERE table_name = 'keywarden_keys' ORDER BY ordinal_position",
  );
  const columns = rows.map((r) => r.column_name);
  const made = {
    id: "'b' || lpad(g::text, 11, '0')",
    lineage_id: "'b' || lpad(g::text, 11, '0')",
    created_at: "timestamptz '2025-01-01' + g * interval '1 second'",
    owner_id: "CASE WHEN g % 10 = 0 THEN 'big' ELSE 'acct_' || (g % 10000) END",
  };
  const select = columns.map((c) => made[c] ?? `t.${c}`).join(', ');
  // The change trigger would queue a notification a row; nobody listens here.
  await pool.query('ALTER TABLE keywarden_keys DISABLE TRIGGER keywarden_keys_notify');
  await pool.query(
    `INSERT INTO keywarden_keys (${columns.join(', ')}) SELECT ${select} FROM keywarden_keys t, generate_series(1, $2) g WHERE t.id = $1`,
    [template, total - 1],
  );
  await pool.query('ALTER TABLE keywarden_keys ENABLE TRIGGER keywarden_keys_notify');
  await pool.query('ANALYZE keywarden_keys');
}

async function timed(call) {
  await call(); // a first call plans the statement
  const times = [];
  for (let i = 0; i < 30; i++) {
    const t = performance.now();
    await call();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { median: ms(times[15]), max: ms(times.at(-1)) };
}

/** The plan of the query the store sends for each kind of call (captured, then explained). */
async function explain(keys, middle, ownerMiddle) {
  const pool = store.pool;
  const query = pool.query.bind(pool);
  const planOf = async (call) => {
    const sent = [];
    pool.query = (text, values) => {
      sent.push([text, values]);
      return query(text, values);
    };
    try {
      await call();
    } finally {
      pool.query = query;
    }
    const [text, values] = sent[0];
    return (await query(`EXPLAIN ${text}`, values)).rows.map((r) => r['QUERY PLAN'].trim()).join(' | ');
  };
  return {
    'first page': await planOf(() => keys.list({ limit: 100 })),
    'page after a cursor': await planOf(() => keys.list({ limit: 100, after: middle })),
    "a 90-key owner's page after a cursor": await planOf(() =>
      keys.list({ ownerId: 'acct_77', limit: 100, after: ownerMiddle }),
    ),
    "a 100,000-key owner's first page": await planOf(() => keys.list({ ownerId: 'big', limit: 100 })),
    "an owner's active count": await planOf(() => keys.count({ ownerId: 'acct_77', activeAt: new Date() })),
  };
}

/** Streams every key, sampling the heap after each page's worth. */
async function streamAll(keys) {
  globalThis.gc?.();
  const before = process.memoryUsage().heapUsed;
  let peak = before;
  let n = 0;
  const t = performance.now();
  for await (const _ of keys.listAll({ pageSize: 1000 })) {
    // What stays reachable, every 100 pages: garbage between collections is not what a page costs.
    if (++n % 100_000 === 0) {
      globalThis.gc?.();
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    }
  }
  const mb = (b) => Number((b / 2 ** 20).toFixed(1));
  return {
    keys: n,
    seconds: Number(((performance.now() - t) / 1000).toFixed(1)),
    beforeMb: mb(before),
    peakMb: mb(peak),
  };
}
