import type { AuthErrorCode } from './errors/auth-error.js';
import type { AuthFailureReason } from './request/types.js';

/**
 * Everything keywarden reports through the `onEvent` hook. Keys appear only as their public id or
 * prefix, never as a secret, so events can go straight to a logger such as pino.
 *
 * @example
 * ```ts
 * createKeyManager({ store, onEvent: (event) => logger.info(event, event.type) });
 * ```
 */
export type KeywardenEvent =
  | {
      type: 'auth.succeeded';
      time: Date;
      kind: 'api_key' | 'access_token';
      keyId: string;
      method: string;
      /** Request path without the query (the query may hold a credential). */
      path: string;
    }
  | {
      type: 'auth.failed';
      time: Date;
      /** The public error code sent to the client. */
      code: AuthErrorCode;
      /** The precise internal reason, e.g. `wrong_secret` or `duplicate_header`. Never sent to the client. */
      reason: AuthFailureReason;
      method: string;
      path: string;
      ip: string | null;
      kind: 'api_key' | 'access_token' | null;
      /** Public key id, when the credential was well formed enough to name one. */
      keyId: string | null;
    }
  | {
      type: 'token.minted';
      time: Date;
      keyId: string;
      /** The token's `jti`; the token itself is never reported. */
      tokenId: string;
      expiresIn: number;
      paths: string[];
    }
  | {
      type: 'limit.exceeded';
      time: Date;
      keyId: string;
      policy: 'rate' | 'quota';
      limit: number;
      /** Cost of the refused request. */
      cost: number;
    }
  | { type: 'key.created'; time: Date; keyId: string; prefix: string; name: string }
  | { type: 'key.updated'; time: Date; keyId: string; fields: string[] }
  | { type: 'key.rotated'; time: Date; keyId: string; newKeyId: string; oldKeyExpiresAt: Date }
  | { type: 'key.revoked'; time: Date; keyId: string }
  | { type: 'key.deleted'; time: Date; keyId: string }
  | { type: 'store.error'; time: Date; operation: string; message: string };

/** The `onEvent` hook. Exceptions it throws are swallowed: logging must never break auth. */
export type EventHandler = (event: KeywardenEvent) => void;

/** Wraps a user hook so that it can neither throw into the caller nor be missing. */
export function safeEventHandler(handler: EventHandler | undefined): EventHandler {
  if (!handler) return () => {};
  return (event) => {
    try {
      handler(event);
    } catch {
      // Deliberately ignored: see EventHandler.
    }
  };
}
