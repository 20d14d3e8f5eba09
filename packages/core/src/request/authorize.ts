// Stages 4, 5 and 7: what the valid credential may do here: the key's IP allowlist (keys only), its
// path patterns against the raw path (a token's and its key's), the route's scopes. Each answers null
// to go on. The scope check is the one a stacked middleware and `checkRoute` use too.
import type { RequestContext } from './context.js';
import { pathsAllow } from './path-pattern.js';
import type { Principals } from './principals.js';
import type { Refusals, Refused } from './refusals.js';

/** Stage 4: a key's IP allowlist (a token's key's does not apply: tokens are for browsers). */
export function createIpCheck(refusals: Refusals, principals: Principals) {
  return (ctx: RequestContext): Refused | null => {
    const key = ctx.key!;
    if (ctx.checkIp && key.ips.length > 0 && !principals.ipAllowed(key, ctx.input.ip)) {
      return refusals.refuse(ctx, 'ip_not_allowed', 'ip_not_allowed', []);
    }
    return null;
  };
}

/** Stage 5: the credential's path patterns (and a token's key's) against the raw request path. */
export function createPathCheck(refusals: Refusals) {
  return (ctx: RequestContext): Refused | null =>
    pathsAllow(ctx.paths, ctx.alsoPaths, ctx.input.url)
      ? null
      : refusals.refuse(ctx, 'path_not_allowed', 'path_not_allowed', ctx.challenge);
}

/** Whether `held` lacks one of `required`: the one scope rule of every path. */
export function lacksScope(held: readonly string[], required: readonly string[] | undefined): boolean {
  if (required === undefined) return false;
  for (const scope of required) if (!held.includes(scope)) return true;
  return false;
}

/** Stage 7: the route's required scopes, all held by the principal. */
export function createScopeCheck(refusals: Refusals) {
  return (ctx: RequestContext): Refused | null => {
    const required = ctx.route?.scopes;
    if (!lacksScope(ctx.principal!.scopes, required)) return null;
    return refusals.refuseWith(
      ctx,
      refusals.error('insufficient_scope', ctx.challenge, required),
      'insufficient_scope',
    );
  };
}
