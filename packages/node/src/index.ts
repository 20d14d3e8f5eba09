import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import {
  type AuthError,
  type Keywarden,
  type KeywardenLogger,
  type PortalOptions,
  type Principal,
  type RouteRequirements,
  validateRouteRequirements,
} from '@keywarden/core';
import {
  booleanOption,
  checkedOption,
  configError,
  createPrincipalRecord,
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
} from '@keywarden/core/adapter';

/** What comes next, Connect style: called with nothing to go on, or with the refusal when delegating. */
export type Next = (error?: unknown) => void;

/** A handler for `http.createServer` or Connect. */
export type NodeHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: Next,
) => Promise<Principal | undefined>;

/** Options of {@link createNodeAuth}. */
export interface NodeAuthOptions {
  /** Remove the credential from the request (`headers`, `rawHeaders`, or `url`) before `next`. @default false */
  hideCredentials?: boolean;
  /** Pass refusals to `next(error)` (an `AuthError`) instead of answering them. @default false */
  delegateErrors?: boolean;
  /** Requests for which keywarden steps aside (`next()` runs, the handler resolves undefined). @default none */
  skip?: (req: IncomingMessage) => boolean;
  /**
   * The application's logger (pino, console): refusals at `info` (`error` when keywarden could
   * not answer), store failures such as a corrupt keys file at `error`, with the request id
   * (`reqId`) where one is set. Never a key, token or secret. @default none (see `onEvent`)
   */
  logger?: KeywardenLogger;
}

/** The handler factories made by {@link createNodeAuth}. */
export interface NodeAuth {
  /**
   * Authenticates, then requires the route's scopes and charges its cost. On success it calls
   * `next()` when given, and resolves with the principal; a refusal is answered (problem+json)
   * and resolves with undefined.
   */
  authenticate(route?: RouteRequirements): NodeHandler;
  /** The access-token mint handler: answers the request itself. */
  mint(): (req: IncomingMessage, res: ServerResponse, next?: Next) => Promise<void>;
  /**
   * The self-service key portal (JSON API below `path`), for customers signed in through your own
   * session: `resolveOwner(req)` names them (null answers 401). The handler answers requests below
   * `path` and resolves true; for any other request it answers nothing and resolves false.
   *
   * @example
   * ```ts
   * const portal = auth.portal({ path: '/account/api-keys', resolveOwner: (req) => sessionOf(req), policy });
   * http.createServer(async (req, res) => { if (!(await portal(req, res))) route(req, res); });
   * ```
   */
  portal(options: NodePortalOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
}

/** Options of {@link NodeAuth.portal}. */
export interface NodePortalOptions extends PortalOptions {
  /** Where the portal is mounted, such as `/account/api-keys`. */
  path: string;
  /** The signed-in owner of this request, from your session; null when nobody is signed in. */
  resolveOwner(req: IncomingMessage): string | null | Promise<string | null>;
}

// Behind a proxy, trust-proxy logic belongs to the application: plain Node gives the socket's own.
const ACCESS: RequestAccess<IncomingMessage> = {
  ip: (req) => req.socket.remoteAddress,
  secure: (req) => (req.socket as Partial<TLSSocket>).encrypted === true,
  requestId: (req) => requestIdOf((req as { id?: unknown }).id),
};
const toInput = (req: IncomingMessage) => new RequestView(req, req.url ?? '/', req, ACCESS);
const principals = createPrincipalRecord();

/**
 * keywarden for `node:http` servers and Connect-style stacks.
 *
 * @example
 * ```ts
 * const auth = createNodeAuth(keywarden);
 * const guard = auth.authenticate({ scopes: ['images:read'] });
 * http.createServer(async (req, res) => {
 *   if (await guard(req, res)) res.end(JSON.stringify({ key: getAuth(req).keyId }));
 * }).listen(3000);
 * ```
 */
export function createNodeAuth(keywarden: Keywarden, options: NodeAuthOptions = {}): NodeAuth {
  optionsObject('', options, ['hideCredentials', 'delegateErrors', 'skip', 'logger']);
  const logger = checkedOption<KeywardenLogger | undefined>('logger', options.logger, undefined, {
    valid: isLogger,
    expected: 'a logger with info, warn and error (pino, console)',
  });
  if (logger) logFailures(keywarden, logger);
  const skip = checkedOption<((req: IncomingMessage) => boolean) | undefined>(
    'skip',
    options.skip,
    undefined,
    {
      valid: (v) => typeof v === 'function',
      expected: 'a function',
    },
  );
  const hideCredentials = booleanOption('hideCredentials', options.hideCredentials, false);
  const delegateErrors = booleanOption('delegateErrors', options.delegateErrors, false);
  const refuse = (error: AuthError, res: ServerResponse, next: Next | undefined): undefined => {
    if (error.code === 'https_required')
      warnUntrustedProxy(
        keywarden,
        'the Node adapter sees HTTPS only on a TLS socket (put the proxy-terminated scheme in place, or use a framework adapter that trusts the proxy)',
      );
    if (delegateErrors && next) return void next(error);
    const { status, headers, body } = renderProblem(error);
    res.writeHead(status, headers).end(body);
  };
  return {
    authenticate(requirements) {
      const route = validateRouteRequirements(requirements);
      const cost = route?.cost ?? 1;
      return async (req, res, next) => {
        // A CORS preflight carries no credential: it goes on to `next` (your CORS middleware);
        // without one it is answered here, 204 with no CORS grant, so that no request is ever left
        // without an answer by code that only answers when a principal came back.
        if (req.method === 'OPTIONS' && isCorsPreflight(req)) {
          if (next) next();
          else if (!res.headersSent) res.writeHead(204, { 'content-length': '0' }).end();
          return undefined;
        }
        if (skip?.(req)) {
          next?.();
          return undefined;
        }
        const earlier = principals.get(req);
        if (earlier !== undefined) {
          const again = await keywarden.authorizeAgain(toInput(req), earlier, route, principals.charged(req));
          if (!again.ok) return refuse(again.error, res, next);
          for (const name in again.headers) res.setHeader(name, again.headers[name]!);
          principals.setCharged(req, again.charged);
          next?.();
          return earlier;
        }
        const result = await keywarden.authenticateNow(toInput(req), route);
        if (!result.ok) {
          if (!isAnonymous(route, result.error)) return refuse(result.error, res, next);
          next?.();
          return undefined;
        }
        for (const name in result.headers) res.setHeader(name, result.headers[name]!);
        principals.set(req, result.principal, cost);
        if (hideCredentials) hideCredential(req, result.credential);
        next?.();
        return result.principal;
      };
    },
    mint() {
      if (!keywarden.tokensEnabled)
        throw configError('KW_MISSING_OPTION', 'tokens', 'in createKeywarden() are needed for mint()');
      return async (req, res, next) => {
        const raw = await readRequestBody(req, MAX_MINT_BODY_BYTES);
        const result = await keywarden.handleMintRequest(toInput(req), raw);
        if (!result.ok && delegateErrors && next) return next(result.error);
        const { status, headers, body } = renderMintResult(result);
        res.writeHead(status, headers).end(body);
      };
    },
    portal({ path, ...portalOptions }) {
      const { portal, resolveOwner } = portalParts<IncomingMessage>(keywarden, portalOptions);
      const belowMount = portalMount(path);
      return async (req, res) => {
        const url = belowMount(req.url ?? '');
        if (url === null) return false;
        const owner = await resolveOwner(req);
        const secure = (req.socket as TLSSocket).encrypted === true;
        const origin = `${secure ? 'https' : 'http'}://${req.headers.host ?? ''}`;
        const answer = await portal.handle(await portalRequestOf(req, { url, owner, origin }));
        res.writeHead(answer.status, answer.headers).end(answer.body);
        return true;
      };
    },
  };
}

/**
 * The principal keywarden established for this request.
 *
 * @example
 * ```ts
 * http.createServer(async (req, res) => {
 *   if (await guard(req, res)) res.end(getAuth(req).keyId);
 * });
 * ```
 * @throws Error when no keywarden handler authenticated the request.
 */
export function getAuth(req: IncomingMessage): Principal {
  const principal = principals.get(req);
  if (principal === undefined)
    throw new Error(
      'keywarden: no principal on this request; did auth.authenticate() run before this handler?',
    );
  return principal;
}
