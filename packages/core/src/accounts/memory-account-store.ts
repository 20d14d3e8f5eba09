import { type AccountRecord, cloneAccount } from './account-record.js';
import { type AccountStore, accountMatches, byCreation, DuplicateAccountError } from './account-store.js';

/** Accounts in process memory (the memory key store's `accounts`); every write is told to subscribers at once. */
export function createMemoryAccountStore(): AccountStore {
  const records = new Map<string, AccountRecord>();
  const listeners = new Set<(id: string | null) => void>();
  const tell = (id: string) => {
    for (const listener of listeners) listener(id);
  };
  return {
    async get(id) {
      const record = records.get(id);
      return record ? cloneAccount(record) : null;
    },
    async list(filter) {
      return [...records.values()]
        .filter((record) => accountMatches(record, filter))
        .sort(byCreation)
        .map(cloneAccount);
    },
    async insert(record) {
      if (records.has(record.id)) throw new DuplicateAccountError(record.id);
      records.set(record.id, cloneAccount(record));
      tell(record.id);
    },
    async update(id, patch) {
      const record = records.get(id);
      if (!record) return null;
      const next = cloneAccount({ ...record, ...patch });
      records.set(id, next);
      tell(id);
      return cloneAccount(next);
    },
    async addCredits(id, amount, at) {
      const record = records.get(id);
      if (!record) return null;
      const next = cloneAccount({ ...record, credits: record.credits + amount, updatedAt: at });
      records.set(id, next);
      tell(id);
      return cloneAccount(next);
    },
    async delete(id) {
      const existed = records.delete(id);
      if (existed) tell(id);
      return existed;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
}
