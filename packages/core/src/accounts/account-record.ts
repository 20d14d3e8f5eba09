// The account record: the customer a key's `ownerId` names, on a plan. Its checks are the key
// record's (the same grammar for ids, limits and metadata), so an owner id that works today is a
// valid account id, and a limit an operator can give a key can be given to an account.
import { configError } from '../errors/config-error.js';
import {
  displayable,
  type JsonValue,
  metadata,
  positiveInteger,
  type QuotaSpec,
  quotaSpec,
  type RateLimitSpec,
  rateLimitSpec,
} from '../keys/key-record.js';

/** Whether an account's keys work: `suspended` refuses them (403 `account_suspended`) until resumed. */
export type AccountStatus = 'active' | 'suspended';

/**
 * Limits of an account: its plan's, or an account's own overrides of them (a field left out keeps
 * the plan's value).
 */
export interface AccountLimits {
  /** Rate limits, each a window; every one applies (10 a second and 600 a minute). [] for none. */
  rateLimits?: RateLimitSpec[];
  /** Units per UTC day or month, over all the account's keys; null for none. */
  quota?: QuotaSpec | null;
  /** Most keys the account may hold active at once (the key portal's limit). */
  maxKeys?: number;
  /**
   * Past the quota: `'refuse'` (429 `quota_exceeded`), or `'credits'`: requests spend the
   * account's prepaid credits, and with none left get 402 `credits_exhausted`. @default 'refuse'
   */
  overage?: 'refuse' | 'credits';
}

/** What a key store keeps for one account (customer). */
export interface AccountRecord {
  /** Your customer id: what its keys' `ownerId` holds. 1-200 printable characters. */
  id: string;
  /** The name of its plan in the server's `plans` configuration. */
  plan: string;
  /** `active`, or `suspended` (its keys and their tokens are refused). */
  status: AccountStatus;
  /** This account's own limits in place of its plan's; `{}` for the plan's. */
  overrides: AccountLimits;
  /**
   * Prepaid units granted in all (every top-up added: `accounts.credit`); they never reset. What
   * requests spent of them is counted with the limits, so what is left is this less that
   * (`keywarden.peekLimits`). 0 for none.
   */
  credits: number;
  /** When the account was made. */
  createdAt: Date;
  /** When it last changed. */
  updatedAt: Date;
  /** Your data (billing ids, contact), at most 4 KB of JSON. */
  metadata: Record<string, JsonValue>;
}

/** What may change on an account. */
export type AccountPatch = Partial<
  Pick<AccountRecord, 'plan' | 'status' | 'overrides' | 'metadata' | 'updatedAt'>
>;

/** What a caller gives to create an account. */
export interface CreateAccountInput {
  /** The customer id (what its keys' `ownerId` holds). */
  id: string;
  /** Its plan's name. */
  plan: string;
  /** @default 'active' */
  status?: AccountStatus;
  /** @default {} (the plan's limits) */
  overrides?: AccountLimits;
  /** @default {} */
  metadata?: Record<string, JsonValue>;
}

/** What a caller may change on an account. */
export type AccountSettings = Partial<Omit<CreateAccountInput, 'id'>>;

/** Plan names: a letter or digit, then letters, digits, `_` or `-`, at most 64 in all. */
export const PLAN_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

const MAX_WINDOWS = 8;
const MAX_KEYS_LIMIT = 100_000;

function fail(option: string, message: string): never {
  throw configError('KW_INVALID_OPTION', option, message);
}

/** A plan name, or a thrown error naming `name`. */
export function planName(name: string, value: unknown): string {
  if (typeof value !== 'string' || !PLAN_NAME.test(value))
    fail(
      name,
      'must be a plan name: letters, digits, "_" or "-", at most 64, starting with a letter or digit',
    );
  return value;
}

function accountStatus(value: unknown): AccountStatus {
  if (value !== 'active' && value !== 'suspended') fail('status', 'must be "active" or "suspended"');
  return value;
}

/** Rate limit windows: at most 8, no two of the same length. */
export function rateLimitList(name: string, value: unknown): RateLimitSpec[] {
  if (!Array.isArray(value)) fail(name, 'must be an array of { limit, windowSeconds }');
  if (value.length > MAX_WINDOWS) fail(name, `holds at most ${MAX_WINDOWS} windows`);
  const out = value.map((item, i) => {
    const spec = rateLimitSpec(item, `${name}[${i}]`);
    if (spec === null) fail(`${name}[${i}]`, 'must be { limit, windowSeconds }');
    return spec;
  });
  const lengths = new Set(out.map((spec) => spec.windowSeconds));
  if (lengths.size !== out.length) fail(name, 'has two windows of the same length');
  return out;
}

/**
 * Account limits (a plan's, or an account's overrides), checked and copied; `name` prefixes the
 * fields in errors. Fields left out stay out.
 */
export function accountLimits(name: string, value: unknown): AccountLimits {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(name, 'must be an object { rateLimits, quota, maxKeys, overage }');
  const { rateLimits, quota, maxKeys, overage, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length) fail(name, `has unknown fields: ${Object.keys(rest).join(', ')}`);
  const out: AccountLimits = {};
  if (rateLimits !== undefined) out.rateLimits = rateLimitList(`${name}.rateLimits`, rateLimits);
  if (quota !== undefined) out.quota = quotaSpec(quota, `${name}.quota`);
  if (maxKeys !== undefined) out.maxKeys = positiveInteger(`${name}.maxKeys`, maxKeys, MAX_KEYS_LIMIT);
  if (overage !== undefined) {
    if (overage !== 'refuse' && overage !== 'credits')
      fail(`${name}.overage`, 'must be "refuse" or "credits"');
    out.overage = overage;
  }
  return out;
}

/** The check of each account setting: the caller's value, checked and copied, or a thrown error. */
const ACCOUNT_CHECKS: { [K in keyof Required<AccountSettings>]: (value: unknown) => AccountRecord[K] } = {
  plan: (value) => planName('plan', value),
  status: accountStatus,
  overrides: (value) => accountLimits('overrides', value),
  metadata,
};

/**
 * Validates account settings into a patch, copying every value. Throws a `TypeError` (a
 * `KeywardenConfigError`) naming the first bad field.
 */
export function validateAccountSettings(settings: AccountSettings): AccountPatch {
  if (typeof settings !== 'object' || settings === null) fail('settings', 'must be an object');
  const patch: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(settings)) {
    const check = ACCOUNT_CHECKS[name as keyof AccountSettings];
    if (check === undefined) throw configError('KW_UNKNOWN_OPTION', name, 'not an account setting');
    if (value !== undefined) patch[name] = check(value);
  }
  return patch as AccountPatch;
}

/** The most credits an account may hold in all (a safe integer, with room to add). */
export const MAX_CREDITS = 2 ** 50;

/** Stored credits: a whole number from 0 (a record from before credits holds none: 0). */
function storedCredits(value: unknown): number {
  if (value === undefined || value === null) return 0;
  const n = typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : value; // a bigint column
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > MAX_CREDITS)
    fail('credits', 'must be a whole number of units from 0');
  return n;
}

/** An account id: what a key's `ownerId` may hold. */
export function accountId(value: unknown): string {
  return displayable('id', value, false)!;
}

/**
 * An account as a store read it (a file's JSON, a database row), checked field by field: a store
 * never hands out a record the request path could misread. `read` gives each field's stored value;
 * dates may be `Date`s or ISO strings. Throws an `Error` naming the field at fault.
 *
 * @example
 * ```ts
 * const account = decodeStoredAccount((field) => row[columnOf[field]]);
 * ```
 */
export function decodeStoredAccount(read: (field: keyof AccountRecord) => unknown): AccountRecord {
  const at = (field: 'createdAt' | 'updatedAt') => {
    const value = read(field);
    const time =
      value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(time)) throw new Error(`field "${field}" is missing or invalid`);
    return new Date(time);
  };
  try {
    return {
      id: accountId(read('id')),
      plan: planName('plan', read('plan')),
      status: accountStatus(read('status')),
      overrides: accountLimits('overrides', read('overrides') ?? {}),
      credits: storedCredits(read('credits')),
      createdAt: at('createdAt'),
      updatedAt: at('updatedAt'),
      metadata: metadata(read('metadata') ?? {}),
    };
  } catch (error) {
    // A check's config error ("keywarden: plan must be ...") names its option: here, a field.
    const { option, message } = error as { option?: string; message: string };
    if (option === undefined) throw error;
    throw new Error(`field "${option}" is invalid: ${message.replace(/^keywarden: /, '')}`);
  }
}

/**
 * A deep copy (stores hand out copies, so that a caller cannot change what they keep).
 *
 * @example
 * ```ts
 * return found ? cloneAccount(found) : null;
 * ```
 */
export function cloneAccount(record: AccountRecord): AccountRecord {
  return structuredClone(record);
}
