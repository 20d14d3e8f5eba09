// Stage 8: the key's rate limit and quota, and its account's. A key without limits (and without
// an account that has some) goes on without the counter store and without an await; otherwise one
// atomic `consume` of every counter, refused as 429 with Retry-After past a limit, and as 503 (or
// let through, with `failOpen`) when the store fails.
// What it charges is the context's: `units` quota units and `requests` rate-limit requests (a
// request: its route's cost and 1; a stacked middleware or a handler's charge: units only).

import type { CachedAccount } from '../accounts/account-cache.js';
import type { AccountTerms } from '../accounts/plans.js';
import { AuthError } from '../errors/auth-error.js';
import { CachedKey, type KeyView } from '../keys/cached-key.js';
import type { KeywardenSettings } from '../keywarden-options.js';
import type { ChargedAccount } from '../request/account-check.js';
import type { RequestContext } from '../request/context.js';
import type { Refusals, Refused } from '../request/refusals.js';
import { type MaybePromise, thenOrNow } from '../util/maybe-promise.js';
import {
  type Charge,
  creditsCounter,
  creditsInstead,
  keyAndAccountCounters,
  keyCounters,
  NO_COUNTERS,
  namedAccountCounters,
  type PolicyCounter,
} from './counters.js';
import type { ConsumeResult, LimitStore } from './limit-store.js';
import { createOverage, overQuotaAlone, refusingCounter } from './overage.js';
import { counterSlotsOf } from './slots.js';

import { secondsUntil } from './windows.js';

export type Headers = Readonly<Record<string, string>>;
export const NO_HEADERS: Headers = Object.freeze({});

export interface Charging {
  /**
   * Charges the request's key `cost` quota units and `rateCost` requests (0 only reads the rate
   * counter): the RateLimit headers, or the refusal; at once when the store answers at once.
   */
  charge(ctx: RequestContext, cost: number, rateCost: number): MaybePromise<Headers | Refused>;
  /** The stage: charges the context's units and requests, leaving the RateLimit headers in `ctx.headers`. */
  stage(ctx: RequestContext): MaybePromise<Refused | null>;
  /**
   * Reads a key's (its rotation lineage's) counters, and its account's, without charging them;
   * rejects when the store cannot answer.
   */
  peek(key: KeyView, account: ChargedAccount | null): Promise<LimitStatus>;
  /**
   * Gives back the units of a charge made with `rateCost` 0 (a released hold): the counters it
   * charged, as they were then; rejects when the store cannot answer.
   */
  giveBack(charged: UnitsCharged): MaybePromise<void>;
}

/** A charge of units alone (no request counted), as a released hold gives it back. */
export interface UnitsCharged {
  key: KeyView;
  account: CachedAccount | null;
  terms: AccountTerms | null;
  units: number;
  /** Of `units`, those the account's credits paid (then all of them). */
  onCredits: number;
  /** When it was charged: the windows it went to. */
  at: number;
}

/** Where one of a key's limits stands, from {@link Keywarden.peekLimits}. */
export interface LimitUsage {
  /** The limit: requests per window (rate) or units per period (quota). */
  limit: number;
  /** Spent in the current window. */
  used: number;
  /** Left in the current window, never below 0. */
  remaining: number;
  /** When the current window ends and the count starts again. */
  resetAt: Date;
}

/** A key's rate limit and quota as they stand now; null for a limit the key does not have. */
export interface LimitStatus {
  rateLimit: LimitUsage | null;
  quota: LimitUsage | null;
  /** Its account's limits (every key of the account counts toward them); null for a key without an account. */
  account: AccountLimitStatus | null;
}

/** Where an account's limits stand now. */
export interface AccountLimitStatus {
  /** The account's id. */
  id: string;
  /** Its plan. */
  plan: string;
  /** One per window of the plan, in the plan's order. */
  rateLimits: LimitUsage[];
  /** Null when the plan has no quota. */
  quota: LimitUsage | null;
  /**
   * Its prepaid credits, on a plan with overage on credits (else null): `granted` in all, `spent`
   * by requests past the quota, `remaining`.
   */
  credits: { granted: number; spent: number; remaining: number } | null;
}

/** Whether terms limit anything. */
const limiting = (terms: AccountTerms) => terms.rateLimits.length > 0 || terms.quota !== null;

/**
 * How a request's counters are made and consumed in `store`. A store with counter slots (the
 * memory store) needs no names: keys with the same limits (one shared profile) share one frozen
 * list, accounts on the same terms another, so a limited key or account costs no counter objects
 * of its own.
 */
function consumption(store: LimitStore) {
  const consumeNow = store.consumeNow?.bind(store);
  const slots = counterSlotsOf(store);
  return {
    /** Whether counters need names (a store without slots keys them by name). */
    named: slots === undefined,
    /**
     * The counters of one charge of `key`, with its account's (`accountId` null: none, or an
     * account without limits).
     */
    countersOf(
      key: KeyView,
      accountId: string | null,
      terms: AccountTerms | null,
      charge: Charge,
    ): readonly PolicyCounter[] {
      if (slots === undefined) {
        if (accountId !== null) return namedAccountCounters(key, accountId, terms!, charge);
        // Counters belong to the rotation lineage: a rotated key goes on from its predecessor's counts.
        return keyCounters(key.lineageId, key, charge);
      }
      const limits = key instanceof CachedKey ? key.profile : key;
      if (accountId !== null) return keyAndAccountCounters(limits, terms!, charge);
      return key.rateLimit || key.quota ? keyCounters(null, limits, charge) : NO_COUNTERS;
    },
    consume(
      key: KeyView,
      accountId: string | null,
      counters: readonly PolicyCounter[],
      t: number,
    ): MaybePromise<ConsumeResult> {
      if (slots !== undefined) return slots.consume(key.lineageId, accountId, counters, t);
      return consumeNow ? consumeNow(counters, t) : store.consume(counters, t);
    },
    giveBack(key: KeyView, accountId: string | null, counters: readonly PolicyCounter[], t: number) {
      if (slots !== undefined) return slots.giveBack(key.lineageId, accountId, counters, t);
      return store.giveBack?.(counters, t);
    },
  };
}

/** A charge's answer as a stage's: the refusal, or null with the headers left in the context. */
function keepHeaders(ctx: RequestContext, charged: Headers | Refused): Refused | null {
  if ('ok' in charged) return charged as Refused;
  ctx.headers = charged as Headers;
  return null;
}

/** A cost-0 consume: every store reads its counters and changes nothing for it. */
function createPeek(store: LimitStore, now: () => number) {
  const { countersOf, consume, named } = consumption(store);
  return async function peek(key: KeyView, charged: ChargedAccount | null): Promise<LimitStatus> {
    const status: LimitStatus = { rateLimit: null, quota: null, account: null };
    const terms = charged?.terms ?? null;
    if (charged !== null)
      status.account = {
        id: charged.account.id,
        plan: charged.terms.plan,
        rateLimits: [],
        quota: null,
        credits: null,
      };
    const t = now();
    const accountId = charged !== null && limiting(charged.terms) ? charged.account.id : null;
    let counters = countersOf(key, accountId, terms, { cost: 0, rateCost: 0, now: t });
    if (charged !== null && charged.terms.overage === 'credits')
      counters = [...counters, creditsCounter(charged.account, named, 0)];
    if (counters.length === 0) return status;
    const { counts } = await consume(key, accountId, counters, t);
    const windows = new Map<number, LimitUsage>();
    counters.forEach((counter, i) => {
      const used = counts[i]!;
      const usage = {
        limit: counter.limit,
        used,
        remaining: Math.max(0, counter.limit - used),
        resetAt: new Date(counter.resetAt),
      };
      if (counter.policy === 'credits')
        status.account!.credits = { granted: counter.limit, spent: used, remaining: usage.remaining };
      else if (counter.owner === 'account') {
        if (counter.policy === 'rate') windows.set(counter.windowSeconds, usage);
        else status.account!.quota = usage;
      } else if (counter.policy === 'rate') status.rateLimit = usage;
      else status.quota = usage;
    });
    if (terms !== null)
      status.account!.rateLimits = terms.rateLimits.map((spec) => windows.get(spec.windowSeconds)!);
    return status;
  };
}

/** Gives back a charge of units: the counters it charged, made again from what it was charged with. */
function createGiveBack(store: LimitStore, now: () => number) {
  const { countersOf, named, giveBack } = consumption(store);
  return (charged: UnitsCharged): MaybePromise<void> => {
    const { key, account, terms, units, onCredits, at } = charged;
    const accountId = account !== null && limiting(terms!) ? account.id : null;
    let counters = countersOf(key, accountId, terms, { cost: units, rateCost: 0, now: at });
    if (onCredits > 0) counters = creditsInstead(counters, account!, named);
    return giveBack(key, accountId, counters, now());
  };
}

/** How a charge says no: the counter store failed (503, or let through), or a limit refused (429). */
function createLimitRefusals(settings: KeywardenSettings, refusals: Refusals) {
  const { failOpen, emit, rateLimitHeaders } = settings;
  function storeFailed(ctx: RequestContext, error: unknown, t: number): Headers | Refused {
    emit({
      type: 'store.error',
      time: new Date(t),
      operation: 'limits',
      message: (error as Error)?.message ?? 'error',
    });
    if (failOpen) return NO_HEADERS;
    const unavailable = new AuthError('auth_unavailable', { 'retry-after': '1' });
    return refusals.refuseWith(ctx, unavailable, 'limit_store_unavailable');
  }

  /** A refused consume: 429 for the first counter over its limit. */
  function overLimit(
    ctx: RequestContext,
    refused: { counters: readonly PolicyCounter[]; result: ConsumeResult; t: number; cost: number },
  ): Refused {
    const { counters, result, t, cost } = refused;
    const headers = rateLimitHeaders(counters, result.counts, t);
    const denied = refusingCounter(ctx, counters, result.counts);
    const counter = counters[denied] ?? counters[0]!;
    const code = counter.policy === 'rate' ? 'rate_limited' : 'quota_exceeded';
    const whose = counter.owner === 'key' ? "the key's" : "the account's";
    const what = counter.policy === 'rate' ? 'rate limit' : 'quota';
    emit({
      type: 'limit.exceeded',
      time: new Date(t),
      keyId: ctx.keyId!,
      policy: counter.policy,
      limit: counter.limit,
      cost,
      requestId: ctx.input.requestId ?? null,
    });
    const error = new AuthError(
      code,
      { ...headers, 'retry-after': String(secondsUntil(counter.resetAt, t)) },
      `Over ${whose} ${what} "${counter.label}"`,
    );
    return refusals.refuseWith(ctx, error, code);
  }
  return { storeFailed, overLimit };
}

export function createCharging(settings: KeywardenSettings, refusals: Refusals): Charging {
  const { limitStore, emit, now, rateLimitHeaders, thresholds } = settings;
  const { countersOf, consume, named } = consumption(limitStore);

  const { storeFailed, overLimit } = createLimitRefusals(settings, refusals);

  const parts = { consume, named, emit, refusals, rateLimitHeaders, storeFailed, overLimit, thresholds };
  const overage = createOverage(parts);

  /** What a consume answered: the headers when allowed, else credits past the quota, else the 429. */
  function decide(
    ctx: RequestContext,
    charged: { counters: readonly PolicyCounter[]; result: ConsumeResult; t: number; cost: number },
  ): MaybePromise<Headers | Refused> {
    const { counters, result, t } = charged;
    if (result.allowed) {
      if (thresholds !== null && ctx.account !== null) thresholds.charged(ctx, counters, result.counts);
      return rateLimitHeaders(counters, result.counts, t);
    }
    const quotaAt = overQuotaAlone(ctx, charged);
    return quotaAt < 0 ? overLimit(ctx, charged) : overage.onCredits(ctx, { ...charged, quotaAt });
  }

  function charge(ctx: RequestContext, cost: number, rateCost: number): MaybePromise<Headers | Refused> {
    const key = ctx.key!;
    const { account, terms } = ctx;
    const t = ctx.at;
    const accountId = account !== null && limiting(terms!) ? account.id : null;
    if (accountId === null && !key.rateLimit && !key.quota) return NO_HEADERS;
    let counters: readonly PolicyCounter[];
    let direct: MaybePromise<Headers | Refused | null> | null = null;
    try {
      counters = countersOf(key, accountId, terms, { cost, rateCost, now: t });
      // An account past its quota, paying with credits: one consume (null: charge as usual).
      if (accountId !== null && terms!.overage === 'credits') direct = overage.direct(ctx, counters, t);
    } catch (error) {
      return storeFailed(ctx, error, t);
    }
    if (direct === null) return consumeAndDecide(ctx, counters, accountId, cost);
    if (!(direct instanceof Promise)) return direct ?? consumeAndDecide(ctx, counters, accountId, cost);
    return direct.then(
      (settled) => settled ?? consumeAndDecide(ctx, counters, accountId, cost),
      (error: unknown) => storeFailed(ctx, error, t),
    );
  }

  /** One consume of `counters`, and what it answered: the headers, credits past the quota, or the refusal. */
  function consumeAndDecide(
    ctx: RequestContext,
    counters: readonly PolicyCounter[],
    accountId: string | null,
    cost: number,
  ): MaybePromise<Headers | Refused> {
    const t = ctx.at;
    let result: MaybePromise<ConsumeResult>;
    try {
      result = consume(ctx.key!, accountId, counters, t);
    } catch (error) {
      return storeFailed(ctx, error, t);
    }
    if (!(result instanceof Promise)) return decide(ctx, { counters, result, t, cost });
    return result.then(
      (settled) => decide(ctx, { counters, result: settled, t, cost }),
      (error: unknown) => storeFailed(ctx, error, t),
    );
  }

  const peek = createPeek(limitStore, now);
  const giveBack = createGiveBack(limitStore, now);
  return {
    charge,
    peek,
    giveBack(charged) {
      if (charged.account !== null) overage.forget(charged.account);
      return giveBack(charged);
    },
    stage(ctx) {
      const { units, requests, key } = ctx;
      if (!Number.isSafeInteger(units) || units < 0) {
        // An unvalidated route object with a bad cost: refuse rather than guess (fail closed).
        return refusals.refuse(ctx, 'auth_unavailable', 'limit_store_unavailable', []);
      }
      // No key: a principal this authenticator did not make (a stacked run), nothing to count on.
      if (key === null) return null;
      const { terms } = ctx;
      const accountQuota = terms !== null && terms.quota !== null;
      if (!key.rateLimit && !key.quota && !accountQuota && (terms === null || terms.rateLimits.length === 0))
        return null;
      // Units alone count against a quota only (the rate limit counted the request already).
      if (requests === 0 && (units === 0 || (!key.quota && !accountQuota))) return null;
      return thenOrNow(charge(ctx, units, requests), ctx, keepHeaders);
    },
  };
}
