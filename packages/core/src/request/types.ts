// The request path's public types: what an adapter passes in, what a route asks for, and what
// comes back (a principal and headers, or a refusal).
import type { AuthError } from '../errors/auth-error.js';
import type { VerifyFailureReason } from '../keys/key-manager.js';
import type { JsonValue } from '../keys/key-record.js';
import type { TokenFailureReason } from '../tokens/access-tokens.js';
import type { CredentialKind, CredentialSource, ExtractionFailureReason, RawHeaders } from './credentials.js';
import type { Hold, ReserveOptions } from './holds.js';

/**
 * A framework-free view of one request. Adapters build it from the framework's request without
 * decoding or normalizing anything.
 *
 * @example
 * ```ts
 * const input: AuthRequest = {
 *   method: req.method, url: req.originalUrl, headers: req.headersDistinct, ip: req.ip, secure: req.secure,
 * };
 * ```
 */
export interface AuthRequest {
  /** HTTP method, upper case as Node gives it. */
  method: string;
  /** The raw request target as received (`req.originalUrl`, `ctx.originalUrl`, `request.raw.url`): path and query. */
  url: string;
  /**
   * Header values exactly as sent: Node's `req.rawHeaders` (fastest: only the credential headers are
   * read), or an object keyed by lower-case name with repeated headers as arrays (Node's
   * `req.headersDistinct`). A joined value such as `"a, b"` is refused, never split.
   */
  headers: RawHeaders | readonly string[];
  /** Client address as the framework resolves it under its own trust-proxy setting. */
  ip?: string | undefined;
  /**
   * True when the client's connection is gone and its address unknown (see `VerifyClient`): a cold
   * key verification then costs nothing. Read only when `ip` is undefined. @default false
   */
  disconnected?: boolean | undefined;
  /** Whether the request arrived over TLS, as the framework resolves it. */
  secure?: boolean | undefined;
  /** The framework's id for the request, copied into events so they join the request's log lines. */
  requestId?: string | undefined;
}

/** What a route asks of a credential on top of being valid. */
export interface RouteRequirements {
  /** Every one of these scopes must be held. @default [] */
  scopes?: readonly string[];
  /**
   * Quota units this route charges the key (an upscale may cost 2); the rate limit counts every
   * request as 1. A cost of 0 charges no quota and is never refused by it (downloads keep working
   * after the quota is spent), but still counts against the rate limit. @default 1
   */
  cost?: number;
  /**
   * Authentication is optional here: a request with no credential at all goes on anonymously
   * (the adapters call the next handler without a principal); a credential that is presented is
   * checked as usual, and a wrong one is still refused. @default false
   */
  optional?: boolean;
}

/**
 * Typed metadata on keys and principals. Augment it to type your own fields:
 *
 * @example
 * ```ts
 * declare module '@keywarden/core' {
 *   interface KeyMetadata { plan?: 'free' | 'pro' }
 * }
 * ```
 */
export interface KeyMetadata {
  [key: string]: JsonValue | undefined;
}

/**
 * Who made an authenticated request: `req.auth` (Express), `ctx.state.auth` (Koa),
 * `request.auth` (Fastify). Declared once here; augment it through declaration merging.
 *
 * @example
 * ```ts
 * const principal = getAuth(req);
 * if (principal.kind === 'access_token') console.log('browser upload for', principal.keyId);
 * ```
 */
export interface Principal {
  /** Which credential the request carried: an API key or an access token. */
  kind: CredentialKind;
  /** Id of the API key (for a token, of the key that minted it). */
  keyId: string;
  /** The key's name. */
  name: string;
  /** Scopes granted: the key's, or the token's (never more than its key's). */
  scopes: readonly string[];
  /** Path patterns granted: the key's, or the token's (inside its key's). */
  paths: readonly string[];
  /** The key's owner id. */
  ownerId: string | null;
  /**
   * The key's rotation lineage (its own id unless it was made by rotating another key): where data
   * kept per key should live when a rotated key must keep finding it.
   */
  lineageId: string;
  /**
   * The access token's own id (its `jti` claim), null for an API key: what tells apart two tokens
   * of one key, for example two visitors a server minted tokens for.
   */
  tokenId: string | null;
  /** The key's metadata, typed through {@link KeyMetadata} augmentation. */
  metadata: Readonly<KeyMetadata>;
  /** When the credential stops working: the key's expiry, or the token's. */
  expiresAt: Date | null;
  /**
   * Reserves `units` quota units of the key (a token's: its key) and its account before
   * expensive work, against every limit at once: commit the hold when the work is done, release
   * it when the work failed (its units come back). Throws (or rejects with) keywarden's
   * {@link AuthError} when a limit refuses (429 `quota_exceeded`, 402 `credits_exhausted`, 503 when
   * the counter store is down and limits fail closed), or 400 `invalid_request` for a malformed
   * Idempotency-Key: send it as any refusal. Answers at once when the limit store does (memory,
   * without an Idempotency-Key), else a promise: `await` it. See {@link Keywarden.reserve}.
   *
   * @example
   * ```ts
   * const hold = await getAuth(req).reserve(2, { idempotencyKey: req.headers['idempotency-key'] });
   * try {
   *   res.send(await upscale(image));
   *   hold.commit();
   * } catch (error) {
   *   await hold.release();
   *   throw error;
   * }
   * ```
   */
  reserve(units: number, options?: ReserveOptions): Hold | Promise<Hold>;
}

/** Outcome of {@link Keywarden.authenticate}. */
export type AuthResult =
  | {
      ok: true;
      principal: Principal;
      /** Headers to add to the response (rate-limit headers once limits apply). */
      headers: Readonly<Record<string, string>>;
      /** Where the credential was, for `hideCredentials`. */
      credential: CredentialSource;
    }
  | { ok: false; error: AuthError };

/** Outcome of {@link Keywarden.authorizeAgain}. */
export type StackedResult =
  | {
      ok: true;
      /** Rate-limit headers to set again when more was charged (empty otherwise). */
      headers: Readonly<Record<string, string>>;
      /** The cost charged on this request now: the larger of `charged` and the route's cost. */
      charged: number;
    }
  | { ok: false; error: AuthError };

/** Outcome of {@link Keywarden.chargeUnits}. */
export type ChargeResult =
  | {
      ok: true;
      /** The `RateLimit` headers to send, counting these units (empty for a key without a quota). */
      headers: Readonly<Record<string, string>>;
    }
  | { ok: false; error: AuthError };

/** Internal reasons reported in `auth.failed` events. */
export type AuthFailureReason =
  | VerifyFailureReason
  | ExtractionFailureReason
  | TokenFailureReason
  | 'access_tokens_disabled'
  | 'token_cannot_mint'
  | 'rate_limited'
  | 'quota_exceeded'
  /** The account's quota and its prepaid credits are used up (402). */
  | 'credits_exhausted'
  | 'limit_store_unavailable'
  /** The key's account is suspended. */
  | 'account_suspended'
  /** The key's account names a plan the server's `plans` lack (fails closed: 503). */
  | 'unknown_plan'
  /** The key's account could not be read (503). */
  | 'account_store_unavailable'
  | 'https_required'
  | 'ip_not_allowed'
  | 'path_not_allowed'
  | 'insufficient_scope';
