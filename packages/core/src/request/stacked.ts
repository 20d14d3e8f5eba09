// A second keywarden middleware on a request the first one authenticated (a router-wide one, then
// a route's own): the route's scopes against the principal, and the quota units its cost adds.

import type { AuthError } from '../errors/auth-error.js';
import { integerOption } from '../errors/options.js';
import type { KeywardenSettings } from '../keywarden-options.js';
import type { Charging, Headers } from '../limits/charge.js';
import { NO_HEADERS } from '../limits/charge.js';
import { type MaybePromise, thenOrNow } from '../util/maybe-promise.js';
import { RequestContext } from './context.js';
import type { Principals } from './principals.js';
import type { Refusals } from './refusals.js';
import type {
  AuthRequest,
  AuthResult,
  ChargeResult,
  Principal,
  RouteRequirements,
  StackedResult,
} from './types.js';

export interface StackedParts {
  refusals: Refusals;
  principals: Principals;
  charging: Charging;
}

export function createStackedChecks(settings: KeywardenSettings, parts: StackedParts) {
  const { accessTokenScheme, apiKeyScheme, meter, now } = settings;
  const { refusals, principals, charging } = parts;

  function checkRoute(principal: Principal, route: RouteRequirements | undefined): AuthError | null {
    const required = route?.scopes;
    if (!required) return null;
    for (const scope of required) {
      if (!principal.scopes.includes(scope)) {
        const scheme =
          principal.kind === 'access_token' && accessTokenScheme ? accessTokenScheme : apiKeyScheme;
        return refusals.error('insufficient_scope', [scheme], required);
      }
    }
    return null;
  }

  function authorizeAgain(
    input: AuthRequest,
    principal: Principal,
    route: RouteRequirements | undefined,
    charged: number,
  ): MaybePromise<StackedResult> {
    const error = checkRoute(principal, route);
    if (error) return { ok: false, error };
    const cost = route?.cost ?? 1;
    const key = principals.keyOf(principal);
    if (cost <= charged || key === undefined || !key.quota) {
      // The meter counted the request and its first cost; a larger cost adds its units.
      if (cost > charged) meter?.admitted(principal.keyId, cost - charged, 0);
      return { ok: true, headers: NO_HEADERS, charged: Math.max(cost, charged) };
    }
    const ctx = new RequestContext(input, route, 'request', now());
    ctx.kind = principal.kind;
    ctx.keyId = principal.keyId;
    ctx.key = key;
    // Only the quota takes the difference: the rate limit counted this request already (0 reads it).
    const extra = { cost, units: cost - charged, keyId: principal.keyId };
    return thenOrNow(charging.charge(ctx, cost - charged, 0), extra, stackedResult);
  }

  /** A request's stand-in for a charge made outside any request (events show no method or path). */
  const NO_REQUEST: AuthRequest = { method: '', url: '', headers: [] };

  function chargeUnits(
    principal: Principal,
    units: number,
    request: AuthRequest = NO_REQUEST,
  ): MaybePromise<ChargeResult> {
    integerOption('chargeUnits.units', units, 0, { min: 0, max: Number.MAX_SAFE_INTEGER });
    const key = principals.keyOf(principal);
    if (units === 0) return { ok: true, headers: NO_HEADERS };
    if (key === undefined || !key.quota) {
      meter?.admitted(principal.keyId, units, 0);
      return { ok: true, headers: NO_HEADERS };
    }
    const ctx = new RequestContext(request, undefined, 'request', now());
    ctx.kind = principal.kind;
    ctx.keyId = principal.keyId;
    ctx.key = key;
    // The quota takes the units; the rate limit counted the request when it was authenticated.
    return thenOrNow(charging.charge(ctx, units, 0), { keyId: principal.keyId, units }, chargeResult);
  }

  function chargeResult(extra: { keyId: string; units: number }, result: Headers | AuthResult): ChargeResult {
    if ('ok' in result) return result as ChargeResult;
    meter?.admitted(extra.keyId, extra.units, 0);
    return { ok: true, headers: result as Headers };
  }

  function stackedResult(
    extra: { cost: number; units: number; keyId: string },
    result: Headers | AuthResult,
  ): StackedResult {
    if ('ok' in result) return result as StackedResult;
    meter?.admitted(extra.keyId, extra.units, 0);
    return { ok: true, headers: result as Headers, charged: extra.cost };
  }

  return { checkRoute, authorizeAgain, chargeUnits };
}
