import {
  type Keywarden,
  type KeywardenLogger,
  type Principal,
  type RouteRequirements,
  validateRouteRequirements,
} from '@keywarden/core';
import {
  checkedOption,
  configError,
  createAdapterKernel,
  logFailures,
  MAX_MINT_BODY_BYTES,
  type RequestAccess,
  RequestView,
  readCommonOptions,
  requestIdOf,
  requiredOption,
} from '@keywarden/core/integration-kit';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { type ConfigReader, findConfigReader } from './route-config.js';

/** Per-route settings, in the route's `config.keywarden`; `false` makes the route public. */
export type RouteAuthConfig = RouteRequirements | false;

// keywarden's own record of the principal, under a symbol: getAuth() reads only this, whatever
// the name the principal is shown under (`decorator`), and whatever other plugins put there.
const PRINCIPAL: unique symbol = Symbol('keywarden.principal');

declare module 'fastify' {
  interface FastifyRequest {
    [PRINCIPAL]?: Principal;
  }
  interface FastifyContextConfig {
    keywarden?: RouteAuthConfig;
  }
}

/** Options of the {@link keywardenFastify} plugin. */
export interface FastifyAuthOptions {
  /** What `createKeywarden()` returned: the plugin authenticates with it. */
  keywarden: Keywarden;
  /** Path at which to mount the access-token mint route (e.g. `/v3/auth/access-token/`), or none. */
  mintPath?: string;
  /** Remove the credential from the request before handlers run. @default false */
  hideCredentials?: boolean;
  /** Throw refusals (an `AuthError`) to your `setErrorHandler`. @default false: answer with problem+json */
  delegateErrors?: boolean;
  /**
   * The hook that authenticates. `preParsing` (the default) runs after every `onRequest` hook, so a
   * refusal carries the headers of a CORS plugin (`@fastify/cors`) whatever the order the plugins
   * were registered in, and still comes before any body is read. `onRequest` refuses earliest,
   * before other plugins' `onRequest` hooks run.
   * @default 'preParsing'
   */
  hook?: 'preParsing' | 'onRequest';
  /**
   * The request property that shows the principal (undefined on public and anonymous requests).
   * keywarden does not declare its type, since other plugins may own `request.auth`: read it with
   * `getAuth(request)`, or declare it yourself. @default 'auth'
   */
  decorator?: string;
  /** Requests for which keywarden steps aside (the route runs without a principal). @default none */
  skip?: (request: FastifyRequest) => boolean;
  /**
   * Where refusals (at `info`; `error` when keywarden could not answer) and store failures such
   * as a corrupt keys file (at `error`) are logged, with Fastify's request id as `reqId`; `false`
   * for nowhere. Never a key, token or secret. @default `fastify.log` when it logs (a `level`
   * other than silent); otherwise none, and store failures stay process warnings
   */
  logger?: KeywardenLogger | false;
}

// `ip` and `protocol` parse X-Forwarded-* on every call under `trustProxy`: read only when the core asks.
const ACCESS: RequestAccess<FastifyRequest> = {
  ip: (request) => request.ip,
  secure: (request) => request.protocol === 'https',
  requestId: (request) => requestIdOf(request.id),
};
const toInput = (request: FastifyRequest) =>
  new RequestView(request.raw, request.raw.url ?? '', request, ACCESS);

/** Checks the registration options; a typo or a wrong type fails at start-up. */
const readOptions = (options: FastifyAuthOptions) => {
  // Fastify's own registration options (prefix, log settings) may sit beside ours.
  const own = ['keywarden', 'mintPath', 'hook', 'decorator', 'prefix', 'logLevel', 'logSerializers'];
  const common = readCommonOptions<FastifyRequest>(options, own);
  const keywarden = requiredOption(
    'keywarden',
    options.keywarden,
    (v) => typeof v?.authenticate === 'function',
    'what createKeywarden() returned',
  );
  const mintPath = checkedOption('mintPath', options.mintPath, undefined, {
    valid: (v) => typeof v === 'string' && v.startsWith('/'),
    expected: 'a path starting with /',
  });
  const hook = checkedOption('hook', options.hook, 'preParsing', {
    valid: (v) => v === 'preParsing' || v === 'onRequest',
    expected: "'preParsing' or 'onRequest'",
  });
  const decorator = checkedOption('decorator', options.decorator, 'auth', {
    valid: (v) => typeof v === 'string' && v.length > 0,
    expected: 'a property name',
  });
  return { common, keywarden, mintPath, hook, decorator };
};

type Done = ((error?: Error) => void) | undefined;

const plugin: FastifyPluginAsync<FastifyAuthOptions> = async (fastify, options) => {
  const { common, keywarden, mintPath, hook, decorator } = readOptions(options);
  // Fastify's own logger only when it logs: with none (`Fastify()`) or a silent one, store failures
  // stay process warnings on stderr rather than vanish.
  const { level } = fastify.log as { level?: unknown };
  const target = common.logger ?? (typeof level === 'string' && level !== 'silent' ? fastify.log : false);
  const stopLogging = target === false ? null : logFailures(keywarden, target);
  // The app is closing: stop logging, and write the usage counted and not written yet (a failed
  // write is already a store.error event; it must not fail the close).
  fastify.addHook('onClose', async () => {
    stopLogging?.();
    if (typeof keywarden.close === 'function') await keywarden.close().catch(() => {});
  });
  const kernel = createAdapterKernel<FastifyRequest, FastifyReply, Done, void>(
    keywarden,
    common,
    {
      input: toInput,
      raw: (request) => request.raw,
      principals: {
        get: (request) => request[PRINCIPAL],
        set(request, principal) {
          request[PRINCIPAL] = principal;
          (request as unknown as Record<string, unknown>)[decorator] = principal;
        },
        charged: () => 1, // one hook a request: never stacked
        setCharged() {},
      },
      setHeaders(reply, headers) {
        for (const name in headers) reply.header(name, headers[name]);
      },
      next: (_request, _reply, done) => done?.(),
      // Bytes, not a string: Fastify would append `; charset=utf-8` to a string's content type.
      // Answered: Fastify stops here without done().
      answer(_request, reply, _done, { status, headers, body }) {
        reply.code(status).headers(headers).send(Buffer.from(body));
      },
      delegate(_request, _reply, done, error) {
        if (!done) throw error; // a route's handler: to setErrorHandler
        done(error);
      },
      failed: (_request, _reply, done, error) => done?.(error as Error),
      hideCredential(request, name) {
        delete (request.query as Record<string, unknown>)[name];
      },
      // Fastify does not show its trustProxy setting; a proxy that said https and was not
      // believed is the same finding.
      untrustedProxy: (request) =>
        /https/i.test(String(request.headers['x-forwarded-proto']))
          ? { app: fastify, advice: 'Fastify trusts no proxy (Fastify({ trustProxy: ... }))' }
          : null,
    },
    false,
  );

  // Undefined, as on every adapter, until a principal is established.
  fastify.decorateRequest(decorator, undefined);
  fastify.decorateRequest(PRINCIPAL, undefined);
  // Route settings are checked when a route is registered, so a typo fails at start-up.
  fastify.addHook('onRoute', (route) => {
    const config = (route.config as { keywarden?: RouteAuthConfig } | undefined)?.keywarden;
    if (config !== undefined && config !== false) validateRouteRequirements(config);
  });
  // Before Fastify reads or parses a body. A callback hook: a warm key answers without a promise,
  // so the hot path has no microtask hop.
  let configOf: ConfigReader | null = null;
  const authenticate = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
    configOf ??= findConfigReader(request);
    const config = configOf(request);
    if (config === false) return done(); // a public route
    kernel.authenticate(request, reply, done, config);
  };
  if (hook === 'onRequest') fastify.addHook('onRequest', authenticate);
  // `done()` without a payload leaves the body stream as it is.
  else fastify.addHook('preParsing', (request, reply, _payload, done) => authenticate(request, reply, done));

  if (mintPath !== undefined) {
    if (!keywarden.tokensEnabled)
      throw configError('KW_CONFLICTING_OPTIONS', 'mintPath', 'needs tokens in createKeywarden()');
    await fastify.register(async (mint) => {
      // The core reads the raw bytes, so a bad JSON body gets keywarden's own 400 like on Express
      // and Koa. The limit is above the core's 64 KB so that the core, not Fastify, refuses.
      mint.removeAllContentTypeParsers();
      mint.addContentTypeParser(
        '*',
        { parseAs: 'buffer', bodyLimit: MAX_MINT_BODY_BYTES * 16 },
        (_req, body, done) => done(null, body),
      );
      mint.post(mintPath, { config: { keywarden: false } }, async (request, reply) => {
        await kernel.mint(request, reply, undefined, request.body ?? '');
        return reply;
      });
    });
  }
};

/**
 * keywarden for Fastify 5: authenticates every route in its scope (in a `preParsing` hook, before any
 * body is read; `hook: 'onRequest'` for the earliest), with per-route settings in
 * `config.keywarden`, and optionally mounts the access-token mint route.
 *
 * @example
 * ```ts
 * await app.register(keywardenFastify, { keywarden, mintPath: '/v3/auth/access-token/' });
 * app.post('/v3/tools/upscale/process/', { config: { keywarden: { scopes: ['images:write'] } } }, handler);
 * app.get('/health', { config: { keywarden: false } }, () => 'ok');
 * ```
 */
export const keywardenFastify = fp(plugin, { name: '@keywarden/fastify', fastify: '5.x' });

/**
 * The plugin, as the module's default export (`import keywarden from '@keywarden/fastify'`); in
 * CommonJS the module itself is the plugin (`app.register(require('@keywarden/fastify'), opts)`).
 *
 * @example
 * ```ts
 * await app.register(require('@keywarden/fastify'), { keywarden });
 * ```
 */
export default keywardenFastify;

export { type FastifyPortalOptions, keywardenPortal } from './portal.js';

/**
 * The principal of an authenticated request.
 *
 * @example
 * ```ts
 * app.get('/v3/files/*', async (request) => ({ owner: getAuth(request).ownerId }));
 * ```
 * @throws Error when the route is public or the plugin is not registered.
 */
export function getAuth(request: FastifyRequest): Principal {
  const principal = request[PRINCIPAL];
  if (!principal)
    throw new Error('keywarden: no principal on this request; is the route public or the plugin missing?');
  return principal;
}
