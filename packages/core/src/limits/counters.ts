// The counters a request charges, made once and reused. A warm request of a limited key finds the
// list it charged last (per charge: a route's cost, and a stacked middleware's extra units with
// rateCost 0, alternate on one key) until a window ends, with its key strings (and so their cached
// string hashes) and window bounds: read-only, so concurrent requests share it.
//
// Two kinds of list:
// - unnamed (`key` empty), for a store that keeps counters in slots by owner (the memory store,
//   slots.ts): one list per key profile and one per account terms, shared by every key and account
//   on them, so a limited key or account costs no counter objects of its own;
// - named, for a store that keys counters by name (Redis): a key's own are `kw:{<key>}:...`; an
//   account key's are its account's (`kw:{a:<account>}:...`) with its own under the account's hash
//   tag (`kw:{a:<account>}:k:<lineage>:...`), so one script (and one Redis Cluster slot) takes
//   them all. A key's counters therefore move under its account's tag when it gets one (its own
//   counts start again then; its account's never do).
import type { AccountTerms } from '../accounts/plans.js';
import type { QuotaSpec, RateLimitSpec } from '../keys/key-record.js';
import type { LimitCounter } from './limit-store.js';
import { quotaPeriod, rateWindow } from './windows.js';

/** A counter together with what the headers need to describe it. */
export interface PolicyCounter extends LimitCounter {
  /** `credits`: an account's prepaid units spent, against what it was granted; it never resets. */
  policy: 'rate' | 'quota' | 'credits';
  /**
   * The limit's name in the RateLimit headers and a 429's detail: `rate` and `quota` for a key's
   * own, `account-rate-<seconds>s` and `account-quota` for its account's.
   */
  label: string;
  /** Whose limit it is: the key's, or its account's. */
  owner: 'key' | 'account';
  /** Window length in seconds, for `RateLimit-Policy`'s `w`. */
  windowSeconds: number;
  /** Window length in ms (a calendar month's varies). */
  windowMs: number;
}

/** What one request charges: `cost` quota units and `rateCost` requests, at `now` (epoch ms). */
export interface Charge {
  cost: number;
  rateCost: number;
  now: number;
}

/** A kept list: what it was made from (compared by identity), its charge and when it holds. */
interface Plan {
  /** What it was made from beside its holder (compared by identity). */
  a: unknown;
  b: unknown;
  cost: number;
  rateCost: number;
  /** The counters hold from `from` until `until` (the first window end). */
  from: number;
  until: number;
  counters: readonly PolicyCounter[];
}

// Per holder (a key record, view or profile, an account's terms): its last lists, one per charge.
// A holder's limits never change (records, views, profiles and terms are frozen; a change makes a
// new one). The holder is the weak key, so one dropped from the caches takes its lists along.
const plans = new WeakMap<object, Plan[]>();
// A holder's lists: per charge (a route's cost, a stacked run's units) and, for a key profile, per
// account terms its keys are charged with (a profile shared by keys of accounts on several plans).
const MAX_PLANS = 8;

// No object made a call: this runs on every request of a limited key.
function kept(holder: object, a: unknown, b: unknown, charge: Charge) {
  const { now } = charge;
  const list = plans.get(holder);
  if (list === undefined) return undefined;
  for (const plan of list) {
    if (
      plan.cost === charge.cost &&
      plan.rateCost === charge.rateCost &&
      now >= plan.from &&
      now < plan.until &&
      plan.a === a &&
      plan.b === b
    )
      return plan.counters;
  }
  return undefined;
}

function keep(
  holder: object,
  made: Pick<Plan, 'a' | 'b'>,
  charge: Charge,
  counters: readonly PolicyCounter[],
) {
  let from = Number.NEGATIVE_INFINITY;
  let until = Number.POSITIVE_INFINITY;
  for (const counter of counters) {
    from = Math.max(from, counter.resetAt - counter.windowMs);
    until = Math.min(until, counter.resetAt);
  }
  const { cost, rateCost } = charge;
  const { a, b } = made;
  const plan: Plan = { a, b, cost, rateCost, from, until, counters };
  // The new plan replaces the one made from the same things for the same charge (its window
  // ended), else the oldest past the most kept.
  const same = (p: Plan) => p.a === a && p.b === b && p.cost === cost && p.rateCost === rateCost;
  const others = (plans.get(holder) ?? []).filter((p) => !same(p));
  plans.set(holder, [plan, ...others.slice(0, MAX_PLANS - 1)]);
  return counters;
}

/** Units each counter allows a second: the tightest (fewest) first, as the headers list them. */
const allowance = (c: PolicyCounter) => c.limit / c.windowSeconds;

/** Whose counters are made, and under which name (`null`: unnamed). */
interface Owner {
  owner: 'key' | 'account';
  tag: string | null;
}

function rateCounter(whose: Owner, spec: RateLimitSpec, charge: Charge): PolicyCounter {
  const { owner, tag } = whose;
  const { now } = charge;
  const { limit, windowSeconds } = spec;
  const { start, end } = rateWindow(windowSeconds, now);
  return Object.freeze({
    policy: 'rate',
    label: owner === 'key' ? 'rate' : `account-rate-${windowSeconds}s`,
    owner,
    key: tag === null ? '' : `${tag}rate:${windowSeconds}:${start}`,
    limit,
    resetAt: end,
    cost: charge.rateCost,
    windowSeconds,
    windowMs: end - start,
  });
}

function quotaCounter(whose: Owner, spec: QuotaSpec, charge: Charge): PolicyCounter {
  const { owner, tag } = whose;
  const { now } = charge;
  const { start, end } = quotaPeriod(spec.period, now);
  return Object.freeze({
    policy: 'quota',
    label: owner === 'key' ? 'quota' : 'account-quota',
    owner,
    key: tag === null ? '' : `${tag}quota:${spec.period}:${start}`,
    limit: spec.limit,
    resetAt: end,
    cost: charge.cost,
    windowSeconds: Math.round((end - start) / 1000),
    windowMs: end - start,
  });
}

/** An owner's limits: its rate windows (null: none) and its quota. */
interface Limits {
  rateLimits: readonly (RateLimitSpec | null)[];
  quota: QuotaSpec | null;
}

/** An owner's counters, added to `into`: each rate window, then the quota. */
function build(whose: Owner, limits: Limits, charge: Charge, into: PolicyCounter[] = []): PolicyCounter[] {
  for (const spec of limits.rateLimits) if (spec !== null) into.push(rateCounter(whose, spec, charge));
  if (limits.quota !== null) into.push(quotaCounter(whose, limits.quota, charge));
  return into;
}

/**
 * With an exact length (a pushed-to array keeps spare capacity); `sorted`: tightest first (a key's
 * own two stay rate, then quota, as its headers always listed them). Read-only by its type, not
 * frozen: V8 (Node 20) reads the elements of a frozen array through a generic call, not inline,
 * and every counter of every request is read by index four times over (the store, the headers,
 * the thresholds): frozen lists cost a request of a key and its account's limits about 2,100 of
 * the 7,300 CPU instructions its limits added (`node bench/charges-instructions.mjs`). The counters
 * in the list stay frozen (their fields read inline either way).
 */
function finish(counters: PolicyCounter[], sorted = true): readonly PolicyCounter[] {
  if (sorted && counters.length > 1) counters.sort((x, y) => allowance(x) - allowance(y));
  return counters.slice();
}

const NOTHING_MORE = Object.freeze({ a: null, b: null });
const KEY = 'key' as const;
const ACCOUNT = 'account' as const;

/**
 * The counters charged for one request of a key: the rate limit counts requests (`rateCost`, 1
 * whatever the route's cost; 0 to only read it), the quota counts the route's cost. `limits` is
 * any object holding the key's `rateLimit` and `quota` (its record, or its shared profile); the
 * same list comes back while nothing about it changed. With a null `keyId` the counters
 * are unnamed (for slots): every key with the same `limits` object shares them.
 */
export function keyCounters(
  keyId: string | null,
  limits: { rateLimit: RateLimitSpec | null; quota: QuotaSpec | null },
  charge: Charge,
): readonly PolicyCounter[] {
  const found = kept(limits, keyId, null, charge);
  if (found !== undefined) return found;
  const whose = { owner: KEY, tag: keyId === null ? null : `kw:{${keyId}}:` };
  const counters = finish(
    build(whose, { rateLimits: [limits.rateLimit], quota: limits.quota }, charge),
    false,
  );
  return keep(limits, { a: keyId, b: null }, charge, counters);
}

/** An account's counters, unnamed (for slots): one list per terms, shared by the accounts on them. */
export function accountCounters(terms: AccountTerms, charge: Charge): readonly PolicyCounter[] {
  const found = kept(terms, null, null, charge);
  if (found !== undefined) return found;
  const counters = finish(build({ owner: ACCOUNT, tag: null }, terms, charge));
  return keep(terms, NOTHING_MORE, charge, counters);
}

/**
 * The unnamed counters of one request of a key with `limits` (its profile) of an account on
 * `terms`: the key's and the account's in one list, tightest first, for one consume. Kept per
 * profile and terms.
 */
export function keyAndAccountCounters(
  limits: { rateLimit: RateLimitSpec | null; quota: QuotaSpec | null },
  terms: AccountTerms,
  charge: Charge,
): readonly PolicyCounter[] {
  const found = kept(limits, terms, null, charge);
  if (found !== undefined) return found;
  const ofAccount = accountCounters(terms, charge);
  const ofKey = limits.rateLimit || limits.quota ? keyCounters(null, limits, charge) : NO_COUNTERS;
  const both = ofKey.length === 0 ? ofAccount : finish([...ofKey, ...ofAccount]);
  return keep(limits, { a: terms, b: null }, charge, both);
}

/** No counters: a key without limits of its own. */
export const NO_COUNTERS: readonly PolicyCounter[] = [];

/**
 * The named counters of one request of `key` (its rotation lineage) with its account's: one list
 * a store consumes all or nothing. Kept per key view.
 */
export function namedAccountCounters(
  key: { lineageId: string; rateLimit: RateLimitSpec | null; quota: QuotaSpec | null },
  accountId: string,
  terms: AccountTerms,
  charge: Charge,
): readonly PolicyCounter[] {
  const found = kept(key, accountId, terms, charge);
  if (found !== undefined) return found;
  // encodeURIComponent: an account id may hold `{`, `}` or `:`, which would end the hash tag or
  // make two accounts' names meet.
  const tag = `kw:{a:${encodeURIComponent(accountId)}}:`;
  const ofKey = { owner: KEY, tag: `${tag}k:${key.lineageId}:` };
  const counters = build(ofKey, { rateLimits: [key.rateLimit], quota: key.quota }, charge);
  build({ owner: ACCOUNT, tag }, terms, charge, counters);
  return keep(key, { a: accountId, b: terms }, charge, finish(counters));
}

/** When a credits counter's "window" ends: never, in practice (it is a balance, not a window). */
export const CREDITS_END = Date.UTC(2100, 0, 1);

// Per account (its cached object: a top-up makes a new one), the list a request charges once its
// quota is used up: its last base list with the quota counter swapped for its credits.
const overage = new WeakMap<object, { base: readonly PolicyCounter[]; list: readonly PolicyCounter[] }>();

/**
 * `counters` with the account's quota counter replaced by its credits counter (the same cost,
 * against the credits granted, never reset), in the same place: what a request past the quota
 * charges on a plan with overage on credits. `named`: name it (a store that keys counters by name)
 * under the account's hash tag.
 */
export function creditsInstead(
  counters: readonly PolicyCounter[],
  account: { id: string; credits: number },
  named: boolean,
): readonly PolicyCounter[] {
  const kept = overage.get(account);
  if (kept !== undefined && kept.base === counters) return kept.list;
  const list = counters.map((counter) =>
    counter.owner === 'account' && counter.policy === 'quota'
      ? creditsCounter(account, named, counter.cost)
      : counter,
  );
  overage.set(account, { base: counters, list });
  return list;
}

/** An account's credits counter, charging `cost` units. */
export function creditsCounter(
  account: { id: string; credits: number },
  named: boolean,
  cost: number,
): PolicyCounter {
  return Object.freeze({
    policy: 'credits',
    label: 'account-credits',
    owner: 'account',
    key: named ? `kw:{a:${encodeURIComponent(account.id)}}:credits` : '',
    limit: account.credits,
    resetAt: CREDITS_END,
    cost,
    windowSeconds: 0,
    windowMs: CREDITS_END,
  });
}
