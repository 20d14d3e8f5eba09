// The counters a request of an account's key charges: the key's own (of its rotation lineage) and
// its account's, in one list that a store consumes all or nothing. Every counter of an account
// shares one Redis hash tag, the account's, so one script (and one Redis Cluster slot) takes them
// all; a key's counters therefore move under its account's tag when it gets one (its per-key
// counts start again then; the account's never do).
import type { AccountView } from '../accounts/plans.js';
import type { KeyView } from '../keys/cached-key.js';
import type { PolicyCounter } from './key-counters.js';
import { quotaPeriod, rateWindow } from './windows.js';

interface Plan {
  account: AccountView;
  rateLimit: KeyView['rateLimit'];
  quota: KeyView['quota'];
  lineageId: string;
  cost: number;
  rateCost: number;
  from: number;
  until: number;
  counters: readonly PolicyCounter[];
}

// The last lists built for each key (its cached entry), one per charge (a route's cost, a stacked
// run's units): a warm request reuses them until a window ends or the key or account changes (a
// change makes new objects, compared by identity).
const plans = new WeakMap<KeyView, Plan[]>();
const MAX_PLANS = 4;

/** Units each counter allows a second: the tightest (fewest) first, as the headers list them. */
const allowance = (c: PolicyCounter) => c.limit / c.windowSeconds;

/** Where a counter is kept and whose it is. */
interface Place {
  tag: string;
  owner: 'key' | 'account';
  now: number;
}

function rate(place: Place, spec: { limit: number; windowSeconds: number }, cost: number): PolicyCounter {
  const { tag, owner, now } = place;
  const { limit, windowSeconds } = spec;
  const { start, end } = rateWindow(windowSeconds, now);
  return {
    policy: 'rate',
    label: owner === 'key' ? 'rate' : `account-rate-${windowSeconds}s`,
    owner,
    key: `${tag}rate:${windowSeconds}:${start}`,
    limit,
    resetAt: end,
    cost,
    windowSeconds,
    windowMs: end - start,
  };
}

function quota(place: Place, spec: NonNullable<KeyView['quota']>, cost: number): PolicyCounter {
  const { tag, owner, now } = place;
  const { start, end } = quotaPeriod(spec.period, now);
  return {
    policy: 'quota',
    label: owner === 'key' ? 'quota' : 'account-quota',
    owner,
    key: `${tag}quota:${spec.period}:${start}`,
    limit: spec.limit,
    resetAt: end,
    cost,
    windowSeconds: Math.round((end - start) / 1000),
    windowMs: end - start,
  };
}

function build(key: KeyView, account: AccountView, charge: { cost: number; rateCost: number }, now: number) {
  // encodeURIComponent: an account id may hold `{`, `}` or `:`, which would end the hash tag or
  // make two accounts' names meet.
  const tag = `kw:{a:${encodeURIComponent(account.id)}}:`;
  const ofKey: Place = { tag: `${tag}k:${key.lineageId}:`, owner: 'key', now };
  const ofAccount: Place = { tag, owner: 'account', now };
  const counters: PolicyCounter[] = [];
  if (key.rateLimit) counters.push(rate(ofKey, key.rateLimit, charge.rateCost));
  if (key.quota) counters.push(quota(ofKey, key.quota, charge.cost));
  for (const spec of account.rateLimits) counters.push(rate(ofAccount, spec, charge.rateCost));
  if (account.quota) counters.push(quota(ofAccount, account.quota, charge.cost));
  counters.sort((a, b) => allowance(a) - allowance(b));
  for (const counter of counters) Object.freeze(counter);
  return Object.freeze(counters);
}

/**
 * The counters one request of `key`, of `account`, charges: `cost` quota units and `rateCost`
 * requests. The same frozen list comes back while nothing about it changed.
 */
export function accountCounters(
  key: KeyView,
  account: AccountView,
  charge: { cost: number; rateCost: number },
  now: number,
): readonly PolicyCounter[] {
  const list = plans.get(key);
  if (list !== undefined) {
    for (const plan of list) {
      if (
        plan.account === account &&
        plan.cost === charge.cost &&
        plan.rateCost === charge.rateCost &&
        now >= plan.from &&
        now < plan.until &&
        plan.rateLimit === key.rateLimit &&
        plan.quota === key.quota &&
        plan.lineageId === key.lineageId
      )
        return plan.counters;
    }
  }
  const counters = build(key, account, charge, now);
  let from = Number.NEGATIVE_INFINITY;
  let until = Number.POSITIVE_INFINITY;
  for (const counter of counters) {
    from = Math.max(from, counter.resetAt - counter.windowMs);
    until = Math.min(until, counter.resetAt);
  }
  const plan: Plan = {
    account,
    rateLimit: key.rateLimit,
    quota: key.quota,
    lineageId: key.lineageId,
    cost: charge.cost,
    rateCost: charge.rateCost,
    from,
    until,
    counters,
  };
  const kept = (list ?? []).filter(
    (p) => p.account === account && (p.cost !== plan.cost || p.rateCost !== plan.rateCost),
  );
  plans.set(key, [plan, ...kept.slice(0, MAX_PLANS - 1)]);
  return counters;
}
