// Runs that start with a principal already established: a second keywarden middleware on a request
// the first one authenticated (a router-wide one, then a route's own), and a handler charging
// units for work done. Both run the request path's stages from the account check on (the
// account's status and limits as they are now; the scope check, which a handler's charge passes
// with no route), so a stage added there applies here too.

import type { AuthError } from '../errors/auth-error.js';
import type { KeywardenSettings } from '../keywarden-options.js';
import { NO_HEADERS } from '../limits/charge.js';
import type { MaybePromise } from '../util/maybe-promise.js';
import { integerOption } from '../util/options.js';
import { lacksScope } from './authorize.js';
import { RequestContext } from './context.js';
import { createPipeline, type Stage } from './pipeline.js';
import type { Principals } from './principals.js';
import type { Refusals } from './refusals.js';
import type { AuthRequest, ChargeResult, Principal, RouteRequirements, StackedResult } from './types.js';

export interface StackedParts {
  refusals: Refusals;
  principals: Principals;
  /** The request path's stages from the account check on. */
  fromAccount: readonly Stage[];
}

/** A request's stand-in for a charge made outside any request (events show no method or path). */
const NO_REQUEST: AuthRequest = { method: '', url: '', headers: [] };

export function createStackedChecks(settings: KeywardenSettings, parts: StackedParts) {
  const { accessTokenScheme, apiKeyScheme, meter, now } = settings;
  const { refusals, principals } = parts;
  const tokenChallenge = Object.freeze([accessTokenScheme || apiKeyScheme]);
  const keyChallenge = Object.freeze([apiKeyScheme]);

  /** A context as the verification stage leaves it, for a principal established earlier. */
  function contextOf(input: AuthRequest, principal: Principal, route: RouteRequirements | undefined) {
    const ctx = new RequestContext(input, route, 'request', now());
    ctx.kind = principal.kind;
    ctx.keyId = principal.keyId;
    ctx.key = principals.keyOf(principal) ?? null;
    ctx.principal = principal;
    ctx.challenge = principal.kind === 'access_token' ? tokenChallenge : keyChallenge;
    // The rate limit counted this request when it was authenticated: these runs charge units only.
    ctx.requests = 0;
    return ctx;
  }

  /** Units charged past the stages: metered (the request itself was, when it was authenticated). */
  function meterUnits(ctx: RequestContext): void {
    if (ctx.units === 0 || !meter) return;
    meter.admitted(ctx.keyId!, ctx.units, 0, ctx.at);
    if (ctx.account === null) return;
    meter.accountAdmitted(ctx.account.id, ctx.units, 0, ctx.at);
    if (ctx.onCredits > 0) meter.accountCredits(ctx.account.id, ctx.onCredits, ctx.at);
  }

  const runStacked = createPipeline(parts.fromAccount, (ctx): StackedResult => {
    meterUnits(ctx);
    return { ok: true, headers: ctx.headers, charged: ctx.charged + ctx.units };
  });
  const runCharge = createPipeline(parts.fromAccount, (ctx): ChargeResult => {
    meterUnits(ctx);
    return { ok: true, headers: ctx.headers };
  });
  // A hold's charge: metered when it is committed, not now.
  const runReserve = createPipeline(parts.fromAccount, (ctx) => ctx);

  /** The scope check alone, without a request: the refusal, not reported (nothing was requested). */
  function checkRoute(principal: Principal, route: RouteRequirements | undefined): AuthError | null {
    const required = route?.scopes;
    if (!lacksScope(principal.scopes, required)) return null;
    const challenge = principal.kind === 'access_token' ? tokenChallenge : keyChallenge;
    return refusals.error('insufficient_scope', challenge, required);
  }

  function authorizeAgain(
    input: AuthRequest,
    principal: Principal,
    route: RouteRequirements | undefined,
    charged: number,
  ): MaybePromise<StackedResult> {
    const ctx = contextOf(input, principal, route);
    ctx.charged = charged;
    // Only what the route's cost adds over what was charged (a bad cost stays NaN: refused).
    ctx.units = Math.max(0, (route?.cost ?? 1) - charged);
    return runStacked(ctx);
  }

  function chargeUnits(
    principal: Principal,
    units: number,
    request: AuthRequest = NO_REQUEST,
  ): MaybePromise<ChargeResult> {
    integerOption('chargeUnits.units', units, 0, { min: 0, max: Number.MAX_SAFE_INTEGER });
    if (units === 0) return { ok: true, headers: NO_HEADERS };
    const ctx = contextOf(request, principal, undefined);
    ctx.units = units;
    return runCharge(ctx);
  }

  /** A hold's charge of `units`: the context it leaves (what was charged), or the refusal. */
  function reserveUnits(principal: Principal, units: number, request: AuthRequest = NO_REQUEST) {
    const ctx = contextOf(request, principal, undefined);
    ctx.units = units;
    return runReserve(ctx);
  }

  return { checkRoute, authorizeAgain, chargeUnits, reserveUnits };
}
