// The adapter kernel: what every framework adapter does, once. An adapter describes its framework
// in a `FrameworkBinding` (how to read a request, set a header, go on, answer, hand an error over,
// and where the principal lives) and gets back the three handlers' logic: authentication (preflight
// and skip, the principal an earlier middleware established, the synchronous warm path and the
// asynchronous one, headers, the principal's record, the credential hidden, refusals with the
// proxy warning), the token mint route and the key portal. What stays in an adapter is its
// framework's I/O and its idioms: the shape of a middleware, route options, plugin registration.
// The model is the tRPC node-http bridge: one generic core, a few lines per framework.
import type { IncomingMessage } from 'node:http';
import type { AuthError } from '../errors/auth-error.js';
import { configError } from '../errors/config-error.js';
import type { Keywarden } from '../keywarden.js';
import { MAX_MINT_BODY_BYTES } from '../mint/mint-body.js';
import type { PortalOptions } from '../portal/portal.js';
import type {
  AuthRequest,
  AuthResult,
  Principal,
  RouteRequirements,
  StackedResult,
} from '../request/types.js';
import { booleanOption, checkedOption, optionsObject } from '../util/options.js';
import {
  hideCredential,
  isAnonymous,
  isCorsPreflight,
  type ProblemResponse,
  readRequestBody,
  renderProblem,
} from './http.js';
import { isLogger, type KeywardenLogger, logFailures } from './logging.js';
import { type OwnerResolver, portalParts, portalRequestOf } from './portal.js';
import type { PrincipalRecord } from './principal-record.js';
import { warnUntrustedProxy } from './proxy-warning.js';
import { renderMintResult } from './responses.js';

/** The options every adapter takes, whatever its framework (`Req`: the request its `skip` sees). */
export interface CommonAuthOptions<Req> {
  /** Remove the credential from the request before handlers run. @default false */
  hideCredentials?: boolean;
  /** Hand refusals (an `AuthError`) to the framework's error handling instead of answering them. @default false */
  delegateErrors?: boolean;
  /** Requests for which keywarden steps aside (the next handler runs without a principal). @default none */
  skip?: (req: Req) => boolean;
  /** The application's logger: refusals and store failures, never a secret; false for none. @default none */
  logger?: KeywardenLogger | false;
}

/** The common options, checked. */
export interface CommonAuthSettings<Req> {
  /** Whether the credential is removed from the request of an admitted request. */
  hideCredentials: boolean;
  /** Whether refusals go to the framework's error handling. */
  delegateErrors: boolean;
  /** The requests keywarden steps aside for, if any. */
  skip: ((req: Req) => boolean) | undefined;
  /** The application's logger; false or undefined for none. */
  logger: KeywardenLogger | false | undefined;
}

/**
 * Checks an adapter's options object: the common ones, read here, and `own`, the names of the
 * adapter's own options (read by the adapter), so that a misspelt name fails at start-up.
 *
 * @example
 * ```ts
 * const common = readCommonOptions(options, ['requestProperty']);
 * ```
 */
export function readCommonOptions<Req>(
  options: CommonAuthOptions<Req> | object,
  own: readonly string[],
): CommonAuthSettings<Req> {
  const given = options as CommonAuthOptions<Req> & Record<string, unknown>;
  optionsObject('', given, ['hideCredentials', 'delegateErrors', 'skip', 'logger', ...own]);
  return {
    hideCredentials: booleanOption('hideCredentials', given.hideCredentials, false),
    delegateErrors: booleanOption('delegateErrors', given.delegateErrors, false),
    skip: checkedOption<((req: Req) => boolean) | undefined>('skip', given.skip, undefined, {
      valid: (v) => typeof v === 'function',
      expected: 'a function',
    }),
    logger: checkedOption<KeywardenLogger | false | undefined>('logger', given.logger, undefined, {
      valid: (v) => v === false || isLogger(v),
      expected: 'false or a logger with info, warn and error (pino, console)',
    }),
  };
}

/**
 * A framework, as the kernel sees it. A middleware there is called with three things (`Req`,
 * `Res`, `Next`: Express's `req, res, next`, Koa's `ctx, ctx, next`, Fastify's `request, reply,
 * done`) and returns `Out` (Koa: a promise; Node: the principal; Express and Fastify: nothing).
 */
export interface FrameworkBinding<Req, Res, Next, Out> {
  /** The request as the core reads it: a `RequestView` over the framework's request. */
  input(req: Req): AuthRequest;
  /** Node's request under the framework's (headers for the preflight check, the credential to hide). */
  raw(req: Req): IncomingMessage;
  /** keywarden's own record of the principal on a request (never another library's `req.auth`). */
  principals: PrincipalRecord<Req>;
  /** Sets response headers (the RateLimit headers of an admitted request). */
  setHeaders(res: Res, headers: Readonly<Record<string, string>>): void;
  /** Goes on to the application's next handler; `principal` when one was established. */
  next(req: Req, res: Res, next: Next, principal?: Principal): Out;
  /** Answers the request itself: a refusal's problem document, a minted token, a portal answer. */
  answer(req: Req, res: Res, next: Next, response: ProblemResponse): Out;
  /** Hands a refusal to the framework's error handling (`delegateErrors`). */
  delegate(req: Req, res: Res, next: Next, error: AuthError): Out;
  /** A CORS preflight, which carries no credential: on to the application's CORS handling. @default next */
  preflight?(req: Req, res: Res, next: Next): Out;
  /** A promise that rejected, which only a bug makes: the framework's error path. @default rethrow */
  failed?(req: Req, res: Res, next: Next, error: unknown): Out;
  /** After the credential left Node's request: the framework's own copies of it (`originalUrl`, parsed query). */
  hideCredential?(req: Req, name: string): void;
  /**
   * For an `https_required` refusal: the application and the framework's trust-proxy setting to
   * name in the one-time warning, or null when the framework trusts a proxy.
   */
  untrustedProxy(req: Req): { app: object; advice: string } | null;
}

/** What the kernel makes of a binding: the handlers' logic, called by the adapter's middleware. */
export interface AdapterKernel<Req, Res, Next, Out> {
  /** The common options, checked. */
  readonly settings: CommonAuthSettings<Req>;
  /** Authenticates a request for `route` (answers at once on the warm path, else a promise). */
  authenticate(req: Req, res: Res, next: Next, route: RouteRequirements | undefined): Out | Promise<Out>;
  /** Refuses with an error: the proxy warning, then delegated or answered. */
  refuse(req: Req, res: Res, next: Next, error: AuthError): Out;
  /** Mints a token for the request; `body` is what a body parser left (undefined: the body is read here). */
  mint(req: Req, res: Res, next: Next, body: unknown): Promise<Out>;
  /** A portal handler: `url` below the mount, `origin` of the site, `body` a body parser left. */
  portal(
    options: PortalOptions & OwnerResolver<Req>,
  ): (req: Req, res: Res, next: Next, where: { url: string; origin: string; body?: unknown }) => Promise<Out>;
}

/**
 * Throws when `keywarden` cannot mint (no `tokens`): at start-up, where the mint route is mounted.
 *
 * @example
 * ```ts
 * mint() { requireTokens(keywarden, 'mint()'); return (req, res, next) => ... }
 * ```
 */
export function requireTokens(keywarden: Keywarden, where: string): void {
  if (!keywarden.tokensEnabled)
    throw configError('KW_MISSING_OPTION', 'tokens', `in createKeywarden() are needed for ${where}`);
}

/**
 * The adapter kernel for one framework binding and the adapter's common options, checked by
 * {@link readCommonOptions}. Logs to their `logger` unless `log` is false (an adapter that picks
 * its logger itself, such as Fastify's).
 *
 * @example
 * ```ts
 * const kernel = createAdapterKernel(keywarden, readCommonOptions(options, []), binding);
 * const middleware = (req, res, next) => { kernel.authenticate(req, res, next, route); };
 * ```
 */
export function createAdapterKernel<Req, Res, Next, Out>(
  keywarden: Keywarden,
  settings: CommonAuthSettings<Req>,
  binding: FrameworkBinding<Req, Res, Next, Out>,
  log = true,
): AdapterKernel<Req, Res, Next, Out> {
  const { hideCredentials, delegateErrors, skip, logger } = settings;
  if (log && logger) logFailures(keywarden, logger);
  const { input, raw, principals } = binding;
  const failed =
    binding.failed ??
    ((_req: Req, _res: Res, _next: Next, error: unknown): Out => {
      throw error;
    });

  function refuse(req: Req, res: Res, next: Next, error: AuthError): Out {
    if (error.code === 'https_required') {
      const untrusted = binding.untrustedProxy(req);
      if (untrusted) warnUntrustedProxy(untrusted.app, untrusted.advice);
    }
    if (delegateErrors) return binding.delegate(req, res, next, error);
    return binding.answer(req, res, next, renderProblem(error));
  }

  // biome-ignore lint/complexity/useMaxParams: the framework's three values and the route travel as arguments, not in an object made per request (the warm path allocates nothing)
  function finish(req: Req, res: Res, next: Next, route: RouteRequirements | undefined, result: AuthResult) {
    if (!result.ok)
      return isAnonymous(route, result.error)
        ? binding.next(req, res, next)
        : refuse(req, res, next, result.error);
    binding.setHeaders(res, result.headers);
    principals.set(req, result.principal, route?.cost ?? 1);
    if (hideCredentials) {
      const { credential } = result;
      // A header is gone from Node's request; a query parameter also from the framework's copies.
      if (hideCredential(raw(req), credential) !== null) binding.hideCredential?.(req, credential.name);
    }
    return binding.next(req, res, next, result.principal);
  }

  /** A stacked middleware's answer: the route's scopes held, its extra cost charged. */
  function again(req: Req, res: Res, next: Next, result: StackedResult): Out {
    if (!result.ok) return refuse(req, res, next, result.error);
    binding.setHeaders(res, result.headers);
    principals.setCharged(req, result.charged);
    return binding.next(req, res, next, principals.get(req));
  }

  function authenticate(req: Req, res: Res, next: Next, route: RouteRequirements | undefined) {
    const node = raw(req);
    if (node.method === 'OPTIONS' && isCorsPreflight(node))
      return binding.preflight ? binding.preflight(req, res, next) : binding.next(req, res, next);
    if (skip?.(req)) return binding.next(req, res, next);
    const earlier = principals.get(req); // an earlier authenticate() on this request
    if (earlier !== undefined) {
      const checked = keywarden.authorizeAgain(input(req), earlier, route, principals.charged(req));
      if (!(checked instanceof Promise)) return again(req, res, next, checked);
      return checked.then(
        (settled) => again(req, res, next, settled),
        (error: unknown) => failed(req, res, next, error),
      );
    }
    // A warm key answers without a promise: no microtask turn on the hot path.
    const result = keywarden.authenticateNow(input(req), route);
    if (!(result instanceof Promise)) return finish(req, res, next, route, result);
    return result.then(
      (settled) => finish(req, res, next, route, settled),
      (error: unknown) => failed(req, res, next, error),
    );
  }

  async function mint(req: Req, res: Res, next: Next, parsed: unknown): Promise<Out> {
    const body = parsed !== undefined ? parsed : await readRequestBody(raw(req), MAX_MINT_BODY_BYTES);
    const result = await keywarden.handleMintRequest(input(req), body);
    if (!result.ok) return refuse(req, res, next, result.error);
    return binding.answer(req, res, next, renderMintResult(result));
  }

  function portal(options: PortalOptions & OwnerResolver<Req>) {
    const { portal: handler, resolveOwner } = portalParts<Req>(keywarden, options);
    return async (req: Req, res: Res, next: Next, where: { url: string; origin: string; body?: unknown }) => {
      const owner = await resolveOwner(req);
      const { url, origin, body: parsedBody } = where;
      const answer = await handler.handle(
        await portalRequestOf(raw(req), { url, owner, origin, parsedBody }),
      );
      return binding.answer(req, res, next, answer);
    };
  }

  return { settings, authenticate, refuse, mint, portal };
}
