// Stage 6, the account: the key's account (its `ownerId`), read from the key manager's account cache
// (at once while cached). No account: the key's own limits alone, as for a key without an owner.
// A suspended account: 403 `account_suspended`. An account on a plan the configuration lacks:
// 503, fail closed, and an `account.plan_unknown` event. Otherwise the account and the terms of
// its plan go to the charge stage in `ctx.account` and `ctx.terms`.
import { type CachedAccount, NO_OVERRIDES } from '../accounts/account-cache.js';
import { type AccountTerms, type AccountView, termsOf, viewOf } from '../accounts/plans.js';
import type { KeywardenSettings } from '../keywarden-options.js';
import type { RequestContext } from './context.js';
import { sharedClock } from './context.js';
import type { Refusals, Refused } from './refusals.js';

/** An account with the terms it is charged by. */
export interface ChargedAccount {
  account: CachedAccount;
  terms: AccountTerms;
}

export function createAccountCheck(settings: KeywardenSettings, refusals: Refusals) {
  const { keys, plans, emit, now } = settings;
  const accounts = keys.accounts?.enabled === true ? keys.accounts : null;
  const clock = sharedClock(settings);
  // The terms accounts are charged by, made once: per plan for the accounts without overrides
  // (bounded by the configured plans), per overrides object for the others (a cached account's,
  // dropped with it). A warm request resolves no plan and makes nothing.
  const byPlan = new Map<string, AccountTerms>();
  const byOverrides = new WeakMap<object, AccountTerms>();
  // Accounts on an unknown plan that were reported (one event per account read, not per request).
  const reported = new WeakSet<CachedAccount>();

  function termsFor(account: CachedAccount): AccountTerms | null {
    const own = account.overrides !== NO_OVERRIDES;
    let terms = own ? byOverrides.get(account.overrides) : byPlan.get(account.plan);
    if (terms !== undefined && terms.plan === account.plan) return terms;
    const made = termsOf(account, plans);
    if (made === null) {
      if (!reported.has(account)) {
        reported.add(account);
        emit({
          type: 'account.plan_unknown',
          time: new Date(now()),
          accountId: account.id,
          plan: account.plan,
        });
      }
      return null;
    }
    terms = made;
    if (own) byOverrides.set(account.overrides, terms);
    else byPlan.set(account.plan, terms);
    return terms;
  }

  function decide(ctx: RequestContext, account: CachedAccount | null): Refused | null {
    if (account === null) return null;
    const terms = termsFor(account);
    if (terms === null) return refusals.refuse(ctx, 'auth_unavailable', 'unknown_plan', []);
    ctx.account = account; // set first: a suspension's refusal counts in the account's usage
    ctx.terms = terms;
    if (account.status === 'suspended')
      return refusals.refuse(ctx, 'account_suspended', 'account_suspended', []);
    return null;
  }

  const unavailable = (ctx: RequestContext): Refused =>
    refusals.refuse(ctx, 'auth_unavailable', 'account_store_unavailable', []);

  /**
   * An owner's account and its terms, as a request would see them now; null without one. Rejects
   * when its plan is not configured (a request would be refused) or the store cannot answer.
   */
  async function accountOfOwner(ownerId: string | null): Promise<ChargedAccount | null> {
    if (accounts === null || ownerId === null) return null;
    const account = await accounts.lookupNow(ownerId);
    if (account === null) return null;
    const terms = termsFor(account);
    if (terms === null)
      throw new Error(
        `keywarden: account ${JSON.stringify(account.id)} is on plan ${JSON.stringify(account.plan)}, which plans does not name`,
      );
    return { account, terms };
  }

  /** The view of an owner's account (see {@link accountOfOwner}). */
  async function viewOfOwner(ownerId: string | null): Promise<AccountView | null> {
    const found = await accountOfOwner(ownerId);
    return found === null ? null : viewOf(found.account, found.terms);
  }

  if (accounts === null)
    return { stage: (_ctx: RequestContext): Refused | null => null, viewOfOwner, accountOfOwner };
  const stage = (ctx: RequestContext): Refused | null | Promise<Refused | null> => {
    // No key: a principal another authenticator made (a stacked run); no owner: no account.
    const ownerId = ctx.key?.ownerId;
    if (ownerId == null) return null;
    let found: ReturnType<typeof accounts.lookupNow>;
    try {
      found = accounts.lookupNow(ownerId, clock(ctx));
    } catch {
      return unavailable(ctx);
    }
    if (!(found instanceof Promise)) return decide(ctx, found);
    return found.then(
      (account) => decide(ctx, account),
      () => unavailable(ctx),
    );
  };
  return { stage, viewOfOwner, accountOfOwner };
}
