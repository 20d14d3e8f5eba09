import { createExpressAuth, getAuth } from '@keywarden/express';
import cors from 'cors';
import {
  CORS,
  createExample,
  type Example,
  type ExampleConfig,
  jsonBody,
  PAGE,
  PORTAL_POLICY,
  renderApiError,
  TOOLS,
  type ToolName,
  toolPaths,
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
  app.get('/favicon.ico', (_req, res) => {
    res.status(204).end(); // browsers ask; no 404 in the console
  });
  app.post(
    '/your-server/token',
    handle(async (req, res) => res.json(await example.mintForPage(await jsonBody(undefined, req), req.ip))),
  );
  app.post(
    '/your-api/get-bgcut-token',
    handle(async (req, res) => res.json(await example.mintForGuide(req.ip))),
  );
  // The demo's sign-in, and the key portal behind it.
  app.post(
    '/your-server/session',
    handle(async (req, res) => {
      const body = await jsonBody(undefined, req);
      const { owner, cookie } = example.sessions.signIn(body, req.headers['content-type']);
      res.setHeader('set-cookie', cookie).json({ owner });
    }),
  );
  app.delete('/your-server/session', (req, res) => {
    res.setHeader('set-cookie', example.sessions.signOut(req.headers.cookie)).status(204).end();
  });
  app.use(
    '/account/api-keys',
    auth.portal({
      resolveOwner: (req) => example.sessions.ownerOf(req.headers.cookie),
      policy: PORTAL_POLICY,
    }),
  );
  app.post('/v3/auth/access-token/', auth.mint());
  // A demo visitor's token is held to its own budget, and its address to one (see VISITOR_LIMITS).
  const admit = (req: Request, _res: Response, next: NextFunction) => {
    example.admit(getAuth(req), req.ip).then(() => next(), next);
  };
  // The tool's cost is charged per output variant, for work done: the middleware charges nothing
  // (cost 0), and the service holds cost x variants before the work (principal.reserve) and takes them once it is done (a failed call costs nothing).
  const write = [auth.authenticate({ scopes: ['images:write'], cost: 0 }), admit];
  app.post(
    '/v3/file-ops/upload/',
    write,
    handle(async (req, res) => res.json(await example.service.upload(getAuth(req), req))),
  );
  const billing = (req: Request, res: Response) => {
    const idempotencyKey = req.headers['idempotency-key']; // retries charged once
    const request = { method: req.method, url: req.originalUrl, ip: req.ip, idempotencyKey };
    return example.billing(request, getAuth(req), (headers) => {
      for (const name in headers) res.setHeader(name, headers[name]!);
    });
  };
  for (const tool of Object.keys(TOOLS) as ToolName[]) {
    for (const path of toolPaths(tool)) {
      app.post(
        path,
        write,
        handle(async (req, res) => {
          const body = await jsonBody(undefined, req);
          res.json(await example.service.process(getAuth(req), tool, body, billing(req, res)));
        }),
      );
    }
  }
  app.post(
    '/v1/remove-background',
    write,
    handle(async (req, res) => {
      res.type('image/png').send(await example.service.removeBackground(req, billing(req, res)));
    }),
  );
  app.post(
    '/v1/enhance',
    write,
    handle(async (req, res) => {
      const body = await jsonBody(undefined, req);
      const image = await example.service.enhance(getAuth(req), body, req.headers.host, billing(req, res));
      res.type(image.contentType).send(image.data);
    }),
  );
  app.get(
    /^\/v3\/files\/.+/,
    auth.authenticate({ scopes: ['images:read'], cost: 0 }),
    admit,
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
