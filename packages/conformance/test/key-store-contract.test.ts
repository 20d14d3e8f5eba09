// The key-store contract against every store keywarden ships.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryKeyStore, openFileKeyStore } from '@keywarden/core';
import { createPostgresKeyStore } from '@keywarden/postgres';
import { afterAll, beforeAll } from 'vitest';
import { type PostgresServer, startPostgres } from '../../postgres/test/pg-server.js';
import { runKeyStoreContract } from '../src/key-store-contract.js';

let dir: string;
let pg: PostgresServer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keywarden-contract-'));
  pg = await startPostgres();
  const store = createPostgresKeyStore({ connectionString: pg.url, listen: false });
  await store.migrate();
  await store.close();
}, 60_000);
afterAll(async () => {
  await pg?.destroy();
  await rm(dir, { recursive: true, force: true });
});

runKeyStoreContract('memory', async () => {
  const store = createMemoryKeyStore();
  return { store, reader: async () => store };
});

let files = 0;
runKeyStoreContract('file', async () => {
  const path = join(dir, `keys-${files++}.json`);
  return { store: await openFileKeyStore({ path }), reader: () => openFileKeyStore({ path, watch: false }) };
});

runKeyStoreContract('PostgreSQL', async () => {
  // The store under test listens (account notifications); the second handle need not.
  return {
    store: createPostgresKeyStore({ connectionString: pg.url }),
    reader: async () => createPostgresKeyStore({ connectionString: pg.url, listen: false }),
  };
});
