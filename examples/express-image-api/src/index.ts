import { demoText } from 'example-image-api-shared';
import { buildApp } from './app.js';

const { app, example } = await buildApp();
const server = app.listen(example.config.port, example.config.host);
await new Promise((resolve) => server.once('listening', resolve));
console.log(await demoText(example, 'Express'));
// On shutdown: stop taking requests and finish those in flight, then write the usage counted since
// the last batch, give back leased units and close the stores (example.close calls keywarden.close).
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.once(signal, () => server.close(() => void example.close()));
