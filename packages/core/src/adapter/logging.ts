// Refusals and store failures into the application's logger, so that whoever runs the server sees
// them where they look, joined to the request by its id. Only failures are subscribed to: a
// successful request builds no event and logs nothing.
import type { Keywarden } from '../keywarden.js';

/**
 * A logger that takes `(fields, message)` at three levels: pino (and so Fastify's `request.log`),
 * bunyan, and `console` (it prints the fields, then the message).
 *
 * @example
 * ```ts
 * const logger: KeywardenLogger = pino(); // or console
 * const auth = createExpressAuth(keywarden, { logger });
 * ```
 */
export interface KeywardenLogger {
  /** A refusal: the client's mistake (a wrong or expired key, a path outside a token). */
  info(fields: object, message: string): void;
  /** Reserved for conditions an operator should look at; keywarden logs none at this level yet. */
  warn(fields: object, message: string): void;
  /** Keywarden could not answer (`auth_unavailable`), or a store failed in the background. */
  error(fields: object, message: string): void;
}

/**
 * Whether `value` has the three levels a {@link KeywardenLogger} needs: how adapters check a
 * `logger` option.
 *
 * @example
 * ```ts
 * const logger = checkedOption('logger', options.logger, undefined, { valid: isLogger, expected: 'a logger' });
 * ```
 */
export function isLogger(value: unknown): value is KeywardenLogger {
  const v = value as Partial<KeywardenLogger> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.info === 'function' &&
    typeof v.warn === 'function' &&
    typeof v.error === 'function'
  );
}

/**
 * Logs what went wrong to `logger`: each refusal at `info` (a client's mistake, not the server's:
 * a spray of bad keys must not page anyone), or at `error` when keywarden could not answer
 * (`auth_unavailable`); each store failure at `error`, including a keys file that no longer parses
 * (with its path, line and column). Fields are under `keywarden`, the request id under `reqId`
 * (the name Fastify's request logger binds). Events hold public key ids, never a key, a token or a
 * secret. The same logger given for one keywarden by several adapters logs each event once; a
 * logger sees every refusal of the keywarden, whichever adapter served it. Returns the function
 * that stops logging.
 *
 * @example
 * ```ts
 * const stop = logFailures(keywarden, pino());
 * ```
 */
export function logFailures(keywarden: Keywarden, logger: KeywardenLogger): () => void {
  // One subscription per keywarden and logger, however many adapters (routers, Fastify contexts)
  // were given both: each refusal is logged once.
  const loggers = active.get(keywarden) ?? new Map<KeywardenLogger, Subscription>();
  active.set(keywarden, loggers);
  const shared = loggers.get(logger) ?? { users: 0, stop: subscribeLogger(keywarden, logger) };
  loggers.set(logger, shared);
  shared.users++;
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    if (--shared.users > 0) return;
    shared.stop();
    loggers.delete(logger);
  };
}

interface Subscription {
  users: number;
  stop: () => void;
}
const active = new WeakMap<Keywarden, Map<KeywardenLogger, Subscription>>();

function subscribeLogger(keywarden: Keywarden, logger: KeywardenLogger): () => void {
  return keywarden.subscribe(
    (event) => {
      if (event.type === 'auth.failed') {
        const { type: _, time: __, requestId, ...fields } = event;
        const level = event.code === 'auth_unavailable' ? 'error' : 'info';
        logger[level](
          { reqId: requestId ?? undefined, keywarden: fields },
          `keywarden refused the request: ${event.code} (${event.reason})`,
        );
      } else if (event.type === 'store.error') {
        logger.error(
          { keywarden: { operation: event.operation, message: event.message } },
          `keywarden store error (${event.operation}): ${event.message}`,
        );
      }
    },
    ['auth.failed', 'store.error'],
  );
}
