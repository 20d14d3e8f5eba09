// Threshold events: `usage.threshold` when an account's usage crosses a share of its quota (80 %
// and 100 % by default) and when its prepaid credits fall below a floor, once per period across
// every instance. An instance that sees its account's count reach a threshold claims the crossing
// with a marker counter of limit 1 in the limit store (under the account's hash tag, ending with
// the period): the one claim the store admits emits the event, the others are dropped. So exactly
// one event per crossing whatever the number of instances, from counts that are exact (memory,
// Redis without leases) or, with Redis leases, an instance's own view of them (which counts the
// units other instances hold on lease as used: the event may come up to a lease early, never
// twice and never not at all). The claim runs after the request's answer, never delaying it.
import { configError } from '../errors/config-error.js';
import type { EventHandler } from '../events.js';
import type { RequestContext } from '../request/context.js';
import { optionsObject } from '../util/options.js';
import type { PolicyCounter } from './counters.js';
import type { LimitStore } from './limit-store.js';

/** Which crossings are events. */
export interface ThresholdOptions {
  /** Shares of an account's quota, in percent (1-100), whose crossing is an event. @default [80, 100] */
  quota?: number[];
  /** An event when an account's credits left fall below this many units. @default none */
  creditsBelow?: number;
}

interface Resolved {
  quota: readonly number[];
  creditsBelow: number | null;
}

/** The option, checked: null for `false` (no threshold events). */
export function resolveThresholds(value: ThresholdOptions | false | undefined): Resolved | null {
  if (value === false) return null;
  const o = optionsObject('thresholds', value ?? {}, ['quota', 'creditsBelow']);
  const quota = (o.quota as unknown) ?? [80, 100];
  if (
    !Array.isArray(quota) ||
    quota.length > 8 ||
    !quota.every((p) => Number.isInteger(p) && p >= 1 && p <= 100) ||
    new Set(quota).size !== quota.length
  )
    throw configError(
      'KW_INVALID_OPTION',
      'thresholds.quota',
      'must be up to 8 different whole percents, 1-100',
    );
  const below = o.creditsBelow as unknown;
  if (below !== undefined && !(Number.isSafeInteger(below) && (below as number) >= 1))
    throw configError(
      'KW_INVALID_OPTION',
      'thresholds.creditsBelow',
      'must be a whole number of units from 1',
    );
  return {
    quota: Object.freeze([...quota].sort((a, b) => a - b)),
    creditsBelow: (below as number | undefined) ?? null,
  };
}

/** What this instance already claimed of an account: its quota period's thresholds, its credits. */
interface Claimed {
  resetAt: number;
  /** Bit i: the i-th quota threshold of that period. */
  done: number;
  /** The credits granted when the floor was last claimed (a top-up lets it cross again). */
  creditsGranted: number;
}

// Accounts this instance claimed crossings of: bounded, dropped whole when full (a dropped entry
// only costs another claim, which the store refuses).
const MAX_CLAIMED = 10_000;

export interface Thresholds {
  /** After an admitted charge of an account's key: the crossings its counts show. */
  charged(ctx: RequestContext, counters: readonly PolicyCounter[], counts: readonly number[]): void;
}

export function createThresholds(
  config: Resolved | null,
  parts: { limitStore: LimitStore; emit: EventHandler },
): Thresholds | null {
  if (config === null) return null;
  const { quota: percents, creditsBelow } = config;
  const { limitStore, emit } = parts;
  const claimed = new Map<string, Claimed>();
  const lowest = percents[0] ?? 101;

  function claimedOf(accountId: string, resetAt: number): Claimed {
    let entry = claimed.get(accountId);
    if (entry === undefined) {
      if (claimed.size >= MAX_CLAIMED) claimed.clear();
      entry = { resetAt, done: 0, creditsGranted: -1 };
      claimed.set(accountId, entry);
    } else if (entry.resetAt !== resetAt && resetAt !== 0) {
      entry.resetAt = resetAt;
      entry.done = 0;
    }
    return entry;
  }

  /** Claims a crossing in the store; the one claim admitted emits the event. */
  function claim(ctx: RequestContext, marker: { name: string; resetAt: number }, event: () => void): void {
    const key = `kw:{a:${encodeURIComponent(ctx.account!.id)}}:mark:${marker.name}`;
    limitStore
      .consume([{ key, limit: 1, cost: 1, resetAt: marker.resetAt }], ctx.at)
      .then((result) => {
        if (result.allowed) event();
      })
      .catch(() => {}); // a store down: no event now (a later crossing still has its own)
  }

  function quotaCrossed(ctx: RequestContext, counter: PolicyCounter, used: number): void {
    if (used * 100 < lowest * counter.limit) return;
    const accountId = ctx.account!.id;
    const entry = claimedOf(accountId, counter.resetAt);
    for (let i = 0; i < percents.length; i++) {
      const percent = percents[i]!;
      if (entry.done & (1 << i) || used * 100 < percent * counter.limit) continue;
      entry.done |= 1 << i;
      const { limit, resetAt } = counter;
      claim(ctx, { name: `pct${percent}:${resetAt}`, resetAt }, () =>
        emit({
          type: 'usage.threshold',
          time: new Date(ctx.at),
          accountId,
          kind: 'quota',
          percent,
          limit,
          used,
          resetAt: new Date(resetAt),
        }),
      );
    }
  }

  function creditsFell(ctx: RequestContext, counter: PolicyCounter, spent: number): void {
    const granted = counter.limit;
    if (creditsBelow === null || granted - spent >= creditsBelow) return;
    const accountId = ctx.account!.id;
    const entry = claimedOf(accountId, 0);
    if (entry.creditsGranted === granted) return;
    entry.creditsGranted = granted;
    claim(ctx, { name: `floor${creditsBelow}:${granted}`, resetAt: counter.resetAt }, () =>
      emit({
        type: 'usage.threshold',
        time: new Date(ctx.at),
        accountId,
        kind: 'credits',
        floor: creditsBelow,
        granted,
        left: granted - spent,
      }),
    );
  }

  return {
    charged(ctx, counters, counts) {
      for (let i = 0; i < counters.length; i++) {
        const counter = counters[i]!;
        if (counter.owner !== 'account' || counter.cost === 0) continue;
        if (counter.policy === 'quota') quotaCrossed(ctx, counter, counts[i]!);
        else if (counter.policy === 'credits') creditsFell(ctx, counter, counts[i]!);
      }
    },
  };
}
