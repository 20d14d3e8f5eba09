import type { AddressInfo } from 'node:net';
import { runExampleSuite, type Start } from '../../image-api-shared/test/example-suite.js';
import { runSeedClientSuite } from '../../image-api-shared/test/seed-clients.js';
import { buildApp } from '../src/app.js';

const start: Start = async (overrides) => {
  const { app, example } = await buildApp(overrides);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    example,
    // Sockets a test left open (a response it did not read) must not hold the close up.
    close: () => {
      const closing = app.close();
      app.server.closeAllConnections();
      return closing;
    },
  };
};
runExampleSuite('fastify', start);
runSeedClientSuite('fastify', start);
