import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import {
  type Keywarden,
  type KeywardenLogger,
  type PortalOptions,
  type Principal,
  type RouteRequirements,
  validateRouteRequirements,
} from '@keywarden/core';
import {
  createAdapterKernel,
  createPrincipalRecord,
  portalMount,
  type RequestAccess,
  RequestView,
  readCommonOptions,
  renderProblem,
  requestIdOf,
  requireTokens,
} from '@keywarden/core/integration-kit';

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
  type Out = Principal | undefined;
  const kernel = createAdapterKernel<IncomingMessage, ServerResponse, Next | undefined, Out>(
    keywarden,
    readCommonOptions(options, []),
    {
      input: toInput,
      raw: (req) => req,
      principals,
      setHeaders(res, headers) {
        for (const name in headers) res.setHeader(name, headers[name]!);
      },
      next(_req, _res, next, principal) {
        next?.();
        return principal;
      },
      answer(_req, res, _next, { status, headers, body }) {
        res.writeHead(status, headers).end(body);
        return undefined;
      },
      delegate(req, res, next, error): Out {
        if (!next) return this.answer(req, res, next, renderProblem(error));
        next(error);
        return undefined;
      },
      // On to `next` (your CORS middleware); without one it is answered here, 204 with no CORS
      // grant, so that no request is ever left without an answer by code that only answers when
      // a principal came back.
      preflight(_req, res, next) {
        if (next) next();
        else if (!res.headersSent) res.writeHead(204, { 'content-length': '0' }).end();
        return undefined;
      },
      untrustedProxy: () => ({
        app: keywarden,
        advice:
          'the Node adapter sees HTTPS only on a TLS socket (put the proxy-terminated scheme in place, or use a framework adapter that trusts the proxy)',
      }),
    },
  );
  return {
    authenticate(requirements) {
      const route = validateRouteRequirements(requirements);
      return async (req, res, next) => kernel.authenticate(req, res, next, route);
    },
    mint() {
      requireTokens(keywarden, 'mint()');
      return async (req, res, next) => void (await kernel.mint(req, res, next, undefined));
    },
    portal({ path, ...portalOptions }) {
      const handle = kernel.portal(portalOptions);
      const belowMount = portalMount(path);
      return async (req, res) => {
        const url = belowMount(req.url ?? '');
        if (url === null) return false;
        const secure = (req.socket as TLSSocket).encrypted === true;
        await handle(req, res, undefined, {
          url,
          origin: `${secure ? 'https' : 'http'}://${req.headers.host ?? ''}`,
        });
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
