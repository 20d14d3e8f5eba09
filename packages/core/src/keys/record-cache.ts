// Key records in memory: a bounded LRU trusted for `recordTtlMs`, one store read per id at a time
// (single-flight), and a generation counter so that a read which started before an invalidation
// never caches its stale answer after it. The verifier reads through it on every request; the
// lifecycle invalidates it after every change, and so do stores through `subscribe`.
import { LRUCache } from 'lru-cache';
import type { KeyStore } from '../stores/key-store.js';
import type { VerifyApiKeyResult } from './key-manager.js';
import { type ApiKeyInfo, type KeyRecord, toApiKeyInfo } from './key-record.js';

/** A cached record with what the warm path needs, made once per read. */
export interface RecordEntry {
  /** The record without its hash (what callers see); the hash is kept beside it. */
  info: ApiKeyInfo;
  hash: string;
  until: number;
  /** The success result for this record, made once: the warm path returns it without allocating. */
  accepted: VerifyApiKeyResult;
  /** Until when `lastUsedAt` needs no write (a fast check before the `touched` LRU). */
  touchedUntil: number;
}

export interface RecordCache {
  /** The cached entry while fresh (the synchronous warm path), else undefined. */
  fresh(id: string, now: number): RecordEntry | undefined;
  /** The entry read from the store (one read per id at a time); null when the id does not exist; rejects when the store fails. */
  load(id: string): Promise<RecordEntry | null>;
  /** Drops one id, or every id for null; bumps the generation. */
  invalidate(id: string | null): void;
  /** Bumped by every invalidation: something that started before a change compares it after. */
  readonly generation: number;
}

function freezeInfo(info: ApiKeyInfo): ApiKeyInfo {
  Object.freeze(info.scopes);
  Object.freeze(info.paths);
  Object.freeze(info.ips);
  return Object.freeze(info);
}

export function createRecordCache(
  store: KeyStore,
  options: { maxKeys: number; recordTtlMs: number; now: () => number },
): RecordCache {
  const { maxKeys, recordTtlMs, now } = options;
  const records = new LRUCache<string, RecordEntry>({ max: maxKeys });
  const flights = new Map<string, Promise<RecordEntry | null>>();
  let generation = 0;

  function entryOf(record: KeyRecord): RecordEntry {
    // Only the info and the hash: keeping the record too held a second object of every field
    // per cached key (about 170 bytes).
    const info = freezeInfo(toApiKeyInfo(record));
    return {
      info,
      hash: record.hash,
      until: now() + recordTtlMs,
      accepted: Object.freeze({ ok: true, key: info }),
      touchedUntil: 0,
    };
  }

  function load(id: string): Promise<RecordEntry | null> {
    let flight = flights.get(id);
    if (!flight) {
      const startedAt = generation;
      const settle = () => {
        if (flights.get(id) === flight) flights.delete(id);
      };
      flight = store.get(id).then(
        (record) => {
          settle();
          if (!record) return null;
          const entry = entryOf(record);
          if (startedAt === generation) records.set(id, entry);
          return entry;
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
      return entry !== undefined && entry.until > t ? entry : undefined;
    },
    load,
    invalidate(id) {
      generation++;
      if (id === null) {
        records.clear();
        flights.clear();
      } else {
        records.delete(id);
        flights.delete(id);
      }
    },
    get generation() {
      return generation;
    },
  };
}
