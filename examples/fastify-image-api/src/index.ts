import { curlExamples } from 'example-image-api-shared';
import { buildApp } from './app.js';

const { app, example } = await buildApp();
await app.listen({ port: example.config.port, host: example.config.host });
// On shutdown: stop taking requests and finish those in flight, then write the usage counted since
// the last batch, give back leased units and close the stores (app.close runs example.close).
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void app.close());
const base = `http://${example.config.host}:${example.config.port}`;
console.log(`keywarden image API (Fastify) on ${base}
Open ${base}/ for the browser flow: the page gets a short-lived access token from "your server".
Key portal (customers manage their own keys; sign in as alice or bob on the page first):
  ${base}/account/api-keys/

Demo API key (kept in ${example.config.keysFile.replace(/keys\.json$/, 'demo-key')}):
  ${example.demoKey}

Try each credential form:
${curlExamples(base, example.demoKey)}
`);
