import { listenNode, runExampleSuite } from '../../image-api-shared/test/example-suite.js';
import { buildApp } from '../src/app.js';

runExampleSuite('koa', async (overrides) => {
  const { app, example } = await buildApp(overrides);
  return listenNode(app, example);
});
