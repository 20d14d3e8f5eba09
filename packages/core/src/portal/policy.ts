// What a provider lets its customers do with their own keys through the portal: every request of
// the portal is checked against this, so a customer can only ever narrow what the policy grants.

import type { QuotaSpec, RateLimitSpec } from '../keys/key-record.js';
import { isPatternWithin, isValidPathPattern } from '../request/path-pattern.js';
import { integerOption, optionsObject } from '../util/options.js';

/**
 * The bounds of self-service keys. Customers choose within them; what they cannot choose (the
 * rate limit and quota of a key) comes from here.
 *
 * @example
 * ```ts
 * const policy: PortalPolicy = {
 *   maxKeysPerOwner: 5,
 *   scopes: ['images:read', 'images:write'],
 *   paths: ['/v3/*'],
 *   rateLimit: { limit: 60, windowSeconds: 60 },
 *   quota: { limit: 50, period: 'month' },
 * };
 * ```
 */
export interface PortalPolicy {
  /** Keys an owner may hold at once (revoked and expired keys do not count). @default 10 */
  maxKeysPerOwner?: number;
  /** Scopes a customer may give a key; a new key without a choice gets all of them. @default [] */
  scopes?: readonly string[];
  /** Path patterns a key may be limited to; each chosen pattern must lie within one. @default ['*'] */
  paths?: readonly string[];
  /** Key environments a customer may pick; the first is the default. @default the key manager's default */
  environments?: readonly string[];
  /** Rate limit of every portal key (customers cannot change it). @default null (none) */
  rateLimit?: RateLimitSpec | null;
  /** Quota of every portal key (customers cannot change it). @default null (none) */
  quota?: QuotaSpec | null;
  /** Longest lifetime a customer may give a key, in seconds; null lets keys never expire. @default null */
  maxExpiresInSeconds?: number | null;
  /** Grace period of a rotation when none is asked, and the longest allowed, in seconds. @default 86400 both */
  rotationGraceSeconds?: { default?: number; max?: number };
  /**
   * Most keys an owner may make (created or rotated, whatever became of them since) per window:
   * revoking and making keys again is churn no customer needs. @default { limit: 10, windowSeconds: 3600 }
   */
  keyCreations?: { limit: number; windowSeconds: number };
}

/** The policy, checked once. */
export interface ResolvedPolicy {
  maxKeysPerOwner: number;
  scopes: readonly string[];
  paths: readonly string[];
  environments: readonly string[] | null;
  rateLimit: RateLimitSpec | null;
  quota: QuotaSpec | null;
  maxExpiresInSeconds: number | null;
  graceDefault: number;
  graceMax: number;
  keyCreations: { limit: number; windowSeconds: number };
}

const POLICY_KEYS = [
  'maxKeysPerOwner',
  'scopes',
  'paths',
  'environments',
  'rateLimit',
  'quota',
  'maxExpiresInSeconds',
  'rotationGraceSeconds',
  'keyCreations',
];

function strings(name: string, value: unknown, fallback: readonly string[]): readonly string[] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw new TypeError(`keywarden: portal policy.${name} must be an array of strings`);
  return Object.freeze([...value]);
}

export function resolvePolicy(policy: PortalPolicy = {}): ResolvedPolicy {
  const p = optionsObject('policy', policy, POLICY_KEYS);
  const paths = strings('paths', p.paths, ['*']);
  if (!paths.every(isValidPathPattern))
    throw new TypeError('keywarden: portal policy.paths holds an invalid pattern');
  const grace = optionsObject('policy.rotationGraceSeconds', p.rotationGraceSeconds, ['default', 'max']);
  const graceMax = integerOption('policy.rotationGraceSeconds.max', grace.max, 86_400, { min: 0 });
  const graceDefault = integerOption(
    'policy.rotationGraceSeconds.default',
    grace.default,
    Math.min(86_400, graceMax),
    {
      min: 0,
      max: graceMax,
    },
  );
  return {
    maxKeysPerOwner: integerOption('policy.maxKeysPerOwner', p.maxKeysPerOwner, 10, { max: 1000 }),
    scopes: strings('scopes', p.scopes, []),
    paths,
    environments: p.environments === undefined ? null : strings('environments', p.environments, []),
    rateLimit: p.rateLimit ?? null,
    quota: p.quota ?? null,
    maxExpiresInSeconds:
      p.maxExpiresInSeconds === undefined || p.maxExpiresInSeconds === null
        ? null
        : integerOption('policy.maxExpiresInSeconds', p.maxExpiresInSeconds, 0),
    graceDefault,
    graceMax,
    keyCreations: creationsOf(p.keyCreations),
  };
}

function creationsOf(given: PortalPolicy['keyCreations']): ResolvedPolicy['keyCreations'] {
  const o = optionsObject('policy.keyCreations', given, ['limit', 'windowSeconds']);
  return Object.freeze({
    limit: integerOption('policy.keyCreations.limit', o.limit, 10, { max: 100_000 }),
    windowSeconds: integerOption('policy.keyCreations.windowSeconds', o.windowSeconds, 3600, {
      max: 31 * 86400,
    }),
  });
}

/** Whether every chosen pattern lies within one the policy allows. */
export function pathsAllowed(chosen: readonly string[], allowed: readonly string[]): boolean {
  return chosen.every((pattern) => allowed.some((outer) => isPatternWithin(pattern, outer)));
}
