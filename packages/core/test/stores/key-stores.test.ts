import { readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type KeyRecord, openFileKeyStore } from '../../src/index.js';
import { tempDir } from '../helpers.js';

let n = 0;
function record(overrides: Partial<KeyRecord> = {}): KeyRecord {
  n++;
  return {
    id: `id${String(n).padStart(10, '0')}`,
    name: `key ${n}`,
    environment: 'live',
    prefix: 'kw_live',
    hash: '$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA',
    scopes: ['images:read'],
    paths: ['*'],
    ips: [],
    createdAt: new Date('2026-01-01T00:00:00Z'),
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    rateLimit: { limit: 10, windowSeconds: 60 },
    quota: { limit: 50, period: 'month' },
    metadata: { plan: 'free' },
    ownerId: 'owner-1',
    replacedBy: null,
    lineageId: `id${String(n).padStart(10, '0')}`,
    ...overrides,
  };
}

// The contract every store keeps (insert, get, list, update, delete, copies, touch) runs in the
// conformance package against the memory, file and PostgreSQL stores alike.

describe('file store', () => {
  it('writes JSON of hashed records, mode 0600, and leaves no temp files', async () => {
    const dir = await tempDir();
    const path = join(dir, 'nested', 'keys.json');
    const store = await openFileKeyStore({ path });
    const a = record();
    await store.insert(a);
    const data = JSON.parse(await readFile(path, 'utf8'));
    expect(data.version).toBe(1);
    expect(data.keys[0]).toMatchObject({ id: a.id, hash: a.hash, createdAt: '2026-01-01T00:00:00.000Z' });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(join(dir, 'nested'))).toEqual(['keys.json']);
    await store.close();
  });

  it('never loses a record when many writes race in one process', async () => {
    const path = join(await tempDir(), 'keys.json');
    const store = await openFileKeyStore({ path });
    const records = Array.from({ length: 50 }, () => record());
    await Promise.all(records.map((r) => store.insert(r)));
    await Promise.all(records.slice(0, 25).map((r) => store.update(r.id, { name: `updated ${r.id}` })));
    const reopened = await openFileKeyStore({ path, watch: false });
    const all = await reopened.list();
    expect(all).toHaveLength(50);
    expect(all.filter((r) => r.name.startsWith('updated'))).toHaveLength(25);
    await store.close();
  });

  it('reloads when another process changes the file, and tells subscribers which key', async () => {
    const path = join(await tempDir(), 'keys.json');
    const server = await openFileKeyStore({ path });
    const a = record();
    await server.insert(a);
    const changed = new Promise<string>((done) => server.subscribe((id) => id && done(id)));
    // A second handle, like the CLI in another process, revokes the key.
    const cli = await openFileKeyStore({ path, watch: false });
    await cli.update(a.id, { revokedAt: new Date('2026-03-01T00:00:00Z') });
    expect(await changed).toBe(a.id);
    expect((await server.get(a.id))!.revokedAt?.toISOString()).toBe('2026-03-01T00:00:00.000Z');
    await server.close();
  });

  it('keeps a record another handle wrote before its own write', async () => {
    const path = join(await tempDir(), 'keys.json');
    const one = await openFileKeyStore({ path, watch: false });
    const two = await openFileKeyStore({ path, watch: false });
    await one.insert(record());
    await two.insert(record());
    const reopened = await openFileKeyStore({ path, watch: false });
    expect(await reopened.list()).toHaveLength(2);
  });

  it('reads a record written before lineages existed as its own lineage', async () => {
    const path = join(await tempDir(), 'keys.json');
    const { lineageId: _dropped, ...old } = JSON.parse(JSON.stringify(record()));
    await writeFile(path, JSON.stringify({ version: 1, keys: [old] }));
    const store = await openFileKeyStore({ path, watch: false });
    expect((await store.get(old.id))?.lineageId).toBe(old.id);
  });

  it('refuses to open a corrupt file', async () => {
    const path = join(await tempDir(), 'keys.json');
    await writeFile(path, '{"version":1,"keys":[{"id":"x"}]}');
    await expect(openFileKeyStore({ path })).rejects.toThrow(/record 0/);
    await writeFile(path, 'not json');
    await expect(openFileKeyStore({ path })).rejects.toThrow();
    await writeFile(path, '{"version":3,"keys":[]}');
    await expect(openFileKeyStore({ path })).rejects.toThrow(/version/);
    await writeFile(path, '{"version":2,"keys":[]}');
    await expect(openFileKeyStore({ path })).rejects.toThrow(/"accounts" must be an array/);
    const account = { id: 'acme', plan: 'free', status: 'active', overrides: {}, metadata: {} };
    const dates = { createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' };
    for (const [bad, message] of [
      [{ ...account, ...dates, plan: 'no spaces' }, /account 0: field "plan"/],
      [{ ...account, ...dates, status: 'paused' }, /account 0: field "status"/],
      [
        { ...account, ...dates, overrides: { quota: { limit: 0, period: 'month' } } },
        /field "overrides.quota.limit"/,
      ],
      [{ ...account, createdAt: 'yesterday', updatedAt: dates.updatedAt }, /field "createdAt"/],
      [{ ...account, ...dates, id: 'evil\u202egnp' }, /field "id"/],
      [{ ...account, ...dates, credits: -1 }, /field "credits"/],
      [{ ...account, ...dates, credits: 1.5 }, /field "credits"/],
    ] as const) {
      await writeFile(path, JSON.stringify({ version: 2, keys: [], accounts: [bad] }));
      await expect(openFileKeyStore({ path })).rejects.toThrow(message);
    }
    await writeFile(
      path,
      JSON.stringify({
        version: 2,
        keys: [],
        accounts: [
          { ...account, ...dates },
          { ...account, ...dates },
        ],
      }),
    );
    await expect(openFileKeyStore({ path })).rejects.toThrow(/duplicate id "acme"/);
  });

  it('writes version 1 (keys only, what earlier releases read) until it holds an account, then version 2', async () => {
    const path = join(await tempDir(), 'keys.json');
    const old = record();
    await writeFile(path, JSON.stringify({ version: 1, keys: [old] }));
    const store = await openFileKeyStore({ path });
    await store.insert(record());
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({
      version: 1,
      keys: [{ id: old.id }, {}],
    });
    expect(JSON.parse(await readFile(path, 'utf8')).accounts).toBeUndefined();
    const at = new Date('2026-02-01T00:00:00Z');
    await store.accounts.insert({
      id: 'acme',
      plan: 'pro',
      status: 'active',
      overrides: { maxKeys: 4 },
      credits: 0,
      createdAt: at,
      updatedAt: at,
      metadata: {},
    });
    const data = JSON.parse(await readFile(path, 'utf8'));
    expect(data).toMatchObject({
      version: 2,
      accounts: [{ id: 'acme', plan: 'pro', createdAt: at.toISOString() }],
    });
    expect(data.keys).toHaveLength(2);
    await store.close();
    const reopened = await openFileKeyStore({ path, watch: false });
    expect(await reopened.accounts.get('acme')).toMatchObject({
      plan: 'pro',
      overrides: { maxKeys: 4 },
      createdAt: at,
    });
    expect(await reopened.list()).toHaveLength(2);
    await reopened.accounts.delete('acme');
    expect(JSON.parse(await readFile(path, 'utf8')).version).toBe(1);
  });

  it.each([
    ['a stray character', '{\n  "version": 1,\n  "keys": [}\n', 3, 12],
    ['a missing comma', '{\n  "version": 1\n  "keys": []\n}\n', 3, 3],
    ['a truncated write (points at the unterminated string)', '{"version": 1, "keys": [{"id": "ab', 1, 32],
  ])('names the file, line and column of %s when it cannot open', async (_case, text, line, column) => {
    const path = join(await tempDir(), 'keys.json');
    await writeFile(path, text);
    const error = await openFileKeyStore({ path }).then(
      () => null,
      (e: Error) => e,
    );
    expect(error?.message).toContain(`keys file ${path}: invalid JSON at line ${line}, column ${column}`);
  });

  it('names the file and the record when a record is invalid', async () => {
    const path = join(await tempDir(), 'keys.json');
    await writeFile(
      path,
      JSON.stringify({ version: 1, keys: [{ ...JSON.parse(JSON.stringify(record())) }, { id: 'x' }] }),
    );
    await expect(openFileKeyStore({ path })).rejects.toThrow(`keys file ${path}: record 1: field "name"`);
  });

  it('reports a file that goes bad while serving as a process warning when no onError is given', async () => {
    const path = join(await tempDir(), 'keys.json');
    const store = await openFileKeyStore({ path, watch: false });
    await store.insert(record());
    const warned = new Promise<Error & { code?: string }>((resolve) => process.once('warning', resolve));
    await writeFile(path, '{"version":1,"keys":[');
    expect(await store.reload()).toBe(false);
    const warning = await warned;
    expect(warning.code).toBe('KEYWARDEN_KEYS_FILE');
    expect(warning.message).toContain(`keys file ${path}: invalid JSON at line 1, column 22`);
  });

  it('keeps the last good records when the file goes bad while serving, and refuses to write over it', async () => {
    const path = join(await tempDir(), 'keys.json');
    const errors: Error[] = [];
    const store = await openFileKeyStore({ path, watch: false, onError: (e) => errors.push(e) });
    const a = record();
    await store.insert(a);
    await writeFile(path, '{"version":1,"keys":[{"id":"broken"');
    expect(await store.reload()).toBe(false);
    expect(errors).toHaveLength(1);
    expect((await store.get(a.id))?.id).toBe(a.id);
    await expect(store.insert(record())).rejects.toThrow();
    expect(await readFile(path, 'utf8')).toBe('{"version":1,"keys":[{"id":"broken"');
  });

  it('treats a deleted file as an empty store (fail closed)', async () => {
    const dir = await tempDir();
    const path = join(dir, 'keys.json');
    const store = await openFileKeyStore({ path, watch: false });
    const a = record();
    await store.insert(a);
    const { rm } = await import('node:fs/promises');
    await rm(path);
    expect(await store.reload()).toBe(true);
    expect(await store.get(a.id)).toBeNull();
  });

  it('batches lastUsedAt writes', async () => {
    const path = join(await tempDir(), 'keys.json');
    const store = await openFileKeyStore({ path, watch: false, touchFlushMs: 60_000 });
    const a = record();
    await store.insert(a);
    const before = await readFile(path, 'utf8');
    await store.touch(a.id, new Date('2026-02-02T00:00:00Z'));
    await store.touch(a.id, new Date('2026-02-03T00:00:00Z'));
    expect(await readFile(path, 'utf8')).toBe(before);
    await store.close();
    const data = JSON.parse(await readFile(path, 'utf8'));
    expect(data.keys[0].lastUsedAt).toBe('2026-02-03T00:00:00.000Z');
  });

  it('a background lastUsedAt flush never waits for a held lock: it keeps its updates and tries again', async () => {
    const path = join(await tempDir(), 'keys.json');
    const errors: Error[] = [];
    const store = await openFileKeyStore({
      path,
      watch: false,
      touchFlushMs: 10,
      onError: (error) => errors.push(error),
    });
    const a = record();
    await store.insert(a);
    const lock = `${path}.lock`;
    // Another live process (our own pid stands for it) holds the lock.
    await writeFile(lock, JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now(), token: 'x' }));
    await store.touch(a.id, new Date('2026-02-02T00:00:00Z'));
    await new Promise((resolve) => setTimeout(resolve, 200)); // several flush attempts
    expect(JSON.parse(await readFile(path, 'utf8')).keys[0].lastUsedAt).toBeNull();
    // The store's own queue is not stuck behind the lock: a reload still answers.
    const stuck = new Promise((resolve) => setTimeout(resolve, 1000, 'stuck'));
    expect(await Promise.race([store.reload(), stuck])).toBe(true);
    await store.touch(a.id, new Date('2026-02-01T00:00:00Z')); // older: must not win when kept
    await unlink(lock);
    await expect
      .poll(async () => JSON.parse(await readFile(path, 'utf8')).keys[0].lastUsedAt, { timeout: 5000 })
      .toBe('2026-02-02T00:00:00.000Z');
    expect(errors).toEqual([]);
    await store.close();
  });
});
