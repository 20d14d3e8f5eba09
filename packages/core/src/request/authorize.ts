// Stage 4: what the valid credential may do here: the key's IP allowlist (keys only), its path
// patterns against the raw path (a token's and its key's), the route's scopes; then charging.
import type { MaybePromise } from '../util/maybe-promise.js';
import type { RequestContext } from './context.js';
import { pathsAllow } from './path-pattern.js';
import type { Principals } from './principals.js';
import type { Refusals } from './refusals.js';
import type { AuthResult } from './types.js';

export function createAuthorization(
  refusals: Refusals,
  principals: Principals,
  charge: (ctx: RequestContext) => MaybePromise<AuthResult>,
) {
  return (ctx: RequestContext): MaybePromise<AuthResult> => {
    const { input, route } = ctx;
    const key = ctx.key!;
    if (ctx.checkIp && key.ips.length > 0 && !principals.ipAllowed(key, input.ip)) {
      return refusals.refuse(ctx, 'ip_not_allowed', 'ip_not_allowed', []);
    }
    if (!pathsAllow(ctx.paths, ctx.alsoPaths, input.url)) {
      return refusals.refuse(ctx, 'path_not_allowed', 'path_not_allowed', ctx.challenge);
    }
    const required = route?.scopes;
    if (required && required.length > 0) {
      for (const scope of required) {
        if (!ctx.principal!.scopes.includes(scope)) {
          return refusals.refuseWith(
            ctx,
            refusals.error('insufficient_scope', ctx.challenge, required),
            'insufficient_scope',
          );
        }
      }
    }
    return charge(ctx);
  };
}
