// Overage on credits: a request of an account past its quota, on a plan whose `overage` is
// `credits`, is charged again with the account's credits counter in place of its quota counter
// (every other counter too, all or nothing: two consumes, each atomic, so nothing is ever
// over-admitted and the credits never go below none); with no credits left, 402
// `credits_exhausted`, which a client must not retry (no Retry-After: waiting brings no credits).
import { AuthError } from '../errors/auth-error.js';
import type { EventHandler } from '../events.js';
import type { KeyView } from '../keys/cached-key.js';
import type { RequestContext } from '../request/context.js';
import type { Refusals, Refused } from '../request/refusals.js';
import type { MaybePromise } from '../util/maybe-promise.js';
import type { Headers } from './charge.js';
import { creditsInstead, type PolicyCounter } from './counters.js';
import type { ConsumeResult } from './limit-store.js';
import type { Thresholds } from './thresholds.js';

/** A refused consume, as the 429 is made from. */
export interface Refused429 {
  counters: readonly PolicyCounter[];
  result: ConsumeResult;
  t: number;
  cost: number;
}

/** What the overage path needs of the charge stage. */
export interface OverageParts {
  consume(
    key: KeyView,
    accountId: string | null,
    counters: readonly PolicyCounter[],
    t: number,
  ): MaybePromise<ConsumeResult>;
  /** Whether counters need names (Redis). */
  named: boolean;
  emit: EventHandler;
  refusals: Refusals;
  rateLimitHeaders(counters: readonly PolicyCounter[], counts: readonly number[], now: number): Headers;
  storeFailed(ctx: RequestContext, error: unknown, t: number): Headers | Refused;
  overLimit(ctx: RequestContext, refused: Refused429): Refused;
  thresholds: Thresholds | null;
}

/**
 * Where the account's quota counter is in a refused list, when it alone refused and the
 * account's plan runs overage on credits; else -1.
 */
export function overQuotaAlone(ctx: RequestContext, refused: Refused429): number {
  if (ctx.terms?.overage !== 'credits') return -1;
  const { counters, result } = refused;
  let quotaAt = -1;
  for (let i = 0; i < counters.length; i++) {
    const counter = counters[i]!;
    const ofQuota = counter.owner === 'account' && counter.policy === 'quota';
    if (ofQuota) quotaAt = i;
    if (result.counts[i]! + counter.cost > counter.limit && !ofQuota) return -1;
  }
  return quotaAt;
}

/**
 * The counter a 429 names: the first over its limit, passing over the account's quota when the
 * account's credits would have paid for it (another limit refused).
 */
export function refusingCounter(
  ctx: RequestContext,
  counters: readonly PolicyCounter[],
  counts: readonly number[],
): number {
  const credits = ctx.terms?.overage === 'credits';
  let first = -1;
  for (let i = 0; i < counters.length; i++) {
    const counter = counters[i]!;
    if (counts[i]! + counter.cost <= counter.limit) continue;
    if (!(credits && counter.owner === 'account' && counter.policy === 'quota')) return i;
    if (first < 0) first = i;
  }
  return first;
}

/**
 * An account whose quota this instance saw used up: the period's end (the quota counter's
 * `resetAt`) and until when the mark holds (a second: a hold another instance releases may give
 * quota back meanwhile; here, a release clears it at once).
 */
interface Spent {
  resetAt: number;
  until: number;
}
const MARK_MS = 1000;

/** Where the account's quota counter is in `counters` (-1: none). */
function quotaIndex(counters: readonly PolicyCounter[]): number {
  for (let i = 0; i < counters.length; i++)
    if (counters[i]!.owner === 'account' && counters[i]!.policy === 'quota') return i;
  return -1;
}

export function createOverage(parts: OverageParts) {
  const { consume, named, emit, refusals, rateLimitHeaders, storeFailed, overLimit, thresholds } = parts;
  // Accounts (their cached entries: a change makes a new one) whose quota is used up: a request of
  // theirs goes to credits in one consume, not a refused one first (`pnpm bench`, bench/charges.mjs).
  const spent = new WeakMap<object, Spent>();

  /** 402: quota and credits used up. */
  function creditsExhausted(
    ctx: RequestContext,
    refused: { credits: PolicyCounter; headers: Headers; t: number },
  ): Refused {
    const { credits, headers, t } = refused;
    emit({
      type: 'limit.exceeded',
      time: new Date(t),
      keyId: ctx.keyId!,
      policy: 'credits',
      limit: credits.limit,
      cost: credits.cost,
      requestId: ctx.input.requestId ?? null,
    });
    const error = new AuthError(
      'credits_exhausted',
      { ...headers },
      "The account's quota and its prepaid credits are used up",
    );
    return refusals.refuseWith(ctx, error, 'credits_exhausted');
  }

  /** The request charged to the account's credits in place of its quota (`quotaAt`). */
  function onCredits(
    ctx: RequestContext,
    over: Refused429 & { quotaAt: number },
  ): MaybePromise<Headers | Refused> {
    const { counters, result, t, quotaAt } = over;
    const account = ctx.account!;
    const list = creditsInstead(counters, account, named);
    let second: MaybePromise<ConsumeResult>;
    try {
      second =
        account.credits === 0
          ? { allowed: false, counts: result.counts }
          : consume(ctx.key!, account.id, list, t);
    } catch (error) {
      return storeFailed(ctx, error, t);
    }
    const settle = (settled: ConsumeResult): Headers | Refused => {
      // The headers describe the quota (used up) and the other limits as this charge left them.
      const counts = settled.counts.slice();
      counts[quotaAt] = result.counts[quotaAt]!;
      if (settled.allowed) {
        ctx.onCredits = list[quotaAt]!.cost;
        const quota = counters[quotaAt]!;
        if (result.counts[quotaAt]! >= quota.limit)
          spent.set(account, { resetAt: quota.resetAt, until: t + MARK_MS });
        thresholds?.charged(ctx, list, settled.counts);
        return rateLimitHeaders(counters, counts, t);
      }
      const credits = list[quotaAt]!;
      if (account.credits > 0 && settled.counts[quotaAt]! + credits.cost <= credits.limit)
        return overLimit(ctx, over); // another limit refused meanwhile: the 429 as it was
      return creditsExhausted(ctx, { credits, headers: rateLimitHeaders(counters, counts, t), t });
    };
    if (!(second instanceof Promise)) return settle(second);
    return second.then(settle, (error: unknown) => storeFailed(ctx, error, t));
  }

  /**
   * A request of an account whose quota is known to be used up, charged to its credits in one
   * consume; null when not known (or when that consume refused: the caller charges as usual, and
   * makes the refusal).
   */
  function direct(
    ctx: RequestContext,
    counters: readonly PolicyCounter[],
    t: number,
  ): MaybePromise<Headers | Refused | null> | null {
    const account = ctx.account!;
    const mark = spent.get(account);
    if (mark === undefined || t >= mark.until || account.credits === 0) return null;
    const quotaAt = quotaIndex(counters);
    if (quotaAt < 0 || counters[quotaAt]!.resetAt !== mark.resetAt) return null;
    const list = creditsInstead(counters, account, named);
    const settle = (settled: ConsumeResult): Headers | null => {
      if (!settled.allowed) return null;
      ctx.onCredits = list[quotaAt]!.cost;
      thresholds?.charged(ctx, list, settled.counts);
      const counts = settled.counts.slice();
      counts[quotaAt] = counters[quotaAt]!.limit; // used up
      return rateLimitHeaders(counters, counts, t);
    };
    const result = consume(ctx.key!, account.id, list, t);
    return result instanceof Promise ? result.then(settle) : settle(result);
  }

  return {
    onCredits,
    direct,
    /** Units given back to an account: its quota may have room again. */
    forget(account: object): void {
      spent.delete(account);
    },
  };
}
