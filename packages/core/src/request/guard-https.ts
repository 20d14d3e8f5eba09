// Stage 1: the HTTPS rule, before anything is read from the request.
import type { KeywardenSettings } from '../keywarden-options.js';
import type { RequestContext } from './context.js';
import type { Refusals } from './refusals.js';
import type { AuthResult } from './types.js';

/** Refuses plain HTTP with 403 `https_required` when `requireHttps` is on; null to go on. */
export function createHttpsGuard(settings: KeywardenSettings, refusals: Refusals) {
  const { requireHttps } = settings;
  return (ctx: RequestContext): AuthResult | null =>
    requireHttps && ctx.input.secure !== true
      ? refusals.refuse(ctx, 'https_required', 'https_required', [])
      : null;
}
