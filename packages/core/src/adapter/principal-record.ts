// Whom keywarden authenticated on a request, kept apart from any `req.auth` other middleware may
// set (express-jwt and others do): a stacked authenticate() and getAuth() must only ever trust
// keywarden's own record. Also what the request was charged, so a stacked middleware charges only
// what its route's cost adds.
import type { Principal } from '../request/types.js';

/** keywarden's own record of the principals it established, by request object. */
export interface PrincipalRecord<R = object> {
  /** The principal recorded for this request, if any. */
  get(request: R): Principal | undefined;
  /** Records a principal and the quota cost charged for it. */
  set(request: R, principal: Principal, charged: number): void;
  /** The quota cost charged on this request so far (1 when nothing else was recorded). */
  charged(request: R): number;
  /** Records a new total charged. */
  setCharged(request: R, charged: number): void;
}

/**
 * A {@link PrincipalRecord} in WeakMaps: nothing leaks once a request is gone. The default cost of
 * 1, the common case, is not stored.
 *
 * @example
 * ```ts
 * const record = createPrincipalRecord();
 * record.set(req, result.principal, route?.cost ?? 1);
 * const principal = record.get(req);
 * ```
 */
export function createPrincipalRecord(): PrincipalRecord {
  const principals = new WeakMap<object, Principal>();
  const charges = new WeakMap<object, number>();
  return {
    get: (request) => principals.get(request),
    set(request, principal, charged) {
      principals.set(request, principal);
      if (charged !== 1) charges.set(request, charged);
    },
    charged: (request) => charges.get(request) ?? 1,
    setCharged(request, charged) {
      if (charged !== 1 || charges.has(request)) charges.set(request, charged);
    },
  };
}
