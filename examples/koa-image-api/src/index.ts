import { curlExamples } from 'example-image-api-shared';
import { buildApp } from './app.js';

const { app, example } = await buildApp();
const server = app.listen(example.config.port, example.config.host, () => {
  const base = `http://${example.config.host}:${example.config.port}`;
  console.log(
    `keywarden image API (Koa) on ${base}\nKey portal: ${base}/account/api-keys/ (sign in as alice or bob on the page)\nDemo API key: ${example.demoKey}\n\n${curlExamples(base, example.demoKey)}`,
  );
});
// On shutdown: stop taking requests and finish those in flight, then write the usage counted since
// the last batch, give back leased units and close the stores (example.close calls keywarden.close).
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.once(signal, () => server.close(() => void example.close()));
