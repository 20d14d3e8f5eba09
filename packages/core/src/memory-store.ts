import { cloneRecord, type KeyRecord } from './record.js';
import { DuplicateKeyIdError, type KeyListFilter, type KeyStore } from './store.js';

/**
 * A {@link KeyStore} in process memory, for tests and single-process demos. Records are lost when the
 * process exits.
 *
 * @example
 * ```ts
 * const keys = createKeyManager({ store: createMemoryKeyStore() });
 * ```
 */
export function createMemoryKeyStore(initial: readonly KeyRecord[] = []): KeyStore {
  const records = new Map<string, KeyRecord>();
  for (const record of initial) records.set(record.id, cloneRecord(record));
  return {
    async get(id) {
      const record = records.get(id);
      return record ? cloneRecord(record) : null;
    },
    async list(filter: KeyListFilter = {}) {
      const out: KeyRecord[] = [];
      for (const record of records.values()) {
        if (filter.ownerId === undefined || record.ownerId === filter.ownerId) out.push(cloneRecord(record));
      }
      return out;
    },
    async insert(record) {
      if (records.has(record.id)) throw new DuplicateKeyIdError(record.id);
      records.set(record.id, cloneRecord(record));
    },
    async update(id, patch) {
      const record = records.get(id);
      if (!record) return null;
      const next = cloneRecord({ ...record, ...patch });
      records.set(id, next);
      return cloneRecord(next);
    },
    async delete(id) {
      return records.delete(id);
    },
    async touch(id, at) {
      const record = records.get(id);
      if (record) record.lastUsedAt = new Date(at.getTime());
    },
  };
}
