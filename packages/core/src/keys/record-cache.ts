// Key records in memory, one {@link CachedKey} per id: a bounded LRU trusted for `recordTtlMs`, one
// store read per id at a time (single-flight), and a generation counter so that a read which
// started before an invalidation never caches its stale answer after it. The verifier reads
// through it on every request; the lifecycle invalidates it after every change, and so do stores
// through `subscribe`. An invalidated entry is kept, only no longer trusted: the next read of it
// goes to the store, and a record that comes back with the same hash keeps its verified state, so
// that a store's "reload everything" does not cost a hash per active key.
import { LRUCache } from 'lru-cache';
import type { KeyStore } from '../stores/key-store.js';
import { CachedKey, createProfiles } from './cached-key.js';
import { createStoreReader } from './store-reader.js';

/** A record read from the store: its cache entry, and its hash for the cold path (not kept). */
export interface LoadedRecord {
  entry: CachedKey;
  hash: string;
}

export interface RecordCache {
  /** The cached entry while fresh (the synchronous warm path), else undefined. */
  fresh(id: string, now: number): CachedKey | undefined;
  /** The cached entry, fresh or not (for its verification state). */
  peek(id: string): CachedKey | undefined;
  /** The record read from the store (one read per id at a time); null when the id does not exist; rejects when the store fails. */
  load(id: string): Promise<LoadedRecord | null>;
  /** Stops trusting one id, or every id for null; bumps the generation. */
  invalidate(id: string | null): void;
  /** Bumped by every invalidation: something that started before a change compares it after. */
  readonly generation: number;
  /** `now` relative to the cache's base: what entries' `...Rel` times are measured in. */
  rel(now: number): number;
  /** The epoch time of a relative one. */
  abs(rel: number): number;
}

/** `untilRel` of an entry no longer trusted (a small integer, so the field stays unboxed). */
const STALE = -(2 ** 31) + 1;
const SMALL = 2 ** 30;

export function createRecordCache(
  store: KeyStore,
  options: { maxKeys: number; recordTtlMs: number; now: () => number; readsPerSecond: number },
): RecordCache {
  const { maxKeys, recordTtlMs, now } = options;
  const read = createStoreReader(store, options.readsPerSecond);
  const base = now();
  // `| 0` makes the difference a small integer while it fits in 31 bits (about 24 days): a plain
  // difference of two epoch times is a boxed number in V8 even when small (16 bytes per field).
  const rel = (t: number) => {
    const ms = t - base;
    return ms < SMALL && ms > -SMALL && ms === Math.floor(ms) ? ms | 0 : ms;
  };
  const records = new LRUCache<string, CachedKey>({ max: maxKeys });
  const flights = new Map<string, Promise<LoadedRecord | null>>();
  const profileOf = createProfiles();
  let generation = 0;

  function load(id: string): Promise<LoadedRecord | null> {
    let flight = flights.get(id);
    if (!flight) {
      const startedAt = generation;
      const settle = () => {
        if (flights.get(id) === flight) flights.delete(id);
      };
      flight = read(id).then(
        (record) => {
          settle();
          if (!record) {
            if (startedAt === generation) records.delete(id);
            return null;
          }
          const entry = new CachedKey(record, profileOf(record), rel(now()) + recordTtlMs);
          const previous = records.peek(id);
          // The verified plaintext still matches a record with the same hash; the last touch holds.
          if (previous !== undefined) entry.inherit(previous);
          if (startedAt === generation) records.set(id, entry);
          else entry.untilRel = STALE; // read before a change: answers this caller only
          return { entry, hash: record.hash };
        },
        (error: unknown) => {
          settle();
          throw error;
        },
      );
      flights.set(id, flight);
    }
    return flight;
  }

  return {
    fresh(id, t) {
      const entry = records.get(id);
      return entry !== undefined && entry.untilRel > t - base && entry.untilRel !== STALE ? entry : undefined;
    },
    peek: (id) => records.peek(id),
    load,
    invalidate(id) {
      generation++;
      if (id === null) {
        for (const entry of records.values()) entry.untilRel = STALE;
        flights.clear();
      } else {
        const entry = records.peek(id);
        if (entry !== undefined) entry.untilRel = STALE;
        flights.delete(id);
      }
    },
    get generation() {
      return generation;
    },
    rel,
    abs: (relative) => relative + base,
  };
}
