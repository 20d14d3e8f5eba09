import type { AccountPatch, AccountRecord, AccountStatus } from './account-record.js';

/**
 * Where accounts live: beside the keys, in every key store keywarden ships (the `accounts` field
 * of a {@link KeyStore}). Any method may reject when the storage is unreachable; returned records
 * are copies the caller may keep.
 *
 * @example
 * ```ts
 * const store = createMemoryKeyStore();
 * await store.accounts.insert({ id: 'acme', plan: 'pro', status: 'active', overrides: {}, credits: 0,
 *   createdAt: new Date(), updatedAt: new Date(), metadata: {} });
 * ```
 */
export interface AccountStore {
  /** The account with this id, or null. */
  get(id: string): Promise<AccountRecord | null>;
  /** Every account, optionally of one plan or status, oldest first. */
  list(filter?: AccountListFilter): Promise<AccountRecord[]>;
  /** Adds an account; rejects with {@link DuplicateAccountError} when the id exists. */
  insert(record: AccountRecord): Promise<void>;
  /** Applies a patch and returns the new record, or null when the id does not exist. */
  update(id: string, patch: AccountPatch): Promise<AccountRecord | null>;
  /**
   * Adds `amount` to the account's `credits` and sets its `updatedAt`, atomically (two top-ups at
   * once, from two processes, both count); returns the new record, or null when the id does not
   * exist.
   */
  addCredits(id: string, amount: number, at: Date): Promise<AccountRecord | null>;
  /** Removes an account; false when it did not exist. */
  delete(id: string): Promise<boolean>;
  /**
   * Calls `listener` with an account id whenever that account changes (here or elsewhere: another
   * instance, the CLI, an edited file), or with null when any may have changed unseen. Returns the
   * function that removes the listener.
   */
  subscribe?(listener: (id: string | null) => void): () => void;
}

/** Filter for {@link AccountStore.list}. */
export interface AccountListFilter {
  /** Only accounts on this plan. */
  plan?: string;
  /** Only accounts with this status. */
  status?: AccountStatus;
}

/**
 * Rejection of {@link AccountStore.insert} for an id that exists.
 *
 * @example
 * ```ts
 * if (rows.has(record.id)) throw new DuplicateAccountError(record.id);
 * ```
 */
export class DuplicateAccountError extends Error {
  override readonly name = 'DuplicateAccountError';
  constructor(readonly accountId: string) {
    super(`keywarden: an account with id ${JSON.stringify(accountId)} already exists`);
  }
}

/** Whether `record` passes `filter`. */
export const accountMatches = (record: AccountRecord, filter: AccountListFilter = {}): boolean =>
  (filter.plan === undefined || record.plan === filter.plan) &&
  (filter.status === undefined || record.status === filter.status);

/** Oldest first, then by id: the order every store lists accounts in. */
export const byCreation = (a: AccountRecord, b: AccountRecord): number =>
  a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
