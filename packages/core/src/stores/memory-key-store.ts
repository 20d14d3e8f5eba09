import type { AccountStore } from '../accounts/account-store.js';
import { createMemoryAccountStore } from '../accounts/memory-account-store.js';
import { cloneRecord, type KeyRecord } from '../keys/key-record.js';
import { checkCountFilter, checkListFilter, countsUnder, pageOf } from './key-pages.js';
import { DuplicateKeyIdError, type KeyListFilter, type KeyStore } from './key-store.js';

/**
 * A {@link KeyStore} in process memory, with its accounts, for tests and single-process demos.
 * Records are lost when the process exits.
 *
 * @example
 * ```ts
 * const keys = createKeyManager({ store: createMemoryKeyStore() });
 * ```
 */
export function createMemoryKeyStore(
  initial: readonly KeyRecord[] = [],
): KeyStore & { readonly accounts: AccountStore } {
  const records = new Map<string, KeyRecord>();
  for (const record of initial) records.set(record.id, cloneRecord(record));
  return {
    accounts: createMemoryAccountStore(),
    async get(id) {
      const record = records.get(id);
      return record ? cloneRecord(record) : null;
    },
    async list(filter?: KeyListFilter) {
      return pageOf(records.values(), checkListFilter(filter)).map(cloneRecord);
    },
    async count(filter) {
      checkCountFilter(filter);
      let n = 0;
      for (const record of records.values()) if (countsUnder(record, filter)) n++;
      return n;
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
    async replaceHash(id, from, to) {
      const record = records.get(id);
      if (record?.hash !== from) return false;
      record.hash = to;
      return true;
    },
    async delete(id) {
      return records.delete(id);
    },
    async touch(id, at) {
      const record = records.get(id);
      // Never back: touches can arrive out of order.
      if (record && (!record.lastUsedAt || record.lastUsedAt < at))
        record.lastUsedAt = new Date(at.getTime());
    },
  };
}
