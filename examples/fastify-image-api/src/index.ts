import { demoText } from 'example-image-api-shared';
import { buildApp } from './app.js';

const { app, example } = await buildApp();
await app.listen({ port: example.config.port, host: example.config.host });
// On shutdown: stop taking requests and finish those in flight, then write the usage counted since
// the last batch, give back leased units and close the stores (app.close runs example.close).
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void app.close());
console.log(await demoText(example, 'Fastify'));
