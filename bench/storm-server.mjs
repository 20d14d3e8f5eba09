// The server of bench/storm-http.mjs, in a process of its own: a Fastify app with keywarden over
// the keys file the bench made (a fresh process: every cache empty, as after a deploy). argv:
// keys file, hasher (hmac-sha256 | argon2id), maxConcurrentHashes. Sends 'ready' with its port.
import './next-tick-warmup.mjs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Fastify from 'fastify';
import {
  createArgon2Hasher,
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  openFileKeyStore,
} from '../packages/core/dist/index.js';
import { keywardenFastify } from '../packages/fastify/dist/index.js';

const [path, hasherName, hashes] = process.argv.slice(2);
const hasher =
  hasherName === 'argon2id' ? createArgon2Hasher() : createHmacHasher({ pepper: 'p'.repeat(32) });
const store = await openFileKeyStore({ path, watch: false });
const keys = createKeyManager({ store, hasher, failureThrottle: false, maxConcurrentHashes: Number(hashes) });
const keywarden = createKeywarden({ keys, requireHttps: false, usage: false });
const app = Fastify();
await app.register(keywardenFastify, { keywarden });
app.get('/v3/files/*', async () => 'ok'); // keywarden's hook guards every route
await app.listen({ port: 0, host: '127.0.0.1' });
process.send({ type: 'ready', port: app.server.address().port });
// The event loop's own delay (how late a 1 ms timer fires: the loop busy, or its thread off the
// CPU), per phase: 'loop' answers the phase's p50, p99 and max in ms and starts the next.
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
process.on('message', async (message) => {
  if (message.type === 'loop') {
    const ms = (ns) => Number((ns / 1e6).toFixed(2));
    process.send({
      type: 'loop',
      p50: ms(loop.percentile(50)),
      p99: ms(loop.percentile(99)),
      max: ms(loop.max),
    });
    loop.reset();
  } else if (message.type === 'stop') {
    await app.close();
    process.exit(0);
  }
});
