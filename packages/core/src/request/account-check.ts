// Stage 6, the account: the key's account (its `ownerId`), read from the key manager's account cache
// (at once while cached). No account: the key's own limits alone, as for a key without an owner.
// A suspended account: 403 `account_suspended`. An account on a plan the configuration lacks:
// 503, fail closed, and an `account.plan_unknown` event. Otherwise the account's limits go to the
// charge stage in `ctx.account`.
import type { CachedAccount } from '../accounts/account-cache.js';
import { type AccountView, viewOf } from '../accounts/plans.js';
import type { KeywardenSettings } from '../keywarden-options.js';
import type { RequestContext } from './context.js';
import { sharedClock } from './context.js';
import type { Refusals, Refused } from './refusals.js';

/** An account whose plan is unknown, in the views memo. */
const UNKNOWN_PLAN = Object.freeze({}) as AccountView;

export function createAccountCheck(settings: KeywardenSettings, refusals: Refusals) {
  const { keys, plans, emit, now } = settings;
  const accounts = keys.accounts?.enabled === true ? keys.accounts : null;
  const clock = sharedClock(settings);
  // Each cached account's view: the cache hands out one frozen object per read, so a change (a
  // new object) gets a new view, and a warm request resolves no plan.
  const views = new WeakMap<CachedAccount, AccountView>();

  function viewFor(account: CachedAccount): AccountView {
    let view = views.get(account);
    if (view === undefined) {
      view = viewOf(account, plans) ?? UNKNOWN_PLAN;
      views.set(account, view);
      if (view === UNKNOWN_PLAN)
        emit({
          type: 'account.plan_unknown',
          time: new Date(now()),
          accountId: account.id,
          plan: account.plan,
        });
    }
    return view;
  }

  function decide(ctx: RequestContext, account: CachedAccount | null): Refused | null {
    if (account === null) return null;
    const view = viewFor(account);
    if (view === UNKNOWN_PLAN) return refusals.refuse(ctx, 'auth_unavailable', 'unknown_plan', []);
    if (view.status === 'suspended')
      return refusals.refuse(ctx, 'account_suspended', 'account_suspended', []);
    ctx.account = view;
    return null;
  }

  const unavailable = (ctx: RequestContext): Refused =>
    refusals.refuse(ctx, 'auth_unavailable', 'account_store_unavailable', []);

  /**
   * The view of an owner's account, as a request would see it now; null without one. Rejects when
   * its plan is not configured (a request would be refused) or the store cannot answer.
   */
  async function viewOfOwner(ownerId: string | null): Promise<AccountView | null> {
    if (accounts === null || ownerId === null) return null;
    const account = await accounts.lookupNow(ownerId);
    if (account === null) return null;
    const view = viewFor(account);
    if (view === UNKNOWN_PLAN)
      throw new Error(
        `keywarden: account ${JSON.stringify(account.id)} is on plan ${JSON.stringify(account.plan)}, which plans does not name`,
      );
    return view;
  }

  if (accounts === null) return { stage: (_ctx: RequestContext): Refused | null => null, viewOfOwner };
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
  return { stage, viewOfOwner };
}
