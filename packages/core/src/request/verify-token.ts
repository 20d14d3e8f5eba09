// Stage 3, for access tokens: the signature and claims, then the parent key, which must still be
// valid (revoking a key ends its tokens at once). A token is bound by its own paths and, should
// the key have been narrowed since, the key's.
import { entryPathOf, isKeyFailure, type KeyViewResult } from '../keys/entry-path.js';
import type { KeywardenSettings } from '../keywarden-options.js';
import { type MaybePromise, thenOrNow } from '../util/maybe-promise.js';
import { type RequestContext, sharedClock } from './context.js';
import { CREDENTIAL_FAILURE, type Refused } from './refusals.js';
import type { VerificationParts } from './verify-key.js';

export function createTokenVerification(settings: KeywardenSettings, parts: VerificationParts) {
  const { tokens, apiKeyScheme } = settings;
  const keys = entryPathOf(settings.keys);
  const sharedAt = sharedClock(settings);
  const { refusals, principals } = parts;
  const mintSchemes: readonly string[] = Object.freeze([apiKeyScheme]);

  function withParent(ctx: RequestContext, parent: KeyViewResult): Refused | null {
    if (isKeyFailure(parent))
      return refusals.refuse(ctx, CREDENTIAL_FAILURE[parent.reason], parent.reason, ctx.challenge);
    ctx.key = parent;
    ctx.principal = principals.ofToken(ctx.claims!, parent);
    // The key's IP allowlist does not apply: tokens exist to be used from browsers.
    ctx.paths = ctx.claims!.paths;
    ctx.alsoPaths = parent.paths;
    return null;
  }

  return (ctx: RequestContext): MaybePromise<Refused | null> => {
    if (ctx.mode === 'mint')
      return refusals.refuseCredential(ctx, 'invalid_credentials', 'token_cannot_mint', mintSchemes);
    if (!tokens)
      return refusals.refuseCredential(ctx, 'invalid_credentials', 'access_tokens_disabled', ctx.challenge);
    const checked = tokens.verify(ctx.credential!.value, ctx.at);
    if (!checked.ok)
      return refusals.refuseCredential(ctx, 'invalid_credentials', checked.reason, ctx.challenge);
    ctx.claims = checked.claims;
    ctx.keyId = checked.claims.sub;
    return thenOrNow(keys.lookupEntryNow(checked.claims.sub, sharedAt(ctx)), ctx, withParent);
  };
}
