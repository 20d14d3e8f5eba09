// A server for the load test, in its own process: argv framework, key count. It creates the keys,
// counts every authentication outcome through onEvent, and reports keys, counts and memory over IPC.
import {
  createArgon2Hasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  generateTokenSecret,
} from '@keywarden/core';
import { SERVERS } from './servers.js';

const [framework = 'fastify5', count = '1000'] = process.argv.slice(2);
const outcomes = { succeeded: 0, failed: 0, reasons: {} as Record<string, number> };
// One load generator on 127.0.0.1 sends 10% bad keys on purpose: the per-client failure budgets
// would (rightly) stop it, so they are off here; core tests cover them.
const keys = createKeyManager({
  store: createMemoryKeyStore(),
  hasher: createArgon2Hasher(),
  failureThrottle: false,
});
const keywarden = createKeywarden({
  keys,
  requireHttps: false,
  tokens: { secrets: [{ id: 'k1', secret: generateTokenSecret() }] }, // the servers mount the mint route
  onEvent: (event) => {
    if (event.type === 'auth.succeeded') outcomes.succeeded++;
    if (event.type === 'auth.failed') {
      outcomes.failed++;
      outcomes.reasons[event.reason] = (outcomes.reasons[event.reason] ?? 0) + 1;
    }
  },
});
const valid: string[] = [];
for (let i = 0; i < Number(count); i++) valid.push((await keys.create({ name: `load ${i}` })).key);
const server = await SERVERS[framework]!(keywarden, {});
process.on('message', (message: { type: string }) => {
  if (message.type === 'stats') {
    global.gc?.();
    process.send!({ type: 'stats', outcomes, rss: process.memoryUsage().rss });
  }
});
process.send!({ type: 'ready', port: server.port, valid });
