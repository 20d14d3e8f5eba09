import cors from '@fastify/cors';
import { getAuth, keywardenFastify } from '@keywarden/fastify';
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
import Fastify from 'fastify';

/** The image API on Fastify. Overrides are for tests (folders, port, clock). */
export async function buildApp(overrides: Partial<ExampleConfig> = {}) {
  const example = await createExample(overrides);
  const app = Fastify();
  app.addHook('onClose', () => example.close());
  // Bodies are read by the shared service from the raw request (multipart and JSON alike), so all
  // three examples parse and refuse them the same way.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
  app.setErrorHandler((error, _request, reply) => {
    const problem = renderApiError(error);
    return reply.code(problem.status).headers(problem.headers).send(Buffer.from(problem.body));
  });
  await app.register(keywardenFastify, { keywarden: example.keywarden, mintPath: '/v3/auth/access-token/' });
  // Registered after keywarden on purpose: its refusals still carry the CORS headers.
  if (example.config.corsOrigins.length > 0)
    await app.register(cors, { origin: example.config.corsOrigins, ...CORS });

  const open = { config: { keywarden: false as const } };
  app.get('/', open, (_request, reply) => reply.type('text/html; charset=utf-8').send(PAGE));
  app.post('/your-server/token', open, async (request) =>
    example.mintForPage(await jsonBody(undefined, request.raw), request.ip),
  );
  app.post(
    '/v3/file-ops/upload/',
    { config: { keywarden: { scopes: ['images:write'], cost: 0 } } },
    (request) => example.service.upload(getAuth(request), request.raw),
  );
  // The tool's cost is charged per output variant, once the body says how many: the hook charges
  // nothing (cost 0) and the service charges cost x variants, all or nothing.
  for (const tool of Object.keys(TOOLS) as ToolName[]) {
    app.post(
      `/v3/tools/${tool}/process/`,
      { config: { keywarden: { scopes: ['images:write'], cost: 0 } } },
      async (request, reply) => {
        const principal = getAuth(request);
        const charge = async (units: number) => {
          const input = { method: request.method, url: request.raw.url ?? '', ip: request.ip };
          reply.headers(await example.charge(input, principal, units));
        };
        return example.service.process(principal, tool, await jsonBody(undefined, request.raw), charge);
      },
    );
  }
  app.get(
    '/v3/files/*',
    { config: { keywarden: { scopes: ['images:read'], cost: 0 } } },
    async (request, reply) => {
      const file = await example.service.download(getAuth(request), request.raw.url ?? '');
      return reply.type(file.contentType).send(file.data);
    },
  );
  return { app, example };
}
