import { createKoaAuth, getAuth } from '@keywarden/koa';
import cors from '@koa/cors';
import Router from '@koa/router';
import {
  CORS,
  createExample,
  type ExampleConfig,
  jsonBody,
  PAGE,
  renderApiError,
  TOOLS,
  type ToolName,
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
  const router = new Router();
  router.get('/', (ctx) => {
    ctx.type = 'html';
    ctx.body = PAGE;
  });
  router.post('/your-server/token', async (ctx) => {
    ctx.body = await example.mintForPage(await jsonBody(undefined, ctx.req), ctx.ip);
  });
  router.post('/v3/auth/access-token/', auth.mint());
  router.post(
    '/v3/file-ops/upload/',
    auth.authenticate({ scopes: ['images:write'], cost: 0 }),
    async (ctx) => {
      ctx.body = await example.service.upload(getAuth(ctx), ctx.req);
    },
  );
  // The tool's cost is charged per output variant, once the body says how many: the middleware
  // charges nothing (cost 0) and the service charges cost x variants, all or nothing.
  for (const tool of Object.keys(TOOLS) as ToolName[]) {
    router.post(
      `/v3/tools/${tool}/process/`,
      auth.authenticate({ scopes: ['images:write'], cost: 0 }),
      async (ctx) => {
        const principal = getAuth(ctx);
        const charge = async (units: number) => {
          ctx.set(
            await example.charge({ method: ctx.method, url: ctx.originalUrl, ip: ctx.ip }, principal, units),
          );
        };
        ctx.body = await example.service.process(principal, tool, await jsonBody(undefined, ctx.req), charge);
      },
    );
  }
  app.use(router.routes());
  // Downloads: any path below /v3/files/ (checked by the service, never decoded).
  const download = auth.authenticate({ scopes: ['images:read'], cost: 0 });
  app.use(async (ctx, next) => {
    if (ctx.method !== 'GET' || !ctx.path.startsWith('/v3/files/')) return next();
    await download(ctx, async () => {
      const file = await example.service.download(getAuth(ctx), ctx.originalUrl);
      ctx.type = file.contentType;
      ctx.body = file.data;
    });
  });
  return { app, example };
}
