import { listenNode, runExampleSuite, type Start } from '../../image-api-shared/test/example-suite.js';
import { runSeedClientSuite } from '../../image-api-shared/test/seed-clients.js';
import { buildApp } from '../src/app.js';

const start: Start = async (overrides) => {
  const { app, example } = await buildApp(overrides);
  return listenNode(app, example);
};
runExampleSuite('koa', start);
runSeedClientSuite('koa', start);
