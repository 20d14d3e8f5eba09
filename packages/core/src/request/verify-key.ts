// Stage 3, for API keys: the key manager checks the key (synchronously when it is warm); a valid
// key's principal and patterns are left in the context for the checks after it.
import { entryPathOf, isKeyFailure, type KeyViewResult } from '../keys/entry-path.js';
import type { KeywardenSettings } from '../keywarden-options.js';
import { type MaybePromise, thenOrNow } from '../util/maybe-promise.js';
import { type RequestContext, sharedClock } from './context.js';
import type { Principals } from './principals.js';
import { CREDENTIAL_FAILURE, type Refusals, type Refused } from './refusals.js';

export interface VerificationParts {
  refusals: Refusals;
  principals: Principals;
}

export function createKeyVerification(settings: KeywardenSettings, parts: VerificationParts) {
  const keys = entryPathOf(settings.keys);
  const sharedAt = sharedClock(settings);
  const { refusals, principals } = parts;

  function verified(ctx: RequestContext, result: KeyViewResult): Refused | null {
    if (isKeyFailure(result)) {
      ctx.keyId = result.keyId ?? null;
      if (result.reason === 'throttled') return refusals.throttled(ctx, result.retryAfter ?? 1);
      return refusals.refuseCredential(ctx, CREDENTIAL_FAILURE[result.reason], result.reason, ctx.challenge);
    }
    const key = result;
    ctx.keyId = key.id;
    ctx.key = key;
    ctx.principal = principals.ofKey(key, ctx.kind!);
    ctx.checkIp = true;
    // The mint route is reachable by any valid key: what a key may mint is limited by its patterns instead.
    ctx.paths = ctx.mode === 'mint' ? null : key.paths;
    return null;
  }

  // The request is the client: failed verifications are budgeted per address.
  return (ctx: RequestContext): MaybePromise<Refused | null> =>
    thenOrNow(keys.verifyEntryNow(ctx.credential!.value, ctx.input, sharedAt(ctx)), ctx, verified);
}
