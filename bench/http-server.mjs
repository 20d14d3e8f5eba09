// One server of the HTTP benchmark, run as a child process so that it has a core of its own and
// its CPU time can be measured alone. argv: framework (fastify|express|koa), mode (none|keywarden|
// bearer-auth|passport); or `paired` and several modes, comma-separated (see below), for
// bench/warm-path.mjs. Talks to the parent over IPC: 'ready' (with the port, or the ports by mode),
// then answers 'headers' and 'cpu'.
import './next-tick-warmup.mjs'; // first: see the file
import {
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  generateTokenSecret,
} from '../packages/core/dist/index.js';
import { createExpressAuth } from '../packages/express/dist/index.js';
import { keywardenFastify } from '../packages/fastify/dist/index.js';
import { createKoaAuth } from '../packages/koa/dist/index.js';
import { createRedisLimitStore } from '../packages/redis/dist/index.js';

const [framework, mode, redisUrl] = process.argv.slice(2);
// Limits rows: the key has a rate limit and a monthly quota (too large to refuse during a run),
// counted in memory or in the redis-server the benchmark started (its URL is the third argument); the peers'
// rate limiters get the same window and the same Redis.
const RATE = { limit: 1_000_000_000, windowSeconds: 60 };
const QUOTA = { limit: 1_000_000_000_000, period: 'month' };
/**
 * Whether a mode's keywarden counts limits, and where: null (none), 'memory' or 'redis'; with
 * `-account` in the mode, 'account-memory' or 'account-redis': the key belongs to an account
 * whose plan has a rate limit and a quota of the same sizes, charged with the key's; with
 * `-credits`, 'credits-memory' or 'credits-redis': the same, but the account's quota (1 unit) is
 * used up at set-up and every request is paid by its prepaid credits.
 */
const limitsOf = (name) => {
  const own = name.slice(name.indexOf(':') + 1); // a paired name's framework prefix off
  if (!own.startsWith('keywarden-limits')) return null;
  const where = own.endsWith('-redis') ? 'redis' : 'memory';
  if (own.includes('-credits')) return `credits-${where}`;
  return own.includes('-account') ? `account-${where}` : where;
};
// An API with 100 customers: keywarden holds 100 keys (its per-request cost does not depend on the
// count: one digest lookup); @fastify/bearer-auth compares against each configured key in turn, so
// it runs with one key (its best case) and with the same 100, the one presented being the 50th.
const KEY_COUNT = 100;

/**
 * A keywarden with its own key manager and 100 keys, counting limits as `limits` says; resolves to
 * it, the key the load presents (the 50th) and every key. argon2id runs once, then the key is cached.
 * The benchmark sends no failing keys; the budgets are off as before.
 */
async function createInstance(limits) {
  const keys = createKeyManager({ store: createMemoryKeyStore(), failureThrottle: false });
  const onCredits = limits?.startsWith('credits-') ?? false;
  const ofAccount = onCredits || (limits?.startsWith('account-') ?? false);
  const plans = {
    team: { rateLimits: [RATE], quota: QUOTA },
    prepaid: { rateLimits: [RATE], quota: { limit: 1, period: 'month' }, overage: 'credits' },
  };
  const keywarden = createKeywarden({
    keys,
    requireHttps: false,
    tokens: { secrets: [{ id: 'k1', secret: generateTokenSecret() }] },
    ...(limits?.endsWith('redis') ? { limits: { store: createRedisLimitStore({ url: redisUrl }) } } : {}),
    ...(ofAccount ? { plans } : {}),
  });
  if (ofAccount) await keys.accounts.create({ id: 'bench-account', plan: onCredits ? 'prepaid' : 'team' });
  if (onCredits) await keys.accounts.credit('bench-account', QUOTA.limit, { reason: 'bench' });
  const settings = {
    scopes: ['images:read'],
    paths: ['/v3/files/*'],
    ...(limits ? { rateLimit: RATE, quota: QUOTA } : {}),
    ...(ofAccount ? { ownerId: 'bench-account' } : {}),
  };
  const others = [];
  for (let i = 1; i < KEY_COUNT; i++)
    others.push((await keys.create({ name: `other ${i}`, ...settings })).key);
  const { key, record } = await keys.create({ name: 'bench', ...settings });
  if (onCredits) {
    // The account's one unit of quota goes now: every request of the run is paid by credits.
    const spent = await keywarden.authenticate({
      method: 'GET',
      url: '/v3/files/a',
      headers: { 'x-api-key': key },
    });
    if (!spent.ok) throw new Error(`could not spend the quota: ${spent.error.code}`);
  }
  const allKeys = [...others.slice(0, KEY_COUNT / 2 - 1), key, ...others.slice(KEY_COUNT / 2 - 1)];
  return { keywarden, key, record, allKeys };
}

// One instance a kind of limits, made when a server first needs it (peers use the plain one's keys).
const instances = new Map();
const instance = (limits) => {
  if (!instances.has(limits)) instances.set(limits, createInstance(limits));
  return instances.get(limits);
};
const { keywarden, key, allKeys } = await instance(limitsOf(mode));
/** An ioredis client for the peers' Redis stores. */
const peerRedis = async () => new (await import('ioredis')).Redis(redisUrl, { enableOfflineQueue: true });
const body = { ok: true };
let port;

/**
 * The floor under the limits rows: a hook that only sets the two headers keywarden's limits send,
 * `RateLimit-Policy` (the same text every time) and `RateLimit` (the remaining counts change on
 * every request), as long as the limited key's, and counts nothing. The texts are taken from a
 * request the limited keywarden answers once.
 */
async function rateLimitHeadersHook() {
  const { keywarden: limited, key: limitedKey } = await instance('memory');
  const probe = await limited.authenticate({
    method: 'GET',
    url: '/v3/files/bench.png',
    headers: { 'x-api-key': limitedKey },
  });
  const policy = probe.headers['ratelimit-policy'];
  const pieces = probe.headers.ratelimit.split(/(?<=;r=)\d+/);
  if (!policy || pieces.length !== 3)
    throw new Error('the limited key answered without its RateLimit headers');
  let rate = RATE.limit;
  let quota = QUOTA.limit;
  return (_request, reply, done) => {
    reply.header('ratelimit-policy', policy);
    reply.header('ratelimit', pieces[0] + --rate + pieces[1] + --quota + pieces[2]);
    done();
  };
}

/** A Fastify server for one mode, listening on a port of its own; resolves to the port. */
async function fastifyServer(mode) {
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  const limits = limitsOf(mode);
  if (mode === 'keywarden' || limits)
    await app.register(keywardenFastify, { keywarden: (await instance(limits)).keywarden });
  if (mode === 'rate-limit' || mode === 'rate-limit-redis')
    await app.register((await import('@fastify/rate-limit')).default, {
      max: RATE.limit,
      timeWindow: RATE.windowSeconds * 1000,
      ...(mode === 'rate-limit-redis' ? { redis: await peerRedis() } : {}),
    });
  if (mode === 'empty-async-hook') app.addHook('onRequest', async () => {});
  if (mode === 'empty-callback-hook') app.addHook('onRequest', (_request, _reply, done) => done());
  if (mode === 'ratelimit-headers') app.addHook('onRequest', await rateLimitHeadersHook());
  if (mode === 'bearer-auth')
    await app.register((await import('@fastify/bearer-auth')).default, { keys: new Set([key]) });
  if (mode === 'bearer-auth-100')
    await app.register((await import('@fastify/bearer-auth')).default, { keys: new Set(allKeys) });
  app.get('/v3/files/*', async () => body);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return app.server.address().port;
}

/** Listens on a free loopback port; resolves to it. */
const listen = (app) =>
  new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });

/** An Express server for one mode; resolves to its port. */
async function expressServer(mode) {
  const { default: express } = await import('express');
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  const limits = limitsOf(mode);
  if (mode === 'keywarden' || limits)
    app.use(createExpressAuth((await instance(limits)).keywarden).authenticate());
  if (mode === 'express-rate-limit' || mode === 'express-rate-limit-redis') {
    const { rateLimit } = await import('express-rate-limit');
    let store;
    if (mode.endsWith('-redis')) {
      const { RedisStore } = await import('rate-limit-redis');
      const client = await peerRedis();
      store = new RedisStore({ sendCommand: (command, ...args) => client.call(command, ...args) });
    }
    app.use(
      rateLimit({
        windowMs: RATE.windowSeconds * 1000,
        limit: RATE.limit,
        standardHeaders: 'draft-8',
        legacyHeaders: false,
        ...(store ? { store } : {}),
      }),
    );
  }
  if (mode === 'empty') app.use((_req, _res, next) => next());
  if (mode === 'passport') {
    const { default: passport } = await import('passport');
    const { HeaderAPIKeyStrategy } = await import('passport-headerapikey');
    passport.use(
      new HeaderAPIKeyStrategy({ header: 'X-Api-Key', prefix: '' }, false, (apiKey, done) =>
        done(null, apiKey === key ? { id: 'bench' } : false),
      ),
    );
    app.use(passport.initialize());
    app.use(passport.authenticate('headerapikey', { session: false }));
  }
  app.get(/^\/v3\/files\/.+/, (_req, res) => res.json(body));
  return listen(app);
}

/** A Koa server for one mode; resolves to its port. */
async function koaServer(mode) {
  const { default: Koa } = await import('koa');
  const app = new Koa();
  if (mode === 'keywarden') app.use(createKoaAuth(keywarden).authenticate());
  if (mode === 'empty') app.use((_ctx, next) => next());
  app.use((ctx) => {
    ctx.body = body;
  });
  return listen(app);
}

const SERVERS = { fastify: fastifyServer, express: expressServer, koa: koaServer };

// `paired`: several servers in this one process (the mode names them, comma-separated: a Fastify
// mode, or `express:` or `koa:` and that framework's mode; `-control` makes a second identical
// one), for bench/warm-path.mjs, which alternates short rounds between them and compares their
// CPU time per request inside one process.
const ports = {};
if (framework === 'paired') {
  for (const name of mode.split(',')) {
    const [kind, own] = name.includes(':') ? name.split(':') : ['fastify', name];
    ports[name] = await SERVERS[kind](own.replace(/-control$/, ''));
  }
} else {
  port = await SERVERS[framework](mode);
}

/**
 * Request headers for a credential form, with the key of the keywarden that `server` (a mode) uses;
 * access tokens are minted fresh (they live 10 minutes).
 */
async function headersFor(form, server) {
  const { keywarden, key, record } = await instance(limitsOf(server));
  switch (form) {
    case 'x-api-key':
      return { 'x-api-key': key };
    case 'bearer':
      return { authorization: `Bearer ${key}` };
    case 'token':
      return { authorization: `Token ${key}` };
    case 'access-token': {
      const { token } = await keywarden.mintAccessToken(record.id, {
        paths: ['/v3/files/*'],
        expiresIn: 600,
      });
      return { authorization: `AccessToken ${token}` };
    }
    default:
      return {};
  }
}

process.on('message', async (message) => {
  if (message.type === 'headers')
    process.send({ type: 'headers', headers: await headersFor(message.form, message.server ?? mode) });
  if (message.type === 'cpu')
    process.send({ type: 'cpu', usage: process.cpuUsage(), rss: process.memoryUsage().rss });
});
process.send({ type: 'ready', port, ports });
