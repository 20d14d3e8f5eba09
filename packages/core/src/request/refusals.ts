// How the request path says no: an AuthError (status, challenge, problem body) and an
// `auth.failed` event with the precise reason. Refusals are immutable, so each distinct one is
// built once and reused: a flood of bad requests allocates nothing and captures no stack traces.
import { LRUCache } from 'lru-cache';
import { AuthError, type AuthErrorCode, challengeFor } from '../errors/auth-error.js';
import type { VerifyFailureReason } from '../keys/key-manager.js';
import type { KeywardenSettings } from '../keywarden-options.js';
import type { RequestContext } from './context.js';
import { hasInvalidCharacters } from './credentials.js';
import { pathOf } from './path-pattern.js';
import type { AuthFailureReason, AuthResult } from './types.js';

/** The public code of each reason the key manager gives. */
export const CREDENTIAL_FAILURE: Record<VerifyFailureReason, AuthErrorCode> = {
  malformed: 'invalid_credentials',
  bad_checksum: 'invalid_credentials',
  unknown_key: 'invalid_credentials',
  wrong_secret: 'invalid_credentials',
  hash_mismatch: 'invalid_credentials',
  revoked: 'invalid_credentials',
  expired: 'invalid_credentials',
  throttled: 'rate_limited',
  busy: 'auth_unavailable',
  store_unavailable: 'auth_unavailable',
};

/** A refusal: how every stage of the request path says no. */
export type Refused = Extract<AuthResult, { ok: false }>;

export interface Refusals {
  /** The AuthError for a code and challenge schemes (and required scopes), made once. */
  error(code: AuthErrorCode, schemes: readonly string[], scope?: readonly string[]): AuthError;
  /** Refuses with the error for `code`, reporting the credential and key known so far. */
  refuse(
    ctx: RequestContext,
    code: AuthErrorCode,
    reason: AuthFailureReason,
    schemes: readonly string[],
  ): Refused;
  /** Refuses with a prebuilt error (one carrying Retry-After or rate-limit headers). */
  refuseWith(ctx: RequestContext, error: AuthError, reason: AuthFailureReason): Refused;
  /**
   * Refuses a credential that was not accepted. One whose characters are not printable ASCII is a
   * bad request (400, `invalid_characters`): that check waits until now because an accepted
   * credential equals a verified key or token, which cannot hold such characters.
   */
  refuseCredential(
    ctx: RequestContext,
    code: AuthErrorCode,
    reason: AuthFailureReason,
    schemes: readonly string[],
  ): Refused;
  /** A client over its failure budget: 429 with Retry-After, never a 401 (it is not the key's fault). */
  throttled(ctx: RequestContext, retryAfter: number): Refused;
  /** Only a bug could make authentication throw: fail closed (503), never a 500. */
  failClosed(): Refused;
}

export function createRefusals(settings: KeywardenSettings): Refusals {
  const { realm, events, emit, now, allSchemes, meter } = settings;
  const errors = new Map<string, AuthError>();
  // A throttled client's refusals differ only in Retry-After: one error per value.
  const throttledErrors = new LRUCache<number, AuthError>({ max: 1000 });

  function error(code: AuthErrorCode, schemes: readonly string[], scope?: readonly string[]): AuthError {
    const cacheKey = `${code}|${schemes.join(',')}|${scope?.join(' ') ?? ''}`;
    let made = errors.get(cacheKey);
    if (!made) {
      const challenge = challengeFor(code, { schemes, realm, ...(scope ? { scope } : {}) });
      const headers: Record<string, string> = challenge === null ? {} : { 'www-authenticate': challenge };
      // A store that cannot answer or a full hash queue: worth trying again in a moment, and every
      // 503 says so, like the counter store's.
      if (code === 'auth_unavailable') headers['retry-after'] = '1';
      made = new AuthError(code, headers);
      if (errors.size < 1000) errors.set(cacheKey, made);
    }
    return made;
  }

  /** The `auth.failed` event; `anonymous` leaves out the credential (it was not one). */
  function report(
    ctx: RequestContext,
    code: AuthErrorCode,
    reason: AuthFailureReason,
    anonymous = false,
  ): void {
    // Metered only once the key was recognised (verified, or a token's valid parent): a guess at
    // an id must not make usage rows.
    if (ctx.key !== null && ctx.keyId !== null) meter?.refused(ctx.keyId, code, ctx.at);
    // And for its account once the account stage found it (a suspension's refusal too).
    if (ctx.account !== null) meter?.accountRefused(ctx.account.id, code, ctx.at);
    if (!events.wants('auth.failed')) return;
    const { input } = ctx;
    emit({
      type: 'auth.failed',
      time: new Date(now()),
      code,
      reason,
      method: input.method,
      path: pathOf(input.url).slice(0, 512),
      ip: input.ip ?? null,
      kind: anonymous ? null : ctx.kind,
      keyId: anonymous ? null : ctx.keyId,
      requestId: input.requestId ?? null,
    });
  }

  const refuseWith = (ctx: RequestContext, made: AuthError, reason: AuthFailureReason): Refused => {
    report(ctx, made.code, reason);
    return { ok: false, error: made };
  };

  return {
    error,
    refuse: (ctx, code, reason, schemes) => refuseWith(ctx, error(code, schemes), reason),
    refuseWith,
    refuseCredential(ctx, code, reason, schemes) {
      if (ctx.credential !== null && hasInvalidCharacters(ctx.credential.value)) {
        report(ctx, 'invalid_request', 'invalid_characters', true);
        return { ok: false, error: error('invalid_request', allSchemes) };
      }
      return refuseWith(ctx, error(code, schemes), reason);
    },
    throttled(ctx, retryAfter) {
      let made = throttledErrors.get(retryAfter);
      if (!made) {
        made = new AuthError('rate_limited', { 'retry-after': String(retryAfter) });
        throttledErrors.set(retryAfter, made);
      }
      return refuseWith(ctx, made, 'throttled');
    },
    failClosed: () => ({ ok: false, error: error('auth_unavailable', []) }),
  };
}
