import {
  type AuthError,
  type AuthResult,
  type Keywarden,
  type KeywardenLogger,
  type PortalOptions,
  type Principal,
  type RouteRequirements,
  type StackedResult,
  validateRouteRequirements,
} from '@keywarden/core';
import {
  booleanOption,
  checkedOption,
  configError,
  hideCredential,
  isAnonymous,
  isCorsPreflight,
  isLogger,
  logFailures,
  MAX_MINT_BODY_BYTES,
  optionsObject,
  portalMount,
  portalParts,
  portalRequestOf,
  type RequestAccess,
  RequestView,
  readRequestBody,
  renderMintResult,
  renderProblem,
  requestIdOf,
  warnUntrustedProxy,
  withoutQueryParameter,
} from '@keywarden/core/adapter';
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
  optionsObject('', options, ['hideCredentials', 'delegateErrors', 'stateKey', 'skip', 'logger']);
  const logger = checkedOption<KeywardenLogger | undefined>('logger', options.logger, undefined, {
    valid: isLogger,
    expected: 'a logger with info, warn and error (pino, console)',
  });
  if (logger) logFailures(keywarden, logger);
  const hideCredentials = booleanOption('hideCredentials', options.hideCredentials, false);
  const delegateErrors = booleanOption('delegateErrors', options.delegateErrors, false);
  const stateKey = checkedOption('stateKey', options.stateKey, 'auth', {
    valid: (v) => typeof v === 'string' && v.length > 0,
    expected: 'a non-empty string',
  });
  const skip = checkedOption<((ctx: Context) => boolean) | undefined>('skip', options.skip, undefined, {
    valid: (v) => typeof v === 'function',
    expected: 'a function',
  });
  // A promise either way, like any Koa middleware's answer: rejected with the error when delegating.
  const refuse = (ctx: Context, error: AuthError): Promise<void> => {
    if (error.code === 'https_required' && !ctx.app.proxy)
      warnUntrustedProxy(ctx.app, 'Koa trusts no proxy (app.proxy = true)');
    if (delegateErrors) return Promise.reject(error);
    const problem = renderProblem(error);
    ctx.status = problem.status;
    ctx.set(problem.headers); // content-type first, so assigning the body keeps it
    ctx.body = problem.body;
    return Promise.resolve();
  };
  return {
    authenticate(requirements) {
      const route = validateRouteRequirements(requirements);
      const cost = route?.cost ?? 1;
      const proceed = (ctx: Context, next: Next, result: AuthResult) => {
        if (!result.ok) return isAnonymous(route, result.error) ? next() : refuse(ctx, result.error);
        ctx.set(result.headers);
        (ctx.state as StateWithPrincipal)[PRINCIPAL] = result.principal;
        if (cost !== 1) (ctx.state as StateWithPrincipal)[CHARGED] = cost;
        (ctx.state as Record<string, unknown>)[stateKey] = result.principal;
        // Under a mount (koa-mount) `ctx.req.url` is relative to it: `originalUrl` keeps its own bytes.
        if (hideCredentials && hideCredential(ctx.req, result.credential) !== null)
          ctx.originalUrl = withoutQueryParameter(ctx.originalUrl, result.credential.name);
        return next();
      };
      // A plain function rather than an async one: a warm key answers at once, and handing Koa
      // next()'s own promise spares it a promise and the two microtask turns an async function
      // takes to adopt one. It still always returns a promise, and never throws.
      return (ctx, next) => {
        // A CORS preflight carries no credential: it goes on to the application's CORS handling.
        if (ctx.method === 'OPTIONS' && isCorsPreflight(ctx.req)) return passPreflight(ctx, next);
        if (skip?.(ctx)) return next();
        const state = ctx.state as StateWithPrincipal;
        const earlier = state[PRINCIPAL]; // an earlier authenticate() on this request
        if (earlier !== undefined) {
          const again = (result: StackedResult) => {
            if (!result.ok) return refuse(ctx, result.error);
            ctx.set(result.headers);
            state[CHARGED] = result.charged;
            return next();
          };
          const checked = keywarden.authorizeAgain(toInput(ctx), earlier, route, state[CHARGED] ?? 1);
          return checked instanceof Promise ? checked.then(again) : again(checked);
        }
        const result = keywarden.authenticateNow(toInput(ctx), route);
        return result instanceof Promise
          ? result.then((settled) => proceed(ctx, next, settled))
          : proceed(ctx, next, result);
      };
    },
    mint() {
      if (!keywarden.tokensEnabled)
        throw configError('KW_MISSING_OPTION', 'tokens', 'in createKeywarden() are needed for mint()');
      return async (ctx) => {
        const parsed = (ctx.request as { body?: unknown }).body;
        const body = parsed !== undefined ? parsed : await readRequestBody(ctx.req, MAX_MINT_BODY_BYTES);
        const result = await keywarden.handleMintRequest(toInput(ctx), body);
        if (!result.ok) return refuse(ctx, result.error);
        const { status, headers, body: answer } = renderMintResult(result);
        ctx.status = status;
        ctx.set(headers);
        ctx.body = answer;
      };
    },
    portal({ path, ...portalOptions }) {
      const { portal, resolveOwner } = portalParts<Context>(keywarden, portalOptions);
      const belowMount = portalMount(path);
      return async (ctx, next) => {
        const url = belowMount(ctx.url); // the raw path and query
        if (url === null) return next();
        const owner = await resolveOwner(ctx);
        const parsedBody = (ctx.request as { body?: unknown }).body;
        // Not `ctx.origin`: on Koa 3 that can be the request's Origin header, which is what is checked.
        const origin = `${ctx.protocol}://${ctx.host}`;
        const request = await portalRequestOf(ctx.req, { url, owner, origin, parsedBody });
        const answer = await portal.handle(request);
        ctx.status = answer.status;
        ctx.set(answer.headers);
        ctx.body = answer.body;
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
