// Stage 2: exactly one well-formed credential, or a refusal before any store or hash work.
import { AuthError } from '../errors/auth-error.js';
import type { KeywardenSettings } from '../keywarden-options.js';
import type { RequestContext } from './context.js';
import { extractCredential } from './credentials.js';
import type { Refusals, Refused } from './refusals.js';

/** Finds the credential and its challenge; null to go on, else 401 (nothing) or 400 (malformed). */
export function createExtraction(settings: KeywardenSettings, refusals: Refusals) {
  const { credentials, allSchemes, challenges, defaultChallenge, accessTokenScheme } = settings;
  // The one refusal that explains itself: it says nothing about the credential but where it goes.
  const tokenAsKey = accessTokenScheme
    ? new AuthError(
        'invalid_request',
        refusals.error('invalid_request', allSchemes).headers,
        `Access tokens are sent as "Authorization: ${accessTokenScheme} <token>", not as an API key.`,
      )
    : null;
  return (ctx: RequestContext): Refused | null => {
    const extracted = extractCredential(ctx.input.headers ?? {}, ctx.input.url ?? '', credentials);
    if (!extracted.ok) {
      const { reason } = extracted;
      if (reason === 'no_credentials') {
        // On an optional route, nothing presented is an anonymous request, not a failure: the
        // adapter goes on without a principal, and no event reports it.
        if (ctx.route?.optional)
          return { ok: false, error: refusals.error('missing_credentials', allSchemes) };
        return refusals.refuse(ctx, 'missing_credentials', reason, allSchemes);
      }
      if (reason === 'access_token_as_api_key' && tokenAsKey)
        return refusals.refuseWith(ctx, tokenAsKey, reason);
      return refusals.refuse(ctx, 'invalid_request', reason, allSchemes);
    }
    const { credential } = extracted;
    ctx.credential = credential;
    ctx.kind = credential.kind;
    ctx.challenge = (credential.scheme && challenges.get(credential.scheme)) || defaultChallenge;
    return null;
  };
}
