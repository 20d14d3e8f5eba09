// Stage 8: the key's rate limit and quota, and its account's. A key without limits (and without
// an account that has some) goes on without the counter store and without an await; otherwise one
// atomic `consume` of every counter, refused as 429 with Retry-After past a limit, and as 503 (or
// let through, with `failOpen`) when the store fails.
// What it charges is the context's: `units` quota units and `requests` rate-limit requests (a
// request: its route's cost and 1; a stacked middleware or a handler's charge: units only).

import type { AccountView } from '../accounts/plans.js';
import { AuthError } from '../errors/auth-error.js';
import { CachedKey, type KeyView } from '../keys/cached-key.js';
import type { KeywardenSettings } from '../keywarden-options.js';
import type { RequestContext } from '../request/context.js';
import type { Refusals, Refused } from '../request/refusals.js';
import { type MaybePromise, thenOrNow } from '../util/maybe-promise.js';
import { accountCounters } from './account-counters.js';
import { keyCounters, type PolicyCounter } from './key-counters.js';
import { keySlotsOf } from './key-slots.js';
import type { ConsumeResult, LimitStore } from './limit-store.js';

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
  peek(key: KeyView, account: AccountView | null): Promise<LimitStatus>;
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
}

/**
 * How a request's counters are made and consumed in `store`. A store with key slots (the memory
 * store) needs no key in them: keys with the same limits (one shared profile) share one frozen
 * list, so a limited key costs no counter objects of its own.
 */
function keyConsumption(store: LimitStore) {
  const consumeNow = store.consumeNow?.bind(store);
  const slots = keySlotsOf(store);
  return {
    countersOf(keyId: string, key: KeyView, charge: { cost: number; rateCost: number }, t: number) {
      if (slots === undefined) return keyCounters(keyId, key, charge, t);
      return keyCounters(null, key instanceof CachedKey ? key.profile : key, charge, t);
    },
    consume(keyId: string, counters: readonly PolicyCounter[], t: number): MaybePromise<ConsumeResult> {
      if (slots !== undefined) return slots.consume(keyId, counters, t);
      return consumeNow ? consumeNow(counters, t) : store.consume(counters, t);
    },
    /** Counters by name (a key's with its account's): the store's own all-or-nothing consume. */
    consumeNamed(counters: readonly PolicyCounter[], t: number): MaybePromise<ConsumeResult> {
      return consumeNow ? consumeNow(counters, t) : store.consume(counters, t);
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
  const { countersOf, consume, consumeNamed } = keyConsumption(store);
  return async function peek(key: KeyView, account: AccountView | null): Promise<LimitStatus> {
    const status: LimitStatus = { rateLimit: null, quota: null, account: null };
    const t = now();
    const nothing = { cost: 0, rateCost: 0 };
    let counters: readonly PolicyCounter[];
    let counts: number[];
    if (account !== null) {
      status.account = { id: account.id, plan: account.plan, rateLimits: [], quota: null };
      counters = accountCounters(key, account, nothing, t);
      ({ counts } = await consumeNamed(counters, t));
    } else {
      if (!key.rateLimit && !key.quota) return status;
      counters = countersOf(key.lineageId, key, nothing, t);
      ({ counts } = await consume(key.lineageId, counters, t));
    }
    const windows = new Map<number, LimitUsage>();
    counters.forEach((counter, i) => {
      const used = counts[i]!;
      const usage = {
        limit: counter.limit,
        used,
        remaining: Math.max(0, counter.limit - used),
        resetAt: new Date(counter.resetAt),
      };
      if (counter.owner === 'account') {
        if (counter.policy === 'rate') windows.set(counter.windowSeconds, usage);
        else status.account!.quota = usage;
      } else if (counter.policy === 'rate') status.rateLimit = usage;
      else status.quota = usage;
    });
    if (account !== null)
      status.account!.rateLimits = account.rateLimits.map((spec) => windows.get(spec.windowSeconds)!);
    return status;
  };
}

export function createCharging(settings: KeywardenSettings, refusals: Refusals): Charging {
  const { limitStore, failOpen, emit, now, rateLimitHeaders } = settings;
  const { countersOf, consume, consumeNamed } = keyConsumption(limitStore);

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
    const denied = counters.findIndex((counter, i) => result.counts[i]! + counter.cost > counter.limit);
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

  /** What a consume answered: the headers when allowed, else the 429. */
  function decide(
    ctx: RequestContext,
    charged: { counters: readonly PolicyCounter[]; result: ConsumeResult; t: number; cost: number },
  ): Headers | Refused {
    const { counters, result, t } = charged;
    return result.allowed ? rateLimitHeaders(counters, result.counts, t) : overLimit(ctx, charged);
  }

  function charge(ctx: RequestContext, cost: number, rateCost: number): MaybePromise<Headers | Refused> {
    const key = ctx.key!;
    const { account } = ctx;
    const t = ctx.at;
    let counters: readonly PolicyCounter[];
    let result: MaybePromise<ConsumeResult>;
    try {
      if (account !== null && (account.rateLimits.length > 0 || account.quota !== null)) {
        counters = accountCounters(key, account, { cost, rateCost }, t);
        result = consumeNamed(counters, t);
      } else {
        if (!key.rateLimit && !key.quota) return NO_HEADERS;
        // Counters belong to the rotation lineage: a rotated key goes on from its predecessor's counts.
        counters = countersOf(key.lineageId, key, { cost, rateCost }, t);
        result = consume(key.lineageId, counters, t);
      }
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
  return {
    charge,
    peek,
    stage(ctx) {
      const { units, requests, key } = ctx;
      if (!Number.isSafeInteger(units) || units < 0) {
        // An unvalidated route object with a bad cost: refuse rather than guess (fail closed).
        return refusals.refuse(ctx, 'auth_unavailable', 'limit_store_unavailable', []);
      }
      // No key: a principal this authenticator did not make (a stacked run), nothing to count on.
      if (key === null) return null;
      const { account } = ctx;
      const accountQuota = account !== null && account.quota !== null;
      if (
        !key.rateLimit &&
        !key.quota &&
        !accountQuota &&
        (account === null || account.rateLimits.length === 0)
      )
        return null;
      // Units alone count against a quota only (the rate limit counted the request already).
      if (requests === 0 && (units === 0 || (!key.quota && !accountQuota))) return null;
      return thenOrNow(charge(ctx, units, requests), ctx, keepHeaders);
    },
  };
}
