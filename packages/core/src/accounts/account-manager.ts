// The management of accounts (customers): create, read, change, suspend, resume, delete, each
// change announced as an audit event. Accounts live in the key store beside the keys; a store
// without them (a custom KeyStore) refuses these calls with a clear error.

import { configError } from '../errors/config-error.js';
import type { EventHandler } from '../events.js';
import type { UsageRange } from '../keys/key-manager.js';
import { displayable } from '../keys/key-record.js';
import type { UsageDay } from '../usage/usage-store.js';
import type { AccountCache, CachedAccount } from './account-cache.js';
import {
  type AccountRecord,
  type AccountSettings,
  accountId,
  type CreateAccountInput,
  MAX_CREDITS,
  validateAccountSettings,
} from './account-record.js';
import type { AccountListFilter, AccountStore } from './account-store.js';

/**
 * Accounts: the customers keys belong to (a key's `ownerId` names its account), each on a plan.
 * Reached as `keys.accounts` of a key manager.
 *
 * @example
 * ```ts
 * await keys.accounts.create({ id: 'alice', plan: 'free' });
 * await keys.create({ name: 'alice backend', ownerId: 'alice' });
 * await keys.accounts.suspend('alice'); // her keys and tokens: 403 account_suspended
 * ```
 */
export interface AccountManager {
  /** Makes an account; rejects with `DuplicateAccountError` when the id exists. */
  create(input: CreateAccountInput): Promise<AccountRecord>;
  /** One account, or null. */
  get(id: string): Promise<AccountRecord | null>;
  /** Every account (optionally of one plan or status), oldest first. */
  list(filter?: AccountListFilter): Promise<AccountRecord[]>;
  /** Changes an account's plan, status, overrides or metadata; null when it does not exist. */
  update(id: string, settings: AccountSettings): Promise<AccountRecord | null>;
  /**
   * Adds prepaid units to the account (a top-up), atomically in every store, as an
   * `account.credited` audit event with the reason; null when the account does not exist. On a
   * plan with `overage: 'credits'`, requests past the quota spend them. `amount`: a whole number
   * from 1; `reason`: 1-200 printable characters.
   *
   * @example
   * ```ts
   * await keys.accounts.credit('alice', 500, { reason: 'invoice 2026-0412' });
   * ```
   */
  credit(id: string, amount: number, options: { reason: string }): Promise<AccountRecord | null>;
  /** Refuses the account's keys and tokens (403 `account_suspended`) until resumed; null when it does not exist. */
  suspend(id: string): Promise<AccountRecord | null>;
  /** Lets a suspended account's keys work again; null when it does not exist. */
  resume(id: string): Promise<AccountRecord | null>;
  /**
   * Revokes every key of the account that is not revoked yet, then deletes the account: its keys
   * never go on without their account's limits. False when it did not exist.
   */
  delete(id: string): Promise<boolean>;
  /**
   * The account as the request path reads it (its id, plan, status and overrides; `get` reads the
   * whole record): frozen, shared, answered without a promise while cached (null: no such
   * account); rejects when the store cannot answer. A change made through this manager, another
   * instance or the CLI reaches it through the store's notifications.
   * `at`: a reading of the manager's clock the caller already has.
   *
   * @example
   * ```ts
   * const account = await keys.accounts.lookupNow('alice');
   * if (account?.status === 'suspended') console.log('alice is suspended');
   * ```
   */
  lookupNow(id: string, at?: number): CachedAccount | null | Promise<CachedAccount | null>;
  /** Drops what is cached of an account (null: of every account). */
  invalidate(id: string | null): void;
  /**
   * An account's usage per UTC day, summed over all its keys (also keys since revoked or purged):
   * requests admitted, quota units charged, refusals by code once the account was known (a
   * suspension's, a limit's). `range` as for `keys.usage` (default: the last 30 days); only days
   * with usage, in order. Rejects as `keys.usage` does when no usage is recorded.
   *
   * @example
   * ```ts
   * const days = await keys.accounts.usage('alice', { from: '2026-12-01', to: '2026-12-31' });
   * const units = days.reduce((sum, day) => sum + day.units, 0);
   * ```
   */
  usage(id: string, range?: UsageRange): Promise<UsageDay[]>;
  /** Whether the key store keeps accounts (every store keywarden ships does); the other methods reject without. */
  readonly enabled: boolean;
}

/** What the account manager needs of its key manager. */
export interface AccountManagerSettings {
  store: AccountStore | undefined;
  /** What the request path reads (invalidated by every change made here). */
  cache: AccountCache;
  emit: EventHandler;
  now: () => number;
  /** Revokes the keys of `ownerId` that are not revoked; resolves how many it revoked. */
  revokeKeysOf(ownerId: string): Promise<number>;
  /** Reads an account's usage days (as `keys.usage` reads a key's). */
  readUsage(accountId: string, range: UsageRange | undefined): Promise<UsageDay[]>;
}

/** A top-up: checked, added atomically by the store, announced with its reason. */
async function credit(
  settings: AccountManagerSettings & { store: AccountStore },
  id: string,
  top: { amount: number; options: { reason: string } },
): Promise<AccountRecord | null> {
  const { amount, options } = top;
  if (!Number.isSafeInteger(amount) || amount < 1 || amount > MAX_CREDITS)
    throw configError('KW_INVALID_OPTION', 'amount', 'must be a whole number of units from 1');
  if (typeof options !== 'object' || options === null)
    throw configError('KW_MISSING_OPTION', 'reason', 'is required: say why the credits are granted');
  const reason = displayable('reason', options.reason, false)!;
  const at = new Date(settings.now());
  const record = await settings.store.addCredits(id, amount, at);
  settings.cache.invalidate(id);
  if (record !== null)
    settings.emit({
      type: 'account.credited',
      time: at,
      accountId: id,
      amount,
      reason,
      credits: record.credits,
    });
  return record;
}

export function createAccountManager(settings: AccountManagerSettings): AccountManager {
  const { emit, now, cache } = settings;
  const invalidate = (id: string) => cache.invalidate(id);
  const store = (): AccountStore => {
    if (settings.store === undefined)
      throw configError(
        'KW_INVALID_OPTION',
        'store',
        'keeps no accounts: use a store keywarden ships, or give yours an `accounts` field',
      );
    return settings.store;
  };
  const known = (id: unknown): string => {
    if (typeof id !== 'string') throw configError('KW_INVALID_OPTION', 'id', 'must be an account id');
    return id;
  };

  async function change(id: string, patch: ReturnType<typeof validateAccountSettings>) {
    const record = await store().update(known(id), { ...patch, updatedAt: new Date(now()) });
    invalidate(id);
    return record;
  }

  async function setStatus(id: string, status: 'active' | 'suspended'): Promise<AccountRecord | null> {
    const record = await change(id, { status });
    if (record !== null)
      emit({
        type: status === 'suspended' ? 'account.suspended' : 'account.resumed',
        time: new Date(now()),
        accountId: id,
      });
    return record;
  }

  return {
    async create(input) {
      if (typeof input !== 'object' || input === null)
        throw configError('KW_INVALID_OPTION', 'create', 'needs { id, plan, ... }');
      const { id, ...rest } = input;
      if (rest.plan === undefined) throw configError('KW_MISSING_OPTION', 'plan', 'is required');
      const patch = validateAccountSettings(rest);
      const at = new Date(now());
      const record: AccountRecord = {
        id: accountId(id),
        plan: patch.plan!,
        status: patch.status ?? 'active',
        overrides: patch.overrides ?? {},
        credits: 0,
        metadata: patch.metadata ?? {},
        createdAt: at,
        updatedAt: at,
      };
      await store().insert(record);
      invalidate(record.id);
      emit({ type: 'account.created', time: at, accountId: record.id, plan: record.plan });
      return record;
    },
    async get(id) {
      return store().get(known(id));
    },
    async list(filter) {
      return store().list(filter);
    },
    async update(id, accountSettings) {
      const patch = validateAccountSettings(accountSettings);
      const record = await change(id, patch);
      if (record !== null)
        emit({ type: 'account.updated', time: new Date(now()), accountId: id, fields: Object.keys(patch) });
      return record;
    },
    enabled: settings.store !== undefined,
    usage: (id, range) => settings.readUsage(known(id), range),
    lookupNow: cache.lookupNow,
    invalidate: cache.invalidate,
    credit: (id, amount, options) => credit({ ...settings, store: store() }, known(id), { amount, options }),
    suspend: (id) => setStatus(id, 'suspended'),
    resume: (id) => setStatus(id, 'active'),
    async delete(id) {
      const accounts = store();
      if ((await accounts.get(known(id))) === null) return false;
      const keysRevoked = await settings.revokeKeysOf(id);
      const existed = await accounts.delete(id);
      invalidate(id);
      if (existed) emit({ type: 'account.deleted', time: new Date(now()), accountId: id, keysRevoked });
      return existed;
    },
  };
}
