import { createExpressAuth, getAuth } from '@keywarden/express';
import cors from 'cors';
import {
  CORS,
  createExample,
  type Example,
  type ExampleConfig,
  jsonBody,
  PAGE,
  renderApiError,
  TOOLS,
  type ToolName,
} from 'example-image-api-shared';
import express, { type NextFunction, type Request, type Response } from 'express';

type Handler = (req: Request, res: Response) => Promise<unknown>;
const handle = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => {
  fn(req, res).catch(next);
};

/** The image API on Express 5. Overrides are for tests (folders, port, clock). */
export async function buildApp(
  overrides: Partial<ExampleConfig> = {},
): Promise<{ app: express.Express; example: Example }> {
  const example = await createExample(overrides);
  const auth = createExpressAuth(example.keywarden);
  const app = express();
  app.disable('x-powered-by');
  // Before the routes and keywarden, so that refusals carry the CORS headers too.
  if (example.config.corsOrigins.length > 0) app.use(cors({ origin: example.config.corsOrigins, ...CORS }));

  app.get('/', (_req, res) => {
    res.type('html').send(PAGE);
  });
  app.post(
    '/your-server/token',
    handle(async (req, res) => res.json(await example.mintForPage(await jsonBody(undefined, req), req.ip))),
  );
  app.post('/v3/auth/access-token/', auth.mint());
  app.post(
    '/v3/file-ops/upload/',
    auth.authenticate({ scopes: ['images:write'], cost: 0 }),
    handle(async (req, res) => res.json(await example.service.upload(getAuth(req), req))),
  );
  // The tool's cost is charged per output variant, once the body says how many: the middleware
  // charges nothing (cost 0) and the service charges cost x variants, all or nothing.
  for (const tool of Object.keys(TOOLS) as ToolName[]) {
    app.post(
      `/v3/tools/${tool}/process/`,
      auth.authenticate({ scopes: ['images:write'], cost: 0 }),
      handle(async (req, res) => {
        const principal = getAuth(req);
        const charge = async (units: number) => {
          const headers = await example.charge(
            { method: req.method, url: req.originalUrl, ip: req.ip },
            principal,
            units,
          );
          for (const name in headers) res.setHeader(name, headers[name]!);
        };
        res.json(await example.service.process(principal, tool, await jsonBody(undefined, req), charge));
      }),
    );
  }
  app.get(
    /^\/v3\/files\/.+/,
    auth.authenticate({ scopes: ['images:read'], cost: 0 }),
    handle(async (req, res) => {
      const file = await example.service.download(getAuth(req), req.originalUrl);
      res.type(file.contentType).send(file.data);
    }),
  );
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const problem = renderApiError(error);
    res.writeHead(problem.status, problem.headers).end(problem.body);
  });
  return { app, example };
}
