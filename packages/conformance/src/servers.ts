// The same small image API on every framework version, built the way each framework's users would
// build it. Routes:
//   POST /v3/auth/access-token/    the mint handler (authenticates itself)
//   GET  /public/health            opted out of auth
//   GET  /v3/files/<path>          any valid credential; answers { auth }
//   POST /v3/file-ops/upload/      scope images:write
//   POST /v3/tools/<tool>/process/ scope images:write
//   GET  /v3/admin                 scope admin
//   GET  /v3/boom                  the handler throws: the user's error handler must get it
//   POST /v3/tools/upscale/process/ scope images:write, costs 2 quota units (its own middleware)
//   POST /v3/tools/render/         scope images:write, cost 0; the handler reserves 3 units through
//                                  the principal (Idempotency-Key passed on), then with `x-fail: 1`
//                                  releases them and throws, else commits: { route, reused }
// The user's error handler answers 418 { user_error } for handler errors and, when refusals are
// delegated to it, err.status with { custom: err.code }.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Keywarden, KeywardenLogger, Principal } from '@keywarden/core';
import { type AuthenticatedRequest, createExpressAuth } from '@keywarden/express';
import { getAuth as getFastifyAuth, keywardenFastify } from '@keywarden/fastify';
import { createKoaAuth, getAuth as getKoaAuth } from '@keywarden/koa';
import { createNodeAuth, getAuth as getNodeAuth } from '@keywarden/node';
import Router from '@koa/router';
import express5 from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import Koa3 from 'koa';
import Koa2 from 'koa2';

export interface ServerVariant {
  delegateErrors?: boolean;
  logger?: KeywardenLogger;
}

// Every server takes the request id from `x-request-id`, as pino-http (Express, Koa, Node) and
// Fastify's `requestIdHeader` do, so that events and log lines can be joined to a request.
const idHeader = (value: string | string[] | undefined) => (typeof value === 'string' ? value : undefined);

export interface RunningServer {
  name: string;
  port: number;
  close(): Promise<void>;
}

export type ServerFactory = (keywarden: Keywarden, variant: ServerVariant) => Promise<RunningServer>;

interface ErrorLike {
  code?: unknown;
  status?: unknown;
  message?: string;
}
function userError(err: ErrorLike): { status: number; body: object } {
  return typeof err.code === 'string' && typeof err.status === 'number'
    ? { status: err.status, body: { custom: err.code } }
    : { status: 418, body: { user_error: err.message } };
}

/** The render route's handler, the same on every framework: pays for its work with a hold. */
async function render(principal: Principal, headers: IncomingHttpHeaders) {
  const hold = await principal.reserve(3, { idempotencyKey: headers['idempotency-key'] });
  if (headers['x-fail'] === '1') {
    await hold.release();
    throw new Error('render failed');
  }
  hold.commit();
  return { route: 'render', reused: hold.reused };
}
const renderRoute = { scopes: ['images:write'], cost: 0 };

type Listener = { listen(port: number, host: string, cb: () => void): import('node:http').Server };

function listen(name: string, app: Listener): Promise<RunningServer> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => {
      resolve({
        name,
        port: (server.address() as AddressInfo).port,
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}

function expressServer(name: string, express: typeof express5): ServerFactory {
  return async (keywarden, variant) => {
    const app = express();
    const auth = createExpressAuth(keywarden, variant);
    app.use((req, _res, next) => {
      (req as { id?: string | undefined }).id = idHeader(req.headers['x-request-id']);
      next();
    });
    const whoami =
      (route: string): import('express').RequestHandler =>
      (req, res) => {
        res.json({ route, auth: (req as AuthenticatedRequest).auth });
      };
    app.post('/v3/auth/access-token/', auth.mint());
    app.get('/public/health', (_req, res) => {
      res.json({ ok: true });
    });
    app.post(
      '/v3/tools/upscale/process/',
      auth.authenticate({ scopes: ['images:write'], cost: 2 }),
      whoami('upscale'),
    );
    app.post('/v3/tools/render/', auth.authenticate(renderRoute), (req, res, next) => {
      render((req as AuthenticatedRequest).auth!, req.headers).then((body) => res.json(body), next);
    });
    app.use(auth.authenticate());
    app.get(/^\/v3\/files\/.+/, whoami('files'));
    app.post('/v3/file-ops/upload/', auth.authenticate({ scopes: ['images:write'] }), whoami('upload'));
    app.post('/v3/tools/:tool/process/', auth.authenticate({ scopes: ['images:write'] }), whoami('process'));
    app.get('/v3/admin', auth.authenticate({ scopes: ['admin'] }), whoami('admin'));
    app.get('/v3/boom', () => {
      throw new Error('boom');
    });
    app.use(
      (
        err: ErrorLike,
        _req: import('express').Request,
        res: import('express').Response,
        _next: import('express').NextFunction,
      ) => {
        const { status, body } = userError(err);
        res.status(status).json(body);
      },
    );
    return listen(name, app);
  };
}

function koaServer(name: string, Koa: typeof Koa3): ServerFactory {
  return async (keywarden, variant) => {
    const app = new Koa();
    const auth = createKoaAuth(keywarden, variant);
    app.use((ctx, next) => {
      (ctx.req as { id?: string | undefined }).id = idHeader(ctx.req.headers['x-request-id']);
      return next();
    });
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch (err) {
        const { status, body } = userError(err as ErrorLike);
        ctx.status = status;
        ctx.body = body;
      }
    });
    const open = new Router();
    open.post('/v3/auth/access-token/', auth.mint());
    open.get('/public/health', (ctx) => {
      ctx.body = { ok: true };
    });
    const whoami = (route: string) => (ctx: import('koa').Context) => {
      ctx.body = { route, auth: getKoaAuth(ctx) };
    };
    open.post(
      '/v3/tools/upscale/process/',
      auth.authenticate({ scopes: ['images:write'], cost: 2 }),
      whoami('upscale'),
    );
    open.post('/v3/tools/render/', auth.authenticate(renderRoute), async (ctx) => {
      ctx.body = await render(getKoaAuth(ctx), ctx.req.headers);
    });
    const api = new Router();
    api.post('/v3/file-ops/upload/', auth.authenticate({ scopes: ['images:write'] }), whoami('upload'));
    api.post('/v3/tools/:tool/process/', auth.authenticate({ scopes: ['images:write'] }), whoami('process'));
    api.get('/v3/admin', auth.authenticate({ scopes: ['admin'] }), whoami('admin'));
    api.get('/v3/boom', () => {
      throw new Error('boom');
    });
    app.use(open.routes());
    app.use(auth.authenticate());
    app.use(api.routes());
    app.use(async (ctx, next) => {
      if (ctx.method === 'GET' && /^\/v3\/files\/.+/.test(ctx.path)) return whoami('files')(ctx);
      return next();
    });
    return listen(name, app as unknown as Listener);
  };
}

const fastifyServer: ServerFactory = async (keywarden, variant) => {
  const app = Fastify({ requestIdHeader: 'x-request-id' });
  app.setErrorHandler((err, _request, reply) => {
    const { status, body } = userError(err as ErrorLike);
    return reply.code(status).send(body);
  });
  await app.register(keywardenFastify, { keywarden, mintPath: '/v3/auth/access-token/', ...variant });
  const whoami = (route: string) => async (request: import('fastify').FastifyRequest) => ({
    route,
    auth: (request as unknown as { auth?: unknown }).auth,
  });
  const writes = { config: { keywarden: { scopes: ['images:write'] } } };
  app.get('/public/health', { config: { keywarden: false } }, async () => ({ ok: true }));
  app.post(
    '/v3/tools/upscale/process/',
    { config: { keywarden: { scopes: ['images:write'], cost: 2 } } },
    whoami('upscale'),
  );
  app.post('/v3/tools/render/', { config: { keywarden: renderRoute } }, async (request) =>
    render(getFastifyAuth(request), request.headers),
  );
  app.get('/v3/files/*', whoami('files'));
  app.post('/v3/file-ops/upload/', writes, whoami('upload'));
  app.post('/v3/tools/:tool/process/', writes, whoami('process'));
  app.get('/v3/admin', { config: { keywarden: { scopes: ['admin'] } } }, whoami('admin'));
  app.get('/v3/boom', async () => {
    throw new Error('boom');
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { name: 'fastify5', port: (app.server.address() as AddressInfo).port, close: () => app.close() };
};

/** Plain `node:http` with a hand-written dispatcher: what `@keywarden/node` users write. */
const nodeServer: ServerFactory = async (keywarden, variant) => {
  const auth = createNodeAuth(keywarden, variant);
  const mint = auth.mint();
  const everyRoute = auth.authenticate();
  const upscale = auth.authenticate({ scopes: ['images:write'], cost: 2 });
  const renders = auth.authenticate(renderRoute);
  const writes = auth.authenticate({ scopes: ['images:write'] });
  const admin = auth.authenticate({ scopes: ['admin'] });
  const json = { 'content-type': 'application/json; charset=utf-8' };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    (req as { id?: string | undefined }).id = idHeader(req.headers['x-request-id']);
    const fail = (err: unknown) => {
      const { status, body } = userError(err as ErrorLike);
      res.writeHead(status, json).end(JSON.stringify(body));
    };
    const whoami = (route: string) => () => {
      res.writeHead(200, json).end(JSON.stringify({ route, auth: getNodeAuth(req) }));
    };
    const then = (next: () => void) => (err?: unknown) => (err ? fail(err) : next());
    const path = (req.url ?? '/').split(/[?#]/, 1)[0]!;
    const post = req.method === 'POST';
    if (post && path === '/v3/auth/access-token/') return void mint(req, res, fail);
    if (!post && path === '/public/health') return void res.writeHead(200, json).end('{"ok":true}');
    if (post && path === '/v3/tools/upscale/process/') return void upscale(req, res, then(whoami('upscale')));
    if (post && path === '/v3/tools/render/')
      return void renders(
        req,
        res,
        then(() => {
          render(getNodeAuth(req), req.headers).then(
            (body) => res.writeHead(200, json).end(JSON.stringify(body)),
            fail,
          );
        }),
      );
    void everyRoute(
      req,
      res,
      then(() => {
        if (!post && /^\/v3\/files\/.+/.test(path)) return whoami('files')();
        if (post && path === '/v3/file-ops/upload/') return void writes(req, res, then(whoami('upload')));
        if (post && /^\/v3\/tools\/[^/]+\/process\/$/.test(path))
          return void writes(req, res, then(whoami('process')));
        if (!post && path === '/v3/admin') return void admin(req, res, then(whoami('admin')));
        if (!post && path === '/v3/boom') return fail(new Error('boom'));
        res.writeHead(404, json).end('{"not_found":true}');
      }),
    );
  };
  return listen('node', { listen: (port, host, cb) => createServer(handle).listen(port, host, cb) });
};

/** Every framework version the suite runs against. */
export const SERVERS: Record<string, ServerFactory> = {
  express4: expressServer('express4', express4 as unknown as typeof express5),
  express5: expressServer('express5', express5),
  koa2: koaServer('koa2', Koa2 as unknown as typeof Koa3),
  koa3: koaServer('koa3', Koa3),
  fastify5: fastifyServer,
  node: nodeServer,
};
