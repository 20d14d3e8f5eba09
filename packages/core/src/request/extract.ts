// Stage 2: exactly one well-formed credential, or a refusal before any store or hash work.
import type { KeywardenSettings } from '../keywarden-options.js';
import type { RequestContext } from './context.js';
import { extractCredential } from './credentials.js';
import type { Refusals } from './refusals.js';
import type { AuthResult } from './types.js';

/** Finds the credential and its challenge; null to go on, else 401 (nothing) or 400 (malformed). */
export function createExtraction(settings: KeywardenSettings, refusals: Refusals) {
  const { credentials, allSchemes, challenges, defaultChallenge } = settings;
  return (ctx: RequestContext): AuthResult | null => {
    const extracted = extractCredential(ctx.input.headers ?? {}, ctx.input.url ?? '', credentials);
    if (!extracted.ok) {
      return extracted.reason === 'no_credentials'
        ? refusals.refuse(ctx, 'missing_credentials', 'no_credentials', allSchemes)
        : refusals.refuse(ctx, 'invalid_request', extracted.reason, allSchemes);
    }
    const { credential } = extracted;
    ctx.credential = credential;
    ctx.kind = credential.kind;
    ctx.challenge = (credential.scheme && challenges.get(credential.scheme)) || defaultChallenge;
    return null;
  };
}
