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
