import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { createArgon2Hasher, type Hasher, type KeyStore } from '../src/index.js';

/** A real argon2id hasher with small parameters, so tests stay fast. */
export const fastArgon2 = (): Hasher => createArgon2Hasher({ memoryCost: 1024, timeCost: 1 });

/** Wraps a real hasher and counts calls. */
export function countingHasher(inner: Hasher) {
  const calls = { hash: 0, verify: 0 };
  const hasher: Hasher = {
    id: inner.id,
    hash: (key) => {
      calls.hash++;
      return inner.hash(key);
    },
    verify: (stored, key) => {
      calls.verify++;
      return inner.verify(stored, key);
    },
  };
  return { hasher, calls };
}

type Method = 'get' | 'list' | 'insert' | 'update' | 'delete' | 'touch';

/** Wraps a real store and counts calls; `failing` makes every call reject, like a store that is down. */
export function countingStore(inner: KeyStore) {
  const calls: Record<Method, number> = { get: 0, list: 0, insert: 0, update: 0, delete: 0, touch: 0 };
  const state = { failing: false };
  const wrap =
    <M extends Method>(method: M) =>
    (...args: Parameters<KeyStore[M]>) => {
      calls[method]++;
      if (state.failing) return Promise.reject(new Error('store is down'));
      return (inner[method] as (...a: unknown[]) => Promise<unknown>)(...args);
    };
  const store: KeyStore = {
    get: wrap('get') as KeyStore['get'],
    list: wrap('list') as KeyStore['list'],
    insert: wrap('insert') as KeyStore['insert'],
    update: wrap('update') as KeyStore['update'],
    delete: wrap('delete') as KeyStore['delete'],
    touch: wrap('touch') as KeyStore['touch'],
  };
  if (inner.subscribe) store.subscribe = inner.subscribe.bind(inner);
  return { store, calls, state };
}

/** A clock tests move by hand. */
export function frozenClock(start = Date.UTC(2026, 0, 15, 12, 0, 0)) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
    set(ms: number) {
      t = ms;
    },
  };
}

/** A fresh temp folder, removed after the test. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'keywarden-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
