import { IncomingMessage } from 'node:http';
import {
  type Keywarden,
  type KeywardenLogger,
  type PortalOptions,
  type Principal,
  type RouteRequirements,
  validateRouteRequirements,
} from '@keywarden/core';
import {
  checkedOption,
  createAdapterKernel,
  createPrincipalRecord,
  type RequestAccess,
  RequestView,
  readCommonOptions,
  requestIdOf,
  requireTokens,
  withoutQueryParameter,
} from '@keywarden/core/integration-kit';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * An Express request with keywarden's principal at `P` (`req.auth` by default). keywarden does not
 * declare `req.auth` globally, since other auth libraries own that name too (declaring it twice
 * is TS2717): read the principal with {@link getAuth}, type a handler's request with this, or
 * declare the property yourself.
 *
 * @example
 * ```ts
 * app.get('/x', (req, res) => res.json((req as AuthenticatedRequest).auth?.keyId));
 * ```
 */
export type AuthenticatedRequest<P extends string = 'auth'> = Request & { readonly [K in P]?: Principal };

/** Options of {@link createExpressAuth}. */
export interface ExpressAuthOptions {
  /** Remove the credential from the request before handlers run. @default false */
  hideCredentials?: boolean;
  /** Pass refusals to `next(error)` so your error middleware renders them (an `AuthError`). @default false: answer with problem+json */
  delegateErrors?: boolean;
  /** The request property that shows the principal, for apps where another library owns `req.auth`. @default 'auth' */
  requestProperty?: string;
  /** Requests for which keywarden steps aside (the next handler runs without a principal). @default none */
  skip?: (req: Request) => boolean;
  /**
   * The application's logger (pino, console): refusals at `info` (`error` when keywarden could
   * not answer), store failures such as a corrupt keys file at `error`, with the request id
   * (`reqId`) where one is set. Never a key, token or secret. @default none (see `onEvent`)
   */
  logger?: KeywardenLogger;
}

/** The middleware factories made by {@link createExpressAuth}. */
export interface ExpressAuth {
  /** Authenticates, then requires the route's scopes. Use on the app, a router, or one route. */
  authenticate(route?: RouteRequirements): RequestHandler;
  /** The access-token mint handler, for `app.post('/v3/auth/access-token/', auth.mint())`. Mount it before any body parser, or it reads `req.body`. */
  mint(): RequestHandler;
  /**
   * The self-service key portal (JSON API below where you mount it), for customers signed in
   * through your own session: `resolveOwner(req)` names them (null answers 401). Mount it with
   * `app.use(path, ...)`, behind your session middleware and without keywarden's `authenticate()`.
   *
   * @example
   * ```ts
   * app.use('/account/api-keys', auth.portal({ resolveOwner: (req) => req.session.user ?? null, policy }));
   * ```
   */
  portal(options: ExpressPortalOptions): RequestHandler;
}

/** Options of {@link ExpressAuth.portal}. */
export interface ExpressPortalOptions extends PortalOptions {
  /** The signed-in owner of this request, from your session; null when nobody is signed in. */
  resolveOwner(req: Request): string | null | Promise<string | null>;
}

// `ip` and `secure` go through Express's trust-proxy logic: read only when the core asks.
// The request id that pino-http and express-request-id set, for events and log lines.
const ACCESS: RequestAccess<Request> = {
  ip: (req) => req.ip,
  secure: (req) => req.secure,
  requestId: (req) => requestIdOf((req as { id?: unknown }).id),
};
const toInput = (req: Request) => new RequestView(req, req.originalUrl, req, ACCESS);

// Principals by request, kept apart from `req.auth`, for two reasons:
// - security: other middleware sets `req.auth` too (express-jwt, express-oauth2-jwt-bearer), and
//   a stacked `authenticate()` must not take their object for a keywarden principal;
// - speed: a new own property on Express's request costs about 1.1 µs (its requests end up with
//   hidden classes of their own, so every added property builds one) and reading an absent
//   `req.auth` about 0.25 µs (a megamorphic miss up the prototype chain), against about 0.26 µs
//   to set the WeakMap (a live Express server on the bench machine, timed around each step).
// `req.auth` stays readable through an accessor on Express's base request prototype
// (`express.request`, where Express itself says request extensions go). Assigning `req.auth`
// makes an own property, as before, so other libraries keep working.
const principals = createPrincipalRecord();

/** The first `name` property up a prototype chain, or undefined. */
function descriptorOf(proto: object | null, name: string): PropertyDescriptor | undefined {
  for (; proto !== null; proto = Object.getPrototypeOf(proto) as object | null) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, name);
    if (descriptor) return descriptor;
  }
  return undefined;
}

type SetPrincipal = (req: Request, principal: Principal, charged: number) => void;
const writers = new Map<string, SetPrincipal>();

/** How to record a principal and show it at `req[name]`, made once per property name. */
function principalWriter(name: string): SetPrincipal {
  let write = writers.get(name);
  if (write) return write;
  const accessor = {
    configurable: true,
    enumerable: false,
    get(this: object): Principal | undefined {
      return principals.get(this);
    },
    set(this: object, value: unknown) {
      Object.defineProperty(this, name, { value, writable: true, enumerable: true, configurable: true });
    },
  };
  // Whether `req[name]` reads the record for requests of this prototype (installing the accessor once).
  const covered = new WeakMap<object, boolean>();
  const covers = (proto: object): boolean => {
    let answer = covered.get(proto);
    if (answer === undefined) {
      // Express's base request is the prototype right below Node's IncomingMessage.prototype.
      let base: object | null = proto;
      while (base !== null && Object.getPrototypeOf(base) !== IncomingMessage.prototype)
        base = Object.getPrototypeOf(base) as object | null;
      if (base !== null && !Object.hasOwn(base, name)) Object.defineProperty(base, name, accessor);
      answer = descriptorOf(proto, name)?.get === accessor.get;
      covered.set(proto, answer);
    }
    return answer;
  };
  write = (req, principal, charged) => {
    principals.set(req, principal, charged);
    // An own property otherwise: a bare router on Node's server (no Express request prototype),
    // the name defined on a prototype by someone else, or assigned by another middleware.
    if (!covers(Object.getPrototypeOf(req) as object) || Object.hasOwn(req, name)) {
      (req as unknown as Record<string, unknown>)[name] = principal;
    }
  };
  writers.set(name, write);
  return write;
}

/**
 * keywarden for Express 4 and 5.
 *
 * @example
 * ```ts
 * const auth = createExpressAuth(keywarden);
 * app.post('/v3/auth/access-token/', auth.mint());
 * app.use('/v3', auth.authenticate());
 * app.post('/v3/tools/upscale/process/', auth.authenticate({ scopes: ['images:write'] }), handler);
 * ```
 */
export function createExpressAuth(keywarden: Keywarden, options: ExpressAuthOptions = {}): ExpressAuth {
  const common = readCommonOptions<Request>(options, ['requestProperty']);
  const setPrincipal = principalWriter(
    checkedOption('requestProperty', options.requestProperty, 'auth', {
      valid: (v) => typeof v === 'string' && /^[A-Za-z_$][\w$]*$/.test(v),
      expected: 'a property name',
    }),
  );
  const kernel = createAdapterKernel<Request, Response, NextFunction, void>(keywarden, common, {
    input: toInput,
    raw: (req) => req,
    principals: { ...principals, set: setPrincipal },
    setHeaders(res, headers) {
      for (const name in headers) res.setHeader(name, headers[name]!);
    },
    next: (_req, _res, next) => next(),
    answer: (_req, res, _next, { status, headers, body }) => void res.writeHead(status, headers).end(body),
    delegate: (_req, _res, next, error) => next(error),
    failed: (_req, _res, next, error) => next(error),
    hideCredential(req, name) {
      // Inside a mounted router `req.url` is relative to the mount point: `originalUrl` keeps
      // its own bytes, without the parameter.
      req.originalUrl = withoutQueryParameter(req.originalUrl, name);
      if (req.query && typeof req.query === 'object') delete (req.query as Record<string, unknown>)[name];
    },
    untrustedProxy: (req) =>
      req.app && !req.app.get('trust proxy')
        ? { app: req.app, advice: "Express trusts no proxy (app.set('trust proxy', ...))" }
        : null,
  });
  return {
    authenticate(requirements) {
      const route = validateRouteRequirements(requirements);
      return (req, res, next) => void kernel.authenticate(req, res, next, route);
    },
    mint() {
      requireTokens(keywarden, 'mint()');
      return (req, res, next) => void kernel.mint(req, res, next, req.body).catch(next);
    },
    portal(portalOptions) {
      const handle = kernel.portal(portalOptions);
      return (req, res, next) => {
        // `req.url` is relative to where the portal is mounted (app.use strips the mount path).
        const origin = `${req.protocol}://${req.get('host') ?? ''}`;
        handle(req, res, next, { url: req.url, origin, body: req.body }).catch(next);
      };
    },
  };
}

/**
 * The principal of an authenticated request.
 *
 * @example
 * ```ts
 * app.get('/v3/files/*', (req, res) => res.json({ owner: getAuth(req).ownerId }));
 * ```
 * @throws Error when keywarden's middleware did not run before the handler.
 */
export function getAuth(req: Request): Principal {
  const principal = principals.get(req);
  if (principal === undefined)
    throw new Error(
      'keywarden: no principal on this request; is auth.authenticate() mounted before this handler?',
    );
  return principal;
}
