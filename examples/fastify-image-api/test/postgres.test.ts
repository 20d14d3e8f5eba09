// With DATABASE_URL, the example keeps its keys in PostgreSQL (migrated on start).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type PostgresServer, startPostgres } from '../../../packages/postgres/test/pg-server.js';
import { buildApp } from '../src/app.js';

let server: PostgresServer;
let dir: string;
beforeAll(async () => {
  server = await startPostgres();
  dir = await mkdtemp(join(tmpdir(), 'keywarden-example-pg-'));
}, 60_000);
afterAll(async () => {
  await server.destroy();
  await rm(dir, { recursive: true, force: true });
});

it('stores the demo key in PostgreSQL and authenticates against it', async () => {
  const { app, example } = await buildApp({
    databaseUrl: server.url,
    keysFile: join(dir, 'keys.json'),
    storageDir: join(dir, 's'),
  });
  try {
    const minted = await app.inject({
      method: 'POST',
      url: '/v3/auth/access-token/',
      headers: { authorization: `Token ${example.demoKey}` },
      payload: '{}',
    });
    expect(minted.statusCode).toBe(200);
    const pool = new pg.Pool({ connectionString: server.url });
    const { rows } = await pool.query('SELECT id, hash FROM keywarden_keys');
    await pool.end();
    expect(rows.map((r) => r.id)).toContain(example.demoKey.slice(8, 20));
    expect(JSON.stringify(rows)).not.toContain(example.demoKey);
  } finally {
    await app.close();
  }
});
