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
      /** The framework's request id (Fastify's `request.id`, pino-http's `req.id`), to join request logs; null without one. */
      requestId: string | null;
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
      /** The framework's request id, to join request logs; null without one. */
      requestId: string | null;
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
      /** `credits`: past the quota, the account's prepaid credits are used up too (402). */
      policy: 'rate' | 'quota' | 'credits';
      limit: number;
      /** Cost of the refused request. */
      cost: number;
      /** The framework's request id, to join request logs; null without one. */
      requestId: string | null;
    }
  | {
      /** An account's usage crossed a share of its quota (once per period across instances). */
      type: 'usage.threshold';
      time: Date;
      accountId: string;
      kind: 'quota';
      /** The share crossed, in percent. */
      percent: number;
      limit: number;
      /** Units used when it was seen crossed. */
      used: number;
      /** When the quota period ends. */
      resetAt: Date;
    }
  | {
      /** An account's prepaid credits left fell below the configured floor (once per top-up). */
      type: 'usage.threshold';
      time: Date;
      accountId: string;
      kind: 'credits';
      floor: number;
      granted: number;
      left: number;
    }
  | { type: 'key.created'; time: Date; keyId: string; prefix: string; name: string }
  | { type: 'key.updated'; time: Date; keyId: string; fields: string[] }
  | { type: 'key.rotated'; time: Date; keyId: string; newKeyId: string; oldKeyExpiresAt: Date }
  | { type: 'key.revoked'; time: Date; keyId: string }
  | { type: 'key.deleted'; time: Date; keyId: string }
  | {
      /** A key verified by one of `earlierHashers` was hashed again with the current hasher. */
      type: 'key.rehashed';
      time: Date;
      keyId: string;
      /** The earlier hasher's id (`argon2id`), and the current one's (`hmac-sha256`). */
      from: string;
      to: string;
    }
  | { type: 'account.created'; time: Date; accountId: string; plan: string }
  | { type: 'account.updated'; time: Date; accountId: string; fields: string[] }
  | {
      type: 'account.credited';
      time: Date;
      accountId: string;
      /** Units added. */
      amount: number;
      /** Why (an invoice, a goodwill grant): for the audit trail. */
      reason: string;
      /** The account's credits granted in all, after this top-up. */
      credits: number;
    }
  | { type: 'account.suspended'; time: Date; accountId: string }
  | { type: 'account.resumed'; time: Date; accountId: string }
  | {
      /** An account names a plan the server's `plans` lack: its keys get 503 until that is fixed. */
      type: 'account.plan_unknown';
      time: Date;
      accountId: string;
      plan: string;
    }
  | {
      type: 'account.deleted';
      time: Date;
      accountId: string;
      /** How many of its keys the deletion revoked (keys never outlive their account's limits). */
      keysRevoked: number;
    }
  | {
      /** A hold was neither committed nor released within its timeout: its units went back. */
      type: 'hold.expired';
      time: Date;
      keyId: string;
      units: number;
      timeoutMs: number;
    }
  | { type: 'store.error'; time: Date; operation: string; message: string }
  | {
      /** A customer changed one of their keys through the portal: who, what, which key. */
      type: 'portal.action';
      time: Date;
      /** The owner your `resolveOwner` returned. */
      owner: string;
      action: 'create' | 'update' | 'rotate' | 'revoke';
      keyId: string;
    };

/** The `type` of a {@link KeywardenEvent}. */
export type KeywardenEventType = KeywardenEvent['type'];

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

/** Where events go: the `onEvent` option and every subscriber, each to the types it asked for. */
export interface EventHub {
  /** Gives the event to each listener of its type; never throws. */
  emit: EventHandler;
  /** Whether any listener takes this type: events are built only then (success events are per request). */
  wants(type: KeywardenEventType): boolean;
  /** Adds a listener of `types` (default: every type); returns the function that removes it. */
  subscribe(listener: EventHandler, types?: readonly KeywardenEventType[]): () => void;
}

export function createEventHub(onEvent: EventHandler | undefined): EventHub {
  type Entry = { listener: EventHandler; types: ReadonlySet<string> | null };
  // Replaced, never changed in place: a listener may unsubscribe while an event is being given out.
  let listeners: readonly Entry[] = [];
  // Listeners per type, and of every type: `wants` is two lookups on the request path.
  const counts = new Map<string, number>();
  let everything = 0;
  const hub: EventHub = {
    emit(event) {
      for (const { listener, types } of listeners)
        if (types === null || types.has(event.type)) listener(event);
    },
    wants: (type) => everything > 0 || (counts.get(type) ?? 0) > 0,
    subscribe(listener, types) {
      const entry = { listener: safeEventHandler(listener), types: types ? new Set<string>(types) : null };
      listeners = [...listeners, entry];
      if (entry.types === null) everything++;
      else for (const type of entry.types) counts.set(type, (counts.get(type) ?? 0) + 1);
      let removed = false;
      return () => {
        if (removed) return;
        removed = true;
        listeners = listeners.filter((other) => other !== entry);
        if (entry.types === null) everything--;
        else for (const type of entry.types) counts.set(type, counts.get(type)! - 1);
      };
    },
  };
  if (onEvent) hub.subscribe(onEvent);
  return hub;
}
