/** A value now, or a promise of it later. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * `next(context, value)`: at once when `value` is already there, once it settles when it is a
 * promise. The request path chains its stages through this, so a warm request stays synchronous
 * (no microtask turn; `pnpm bench` showed an `await` there costing as much as the check itself)
 * and makes no closure: `next` is a function made once, and the request travels in `context`.
 */
export function thenOrNow<C, T, U>(
  value: MaybePromise<T>,
  context: C,
  next: (context: C, value: T) => MaybePromise<U>,
): MaybePromise<U> {
  return value instanceof Promise ? value.then((settled) => next(context, settled)) : next(context, value);
}
