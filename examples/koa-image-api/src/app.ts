import { createKoaAuth, getAuth } from '@keywarden/koa';
import cors from '@koa/cors';
import Router from '@koa/router';
import {
  CORS,
  createExample,
  type ExampleConfig,
  jsonBody,
  PAGE,
  PORTAL_POLICY,
  renderApiError,
  TOOLS,
  type ToolName,
  toolPaths,
} from 'example-image-api-shared';
import Koa from 'koa';

/** The image API on Koa 3. Overrides are for tests (folders, port, clock). */
export async function buildApp(overrides: Partial<ExampleConfig> = {}) {
  const example = await createExample(overrides);
  const auth = createKoaAuth(example.keywarden);
  const app = new Koa();
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const problem = renderApiError(error);
      ctx.status = problem.status;
      ctx.set(problem.headers);
      ctx.body = problem.body;
    }
  });
  // Before the routes and keywarden, so that refusals carry the CORS headers too.
  const { corsOrigins } = example.config;
  if (corsOrigins.length > 0) {
    app.use(
      cors({
        origin: (ctx) => (corsOrigins.includes(ctx.get('origin')) ? ctx.get('origin') : ''),
        allowHeaders: CORS.allowedHeaders,
        exposeHeaders: CORS.exposedHeaders,
        allowMethods: CORS.methods,
      }),
    );
  }
  app.use(
    auth.portal({
      path: '/account/api-keys',
      resolveOwner: (ctx) => example.sessions.ownerOf(ctx.get('cookie') || undefined),
      policy: PORTAL_POLICY,
    }),
  );
  const router = new Router();
  router.get('/', (ctx) => {
    ctx.type = 'html';
    ctx.body = PAGE;
  });
  router.get('/favicon.ico', (ctx) => {
    ctx.status = 204; // browsers ask; no 404 in the console
  });
  router.post('/your-server/token', async (ctx) => {
    ctx.body = await example.mintForPage(await jsonBody(undefined, ctx.req), ctx.ip);
  });
  router.post('/your-api/get-bgcut-token', async (ctx) => {
    ctx.body = await example.mintForGuide(ctx.ip);
  });
  // The demo's sign-in, and the key portal behind it.
  router.post('/your-server/session', async (ctx) => {
    const body = await jsonBody(undefined, ctx.req);
    const { owner, cookie } = example.sessions.signIn(body, ctx.get('content-type') || undefined);
    ctx.set('set-cookie', cookie);
    ctx.body = { owner };
  });
  router.delete('/your-server/session', (ctx) => {
    ctx.set('set-cookie', example.sessions.signOut(ctx.get('cookie') || undefined));
    ctx.status = 204;
  });
  router.post('/v3/auth/access-token/', auth.mint());
  // A demo visitor's token is held to its own budget, and its address to one (see VISITOR_LIMITS).
  const admit = async (ctx: Koa.Context, next: Koa.Next) => {
    await example.admit(getAuth(ctx), ctx.ip);
    await next();
  };
  // The tool's cost is charged per output variant, for work done: the middleware charges nothing
  // (cost 0), and the service holds cost x variants before the work (principal.reserve) and takes them once it is done (a failed call costs nothing).
  const write = auth.authenticate({ scopes: ['images:write'], cost: 0 });
  router.post('/v3/file-ops/upload/', write, admit, async (ctx) => {
    ctx.body = await example.service.upload(getAuth(ctx), ctx.req);
  });
  const billing = (ctx: Koa.Context) => {
    const idempotencyKey = ctx.req.headers['idempotency-key']; // retries charged once
    const request = { method: ctx.method, url: ctx.originalUrl, ip: ctx.ip, idempotencyKey };
    return example.billing(request, getAuth(ctx), (headers) => ctx.set(headers));
  };
  for (const tool of Object.keys(TOOLS) as ToolName[]) {
    for (const path of toolPaths(tool)) {
      router.post(path, write, admit, async (ctx) => {
        const body = await jsonBody(undefined, ctx.req);
        ctx.body = await example.service.process(getAuth(ctx), tool, body, billing(ctx));
      });
    }
  }
  router.post('/v1/remove-background', write, admit, async (ctx) => {
    ctx.body = await example.service.removeBackground(ctx.req, billing(ctx));
    ctx.type = 'image/png';
  });
  router.post('/v1/enhance', write, admit, async (ctx) => {
    const body = await jsonBody(undefined, ctx.req);
    const image = await example.service.enhance(
      getAuth(ctx),
      body,
      ctx.get('host') || undefined,
      billing(ctx),
    );
    ctx.body = image.data;
    ctx.type = image.contentType;
  });
  app.use(router.routes());
  // Downloads: any path below /v3/files/ (checked by the service, never decoded).
  const download = auth.authenticate({ scopes: ['images:read'], cost: 0 });
  app.use(async (ctx, next) => {
    if (ctx.method !== 'GET' || !ctx.path.startsWith('/v3/files/')) return next();
    await download(ctx, async () => {
      await example.admit(getAuth(ctx), ctx.ip);
      const file = await example.service.download(getAuth(ctx), ctx.originalUrl);
      ctx.type = file.contentType;
      ctx.body = file.data;
    });
  });
  return { app, example };
}
