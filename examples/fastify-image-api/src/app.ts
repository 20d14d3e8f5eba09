import cors from '@fastify/cors';
import { getAuth, keywardenFastify, keywardenPortal } from '@keywarden/fastify';
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
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';

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
  // A demo visitor's token is held to its own budget, and its address to one (see VISITOR_LIMITS).
  const admit = async (request: FastifyRequest) => example.admit(getAuth(request), request.ip);
  // Registered after keywarden on purpose: its refusals still carry the CORS headers.
  if (example.config.corsOrigins.length > 0)
    await app.register(cors, { origin: example.config.corsOrigins, ...CORS });

  const open = { config: { keywarden: false as const } };
  app.get('/', open, (_request, reply) => reply.type('text/html; charset=utf-8').send(PAGE));
  app.get('/favicon.ico', open, (_request, reply) => reply.code(204).send()); // browsers ask; no 401 in the console
  app.post('/your-server/token', open, async (request) =>
    example.mintForPage(await jsonBody(undefined, request.raw), request.ip),
  );
  app.post('/your-api/get-bgcut-token', open, (request) => example.mintForGuide(request.ip));
  // The demo's sign-in, and the key portal behind it.
  app.post('/your-server/session', open, async (request, reply) => {
    const body = await jsonBody(undefined, request.raw);
    const { owner, cookie } = example.sessions.signIn(body, request.headers['content-type']);
    return reply.header('set-cookie', cookie).send({ owner });
  });
  app.delete('/your-server/session', open, (request, reply) =>
    reply.header('set-cookie', example.sessions.signOut(request.headers.cookie)).code(204).send(),
  );
  await app.register(keywardenPortal, {
    prefix: '/account/api-keys',
    keywarden: example.keywarden,
    resolveOwner: (request) => example.sessions.ownerOf(request.headers.cookie),
    policy: PORTAL_POLICY,
  });
  app.post(
    '/v3/file-ops/upload/',
    { config: { keywarden: { scopes: ['images:write'], cost: 0 } }, preHandler: admit },
    (request) => example.service.upload(getAuth(request), request.raw),
  );
  // The tool's cost is charged per output variant, for work done: the hook charges nothing (cost 0),
  // and the service holds cost x variants before the work (principal.reserve) and takes them once it is done (a failed call costs nothing).
  const write = { config: { keywarden: { scopes: ['images:write'], cost: 0 } }, preHandler: admit };
  const billing = (request: FastifyRequest, reply: FastifyReply) => {
    const idempotencyKey = request.headers['idempotency-key']; // retries charged once
    const input = { method: request.method, url: request.raw.url ?? '', ip: request.ip, idempotencyKey };
    return example.billing(input, getAuth(request), (headers) => reply.headers(headers));
  };
  for (const tool of Object.keys(TOOLS) as ToolName[]) {
    for (const path of toolPaths(tool)) {
      app.post(path, write, async (request, reply) => {
        const body = await jsonBody(undefined, request.raw);
        return example.service.process(getAuth(request), tool, body, billing(request, reply));
      });
    }
  }
  app.post('/v1/remove-background', write, async (request, reply) => {
    const image = await example.service.removeBackground(request.raw, billing(request, reply));
    return reply.type('image/png').send(image);
  });
  app.post('/v1/enhance', write, async (request, reply) => {
    const body = await jsonBody(undefined, request.raw);
    const host = request.headers.host;
    const image = await example.service.enhance(getAuth(request), body, host, billing(request, reply));
    return reply.type(image.contentType).send(image.data);
  });
  app.get(
    '/v3/files/*',
    { config: { keywarden: { scopes: ['images:read'], cost: 0 } }, preHandler: admit },
    async (request, reply) => {
      const file = await example.service.download(getAuth(request), request.raw.url ?? '');
      return reply.type(file.contentType).send(file.data);
    },
  );
  return { app, example };
}
