// The end of the request path, past every stage: the principal, the headers to set, where the
// credential was (for `hideCredentials`), the request counted by the meter, and an
// `auth.succeeded` event when anyone listens.
import type { KeywardenSettings } from '../keywarden-options.js';
import type { RequestContext } from './context.js';
import { pathOf } from './path-pattern.js';
import type { AuthResult } from './types.js';

export function createSuccess(settings: KeywardenSettings) {
  const { events, emit, now, meter } = settings;
  return (ctx: RequestContext): AuthResult => {
    // The units are the route's cost, as the quota charges them (a token counts toward its key).
    if (meter !== null) {
      meter.admitted(ctx.keyId!, ctx.units, ctx.requests, ctx.at);
      if (ctx.account !== null) {
        meter.accountAdmitted(ctx.account.id, ctx.units, ctx.requests, ctx.at);
        if (ctx.onCredits > 0) meter.accountCredits(ctx.account.id, ctx.onCredits, ctx.at);
      }
    }
    if (events.wants('auth.succeeded')) {
      emit({
        type: 'auth.succeeded',
        time: new Date(now()),
        kind: ctx.kind!,
        keyId: ctx.keyId!,
        method: ctx.input.method,
        path: pathOf(ctx.input.url).slice(0, 512),
        requestId: ctx.input.requestId ?? null,
      });
    }
    return { ok: true, principal: ctx.principal!, headers: ctx.headers, credential: ctx.credential!.source };
  };
}
