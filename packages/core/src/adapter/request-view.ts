// The request as the core reads it, made from a framework's request without reading more than the
// core needs: method, raw URL and the raw header list at once; the client address and the TLS flag
// only when asked. Frameworks compute those through their trust-proxy logic, which measured about
// 4 and 6 µs a request on Express (parsing X-Forwarded-For), and the core asks for them only for a
// key with an IP allowlist, a cold verification (the failure budgets), a refusal or `requireHttps`.
import type { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { AuthRequest } from '../request/types.js';
import { requestHeaders } from './http.js';

/** How an adapter reads the lazy parts of its framework's request. */
export interface RequestAccess<R> {
  /** The client address under the framework's trust-proxy setting. */
  ip(request: R): string | undefined;
  /** Whether the request arrived over TLS, as the framework resolves it. */
  secure(request: R): boolean;
  /** The framework's request id, read only when an event is built. @default none */
  requestId?(request: R): string | undefined;
}

/**
 * A request id as events carry it: a string or a number that some middleware set (Fastify's
 * `request.id`, pino-http's `req.id`), at most 200 characters; anything else is no id.
 *
 * @example
 * ```ts
 * const access = { ip: (req) => req.ip, secure: (req) => req.secure, requestId: (req) => requestIdOf(req.id) };
 * ```
 */
export function requestIdOf(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return typeof value === 'string' && value.length > 0 && value.length <= 200 ? value : undefined;
}

/** The last server {@link rememberPeers} saw, so that a request pays one comparison. */
let watchedServer: object | undefined;
const watchedServers = new WeakSet<object>();
/** Reads a socket's peer address, which Node then keeps on the socket for later reads. */
const touchPeer = (socket: Socket) => void socket.remoteAddress;

/**
 * Makes the server's sockets remember their client's address from the moment they connect. Node
 * asks the kernel for it on first read, and a socket whose client reset the connection has none
 * left: pipelined requests Node parses after the reset then had no address, so their failed
 * verifications went uncounted by their sender (a test sent 200 pipelined guesses over five
 * connections and reset them: 60 hashes ran where the client's budget is 30). Read once at
 * connection time, the address stays readable (the framework's `req.ip` too). The listener only
 * reads; connections made before the first request keywarden sees are not covered, except the one
 * that request came on.
 */
function rememberPeers(server: object, current: Socket | null): void {
  watchedServer = server;
  if (watchedServers.has(server)) return;
  watchedServers.add(server);
  if (current) touchPeer(current);
  const emitter = server as EventEmitter;
  if (typeof emitter.on !== 'function') return;
  emitter.on('connection', touchPeer);
  emitter.on('secureConnection', touchPeer);
}

/**
 * An {@link AuthRequest} over a framework's request: one small object a request, with `ip` and
 * `secure` as getters on the prototype that call the adapter's `access` only when read.
 *
 * @example
 * ```ts
 * const access: RequestAccess<Request> = { ip: (req) => req.ip, secure: (req) => req.secure };
 * const input = new RequestView(req, req.originalUrl, req, access);
 * const result = keywarden.authenticateNow(input, route);
 * ```
 */
export class RequestView<R> implements AuthRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: AuthRequest['headers'];
  readonly #raw: IncomingMessage;
  readonly #request: R;
  readonly #access: RequestAccess<R>;
  /**
   * @param raw - Node's request (for the method and the raw header list)
   * @param url - the raw request target, as received (`originalUrl` where the framework rewrites `url`)
   * @param request - the framework's request, handed to `access`
   */
  constructor(raw: IncomingMessage, url: string, request: R, access: RequestAccess<R>) {
    const server = (raw.socket as { server?: object } | null)?.server;
    if (server !== watchedServer && server) rememberPeers(server, raw.socket);
    this.method = raw.method ?? 'GET';
    this.url = url;
    this.headers = requestHeaders(raw);
    this.#raw = raw;
    this.#request = request;
    this.#access = access;
  }
  get ip(): string | undefined {
    return this.#access.ip(this.#request);
  }
  get secure(): boolean {
    return this.#access.secure(this.#request);
  }
  /**
   * Whether the client is gone with its address: the socket is closed, or it is a TCP socket (one
   * with a local port, unlike a Unix socket) whose peer the kernel no longer knows (reset).
   */
  get disconnected(): boolean {
    const socket = this.#raw.socket as Socket | null;
    return (
      socket === null ||
      socket.destroyed ||
      (socket.localPort !== undefined && socket.remoteAddress === undefined)
    );
  }
  get requestId(): string | undefined {
    return this.#access.requestId?.(this.#request);
  }
}
