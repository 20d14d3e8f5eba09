// Plans: what an account may do, named in the server's configuration. An account's own overrides
// replace its plan's values field by field. An account naming a plan the configuration lacks is
// refused (503, fail closed), never let through without limits.
import { configError } from '../errors/config-error.js';
import type { QuotaSpec, RateLimitSpec } from '../keys/key-record.js';
import type { CachedAccount } from './account-cache.js';
import { type AccountLimits, accountLimits, PLAN_NAME } from './account-record.js';

/**
 * A plan: the limits every account on it shares over all its keys (each key's own limits apply
 * too). Every field is optional: a plan without limits only names a tier.
 *
 * @example
 * ```ts
 * const free: Plan = {
 *   rateLimits: [{ limit: 60, windowSeconds: 60 }],
 *   quota: { limit: 50, period: 'month' },
 *   maxKeys: 2,
 * };
 * ```
 */
export type Plan = AccountLimits;

/** Plans by name: `{ free: {...}, pro: {...} }`. */
export type Plans = Readonly<Record<string, Plan>>;

/**
 * What a plan and an account's overrides give the account: one frozen object shared by every
 * account on the plan without overrides of its own.
 *
 * @example
 * ```ts
 * const view = await keywarden.accountOf('alice');
 * if (view?.quota) console.log(`${view.plan}: ${view.quota.limit} a ${view.quota.period}`);
 * ```
 */
export interface AccountTerms {
  readonly plan: string;
  /** Every window applies; [] for none. */
  readonly rateLimits: readonly RateLimitSpec[];
  readonly quota: QuotaSpec | null;
  /** Most active keys; null for no limit. */
  readonly maxKeys: number | null;
  /** Past the quota: refused, or charged to the account's prepaid credits. */
  readonly overage: 'refuse' | 'credits';
}

/**
 * An account as a request is charged: its id and status, and the limits its plan and overrides
 * give it.
 *
 * @example
 * ```ts
 * const view = await keywarden.accountOf('alice');
 * console.log(view?.status, view?.rateLimits);
 * ```
 */
export interface AccountView extends AccountTerms {
  readonly id: string;
  readonly status: CachedAccount['status'];
}

/** The plans option, checked: names, and each plan's limits. Null when none are given. */
export function resolvePlans(plans: unknown): ReadonlyMap<string, Readonly<Plan>> | null {
  if (plans === undefined) return null;
  if (typeof plans !== 'object' || plans === null || Array.isArray(plans))
    throw configError('KW_INVALID_OPTION', 'plans', 'must be an object of plans by name');
  const given = plans as Record<string, unknown>;
  const out = new Map<string, Readonly<Plan>>();
  for (const [name, plan] of Object.entries(given)) {
    if (!PLAN_NAME.test(name))
      throw configError(
        'KW_INVALID_OPTION',
        `plans.${name}`,
        'is not a plan name (letters, digits, "_", "-")',
      );
    out.set(name, Object.freeze(accountLimits(`plans.${name}`, plan)));
  }
  if (out.size === 0) throw configError('KW_INVALID_OPTION', 'plans', 'names no plan');
  return out;
}

/** The terms of an account's plan under its overrides, or null when its plan is unknown. */
export function termsOf(
  account: CachedAccount,
  plans: ReadonlyMap<string, Readonly<Plan>> | null,
): AccountTerms | null {
  const plan = plans?.get(account.plan);
  if (plan === undefined) return null;
  const { overrides } = account;
  return Object.freeze({
    plan: account.plan,
    rateLimits: Object.freeze([...(overrides.rateLimits ?? plan.rateLimits ?? [])]),
    quota: overrides.quota !== undefined ? overrides.quota : (plan.quota ?? null),
    maxKeys: overrides.maxKeys ?? plan.maxKeys ?? null,
    overage: overrides.overage ?? plan.overage ?? 'refuse',
  });
}

/** An account's view: its id and status with its terms. */
export function viewOf(account: CachedAccount, terms: AccountTerms): AccountView {
  return Object.freeze({ id: account.id, status: account.status, ...terms });
}
