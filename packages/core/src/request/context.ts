// What the stages of one request share. One object per request, filled in as the request goes:
// the credential after extraction, the key and principal after verification, the patterns the
// path must match. A class, so every request's object has the same shape.

import type { CachedAccount } from '../accounts/account-cache.js';
import type { AccountTerms } from '../accounts/plans.js';
import type { KeyView } from '../keys/cached-key.js';
import { type Headers, NO_HEADERS } from '../limits/charge.js';
import type { AccessTokenClaims } from '../tokens/access-tokens.js';
import type { CredentialKind, ExtractedCredential } from './credentials.js';
import type { AuthRequest, Principal, RouteRequirements } from './types.js';

/** `request` for a protected route; `mint` for the token mint route (API keys only, no path patterns). */
export type Mode = 'request' | 'mint';

const NO_CHALLENGE: readonly string[] = Object.freeze([]);

export class RequestContext {
  /** The credential presented, once extracted. */
  credential: ExtractedCredential | null = null;
  /** Its kind, for events (a stacked check sets it from the principal). */
  kind: CredentialKind | null = null;
  /** The challenge a 401 about this credential carries: its own scheme. */
  challenge: readonly string[] = NO_CHALLENGE;
  /** The key the credential names, as soon as it is known (for events). */
  keyId: string | null = null;
  /** A token's verified claims. */
  claims: AccessTokenClaims | null = null;
  /** The key that grants the request (a token's parent): its limits and IP allowlist. */
  key: KeyView | null = null;
  principal: Principal | null = null;
  /** The key's account; null for a key without one. */
  account: CachedAccount | null = null;
  /** The limits its plan and overrides give it (set with `account`). */
  terms: AccountTerms | null = null;
  /** Whether the key's IP allowlist applies (keys, not tokens: tokens exist to be used from browsers). */
  checkIp = false;
  /** Patterns the path must match one of (null: any). */
  paths: readonly string[] | null = null;
  /** A second list the path must also match (a token's key's own patterns), or null. */
  alsoPaths: readonly string[] | null = null;
  /** Quota units this run charges: the route's cost (a stacked run: what it adds; a handler's charge). */
  units: number;
  /** Requests this run counts against the rate limit: 1 for a request, 0 for a charge on top of one. */
  requests = 1;
  /** Units an earlier run charged on this request (a router-wide middleware's, before a route's own). */
  charged = 0;
  /** Of this run's units, those the account's credits paid (past its quota). */
  onCredits = 0;
  /** The RateLimit headers the charge stage leaves for the answer. */
  headers: Headers = NO_HEADERS;

  /**
   * @param at - the request's time (epoch ms), read once from keywarden's clock: the token's time
   *   checks, the limits' windows and the usage day all use it, and the key manager too when both
   *   clocks are `Date.now` (one clock read a request: about 0.1 µs each inside a busy server)
   */
  constructor(
    readonly input: AuthRequest,
    readonly route: RouteRequirements | undefined,
    readonly mode: Mode,
    readonly at: number,
  ) {
    this.units = route?.cost ?? 1;
  }
}

/**
 * What the key manager is given as the request's time: `ctx.at` when keywarden's clock is
 * `Date.now` (a manager on `Date.now` too then reads no clock of its own), else nothing.
 */
export function sharedClock(settings: { now: () => number }): (ctx: RequestContext) => number | undefined {
  return settings.now === Date.now ? (ctx) => ctx.at : () => undefined;
}
