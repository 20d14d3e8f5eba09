// Stage 1: the HTTPS rule, before anything is read from the request.
import { AuthError } from '../errors/auth-error.js';
import type { KeywardenSettings } from '../keywarden-options.js';
import type { RequestContext } from './context.js';
import type { Refusals, Refused } from './refusals.js';

/** Refuses plain HTTP with 403 `https_required` when `requireHttps` is on; null to go on. */
export function createHttpsGuard(settings: KeywardenSettings, refusals: Refusals) {
  const { requireHttps } = settings;
  // The usual cause is a TLS proxy the framework does not trust, so the refusal says so.
  const refusal = new AuthError(
    'https_required',
    {},
    'This request arrived over plain HTTP. Behind a proxy that terminates TLS, make the framework trust it ' +
      '(Express: app.set("trust proxy", ...); Koa: app.proxy = true; Fastify: trustProxy) so that it sees HTTPS.',
  );
  return (ctx: RequestContext): Refused | null =>
    requireHttps && ctx.input.secure !== true ? refusals.refuseWith(ctx, refusal, 'https_required') : null;
}
