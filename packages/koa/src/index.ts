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
  portalMount,
  type RequestAccess,
  RequestView,
  readCommonOptions,
  requestIdOf,
  requireTokens,
  withoutQueryParameter,
} from '@keywarden/core/integration-kit';
import type { Context, Middleware, Next } from 'koa';

// keywarden does not declare `ctx.state.auth`: other middleware owns that name too, and the key
// is configurable (`stateKey`). Read the principal with `getAuth(ctx)`.

/** Options of {@link createKoaAuth}. */
export interface KoaAuthOptions {
  /** Remove the credential from the request before downstream middleware runs. @default false */
  hideCredentials?: boolean;
  /** Throw refusals (an `AuthError`, with `status`, `expose` and `headers`) for your error middleware. @default false: answer with problem+json */
  delegateErrors?: boolean;
  /** The `ctx.state` key that shows the principal, for apps where another middleware owns `auth`. @default 'auth' */
  stateKey?: string;
  /** Requests for which keywarden steps aside (the next middleware runs without a principal). @default none */
  skip?: (ctx: Context) => boolean;
  /**
   * The application's logger (pino, console): refusals at `info` (`error` when keywarden could
   * not answer), store failures such as a corrupt keys file at `error`, with the request id
   * (`reqId`) where one is set. Never a key, token or secret. @default none (see `onEvent`)
   */
  logger?: KeywardenLogger;
}

/** The middleware factories made by {@link createKoaAuth}. */
export interface KoaAuth {
  /** Authenticates, then requires the route's scopes. Use on the app, a router, or one route. */
  authenticate(route?: RouteRequirements): Middleware;
  /** The access-token mint handler. Mount it before any body parser, or it reads `ctx.request.body`. */
  mint(): Middleware;
  /**
   * The self-service key portal (JSON API below `path`), for customers signed in through your
   * own session: `resolveOwner(ctx)` names them (null answers 401). Use it on the app, behind your
   * session middleware; requests outside `path` go on untouched.
   *
   * @example
   * ```ts
   * app.use(auth.portal({ path: '/account/api-keys', resolveOwner: (ctx) => ctx.session?.user ?? null, policy }));
   * ```
   */
  portal(options: KoaPortalOptions): Middleware;
}

/** Options of {@link KoaAuth.portal}. */
export interface KoaPortalOptions extends PortalOptions {
  /** Where the portal is mounted, such as `/account/api-keys`. */
  path: string;
  /** The signed-in owner of this request, from your session; null when nobody is signed in. */
  resolveOwner(ctx: Context): string | null | Promise<string | null>;
}

// Koa parses X-Forwarded-For for `ip` under `app.proxy`: read only when the core asks.
// The request id that koa-pino-logger (pino-http) sets on Node's request, for events and log lines.
const ACCESS: RequestAccess<Context> = {
  ip: (ctx) => ctx.ip || undefined, // Koa answers '' when the socket knows no peer: no address
  secure: (ctx) => ctx.secure,
  requestId: (ctx) => requestIdOf((ctx.req as { id?: unknown }).id),
};
const toInput = (ctx: Context) => new RequestView(ctx.req, ctx.originalUrl, ctx, ACCESS);

/**
 * A preflight goes on downstream, to the application's CORS handling; if nothing there answers it,
 * it gets 204 with no CORS grant rather than Koa's 404.
 */
async function passPreflight(ctx: Context, next: Next): Promise<void> {
  await next();
  if (ctx.status === 404 && ctx.body == null) ctx.status = 204;
}

// keywarden's own record of whom it authenticated, under a symbol no other module holds: other
// middleware may set `ctx.state.auth` too (a JWT middleware, say), and neither a stacked
// authenticate() nor getAuth() may take that object for a keywarden principal. A symbol on the
// plain `ctx.state` object costs less than a WeakMap entry (~0.26 µs a request) and is left out
// of `Object.keys` and JSON.
const PRINCIPAL: unique symbol = Symbol('keywarden.principal');
// The quota cost charged on this request when it was not the default 1, so that a stacked
// authenticate() charges only what its route's cost adds.
const CHARGED: unique symbol = Symbol('keywarden.charged');
type StateWithPrincipal = { [PRINCIPAL]?: Principal; [CHARGED]?: number };

/**
 * keywarden for Koa 2 and 3.
 *
 * @example
 * ```ts
 * const auth = createKoaAuth(keywarden);
 * router.post('/v3/auth/access-token/', auth.mint());
 * router.post('/v3/tools/upscale/process/', auth.authenticate({ scopes: ['images:write'] }), handler);
 * ```
 */
export function createKoaAuth(keywarden: Keywarden, options: KoaAuthOptions = {}): KoaAuth {
  const common = readCommonOptions<Context>(options, ['stateKey']);
  const stateKey = checkedOption('stateKey', options.stateKey, 'auth', {
    valid: (v) => typeof v === 'string' && v.length > 0,
    expected: 'a non-empty string',
  });
  const stateOf = (ctx: Context) => ctx.state as StateWithPrincipal & Record<string, unknown>;
  const kernel = createAdapterKernel<Context, Context, Next, Promise<void>>(keywarden, common, {
    input: toInput,
    raw: (ctx) => ctx.req,
    principals: {
      get: (ctx) => stateOf(ctx)[PRINCIPAL],
      set(ctx, principal, charged) {
        const state = stateOf(ctx);
        state[PRINCIPAL] = principal;
        if (charged !== 1) state[CHARGED] = charged;
        state[stateKey] = principal;
      },
      charged: (ctx) => stateOf(ctx)[CHARGED] ?? 1,
      setCharged(ctx, charged) {
        stateOf(ctx)[CHARGED] = charged;
      },
    },
    setHeaders: (ctx, headers) => ctx.set(headers),
    // Koa's own promise of the rest: a warm key hands it on, no promise of keywarden's own.
    next: (_ctx, _res, next) => next(),
    answer(ctx, _res, _next, { status, headers, body }) {
      ctx.status = status;
      ctx.set(headers); // content-type first, so assigning the body keeps it
      ctx.body = body;
      return Promise.resolve();
    },
    delegate: (_ctx, _res, _next, error) => Promise.reject(error),
    preflight: (ctx, _res, next) => passPreflight(ctx, next),
    // Under a mount (koa-mount) `ctx.req.url` is relative to it: `originalUrl` keeps its own bytes.
    hideCredential(ctx, name) {
      ctx.originalUrl = withoutQueryParameter(ctx.originalUrl, name);
    },
    untrustedProxy: (ctx) =>
      ctx.app.proxy ? null : { app: ctx.app, advice: 'Koa trusts no proxy (app.proxy = true)' },
  });
  return {
    authenticate(requirements) {
      const route = validateRouteRequirements(requirements);
      // A plain function rather than an async one: a warm key answers with next()'s own promise,
      // sparing Koa a promise and the two microtask turns an async function takes to adopt one.
      return (ctx, next) => kernel.authenticate(ctx, ctx, next, route);
    },
    mint() {
      requireTokens(keywarden, 'mint()');
      return (ctx, next) => kernel.mint(ctx, ctx, next, (ctx.request as { body?: unknown }).body);
    },
    portal({ path, ...portalOptions }) {
      const handle = kernel.portal(portalOptions);
      const belowMount = portalMount(path);
      return (ctx, next) => {
        const url = belowMount(ctx.url); // the raw path and query
        if (url === null) return next();
        // Not `ctx.origin`: on Koa 3 that can be the request's Origin header, which is what is checked.
        const origin = `${ctx.protocol}://${ctx.host}`;
        return handle(ctx, ctx, next, { url, origin, body: (ctx.request as { body?: unknown }).body });
      };
    },
  };
}

/**
 * The principal of an authenticated request.
 *
 * @example
 * ```ts
 * router.get('/v3/files/(.*)', (ctx) => { ctx.body = { owner: getAuth(ctx).ownerId }; });
 * ```
 * @throws Error when keywarden's middleware did not run first.
 */
export function getAuth(ctx: Pick<Context, 'state'>): Principal {
  const auth = (ctx.state as StateWithPrincipal | undefined)?.[PRINCIPAL];
  if (auth === undefined)
    throw new Error(
      'keywarden: no principal on this request; is auth.authenticate() mounted before this middleware?',
    );
  return auth;
}
