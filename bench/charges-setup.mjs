// The set-up of bench/charges.mjs and bench/charges-instructions.mjs: one keywarden on the memory
// limit store and a prebuilt request view per kind of charge (authenticateNow on a built view, as
// in bench/paired-builds.mjs). Kinds: a key without limits (`none`); a key with a rate limit and
// a quota (`key`); the same key of an account on a plan with both (`account`); the same of an
// account past its quota, paid by its prepaid credits (`credits`).
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const core = await import(join(root, 'packages/core/dist/index.js'));
const { RequestView } = await import(join(root, 'packages/core/dist/integration-kit.js'));

// Limits too large to refuse during a run, and below 2^31 (a count above it prints slower: the
// headers would weigh more than a realistic quota's).
const HIGH = { rateLimit: { limit: 1e9, windowSeconds: 3600 }, quota: { limit: 2e9, period: 'month' } };
const keys = core.createKeyManager({
  store: core.createMemoryKeyStore(),
  hasher: core.createHmacHasher({ pepper: 'p'.repeat(32) }),
  cache: { recordTtlMs: 3_600_000, verifiedTtlMs: 3_600_000 },
});
const keywarden = core.createKeywarden({
  keys,
  requireHttps: false,
  usage: false,
  plans: {
    team: { rateLimits: [HIGH.rateLimit], quota: HIGH.quota },
    // The quota is spent at set-up: every request is paid by credits.
    prepaid: { rateLimits: [HIGH.rateLimit], quota: { limit: 1, period: 'month' }, overage: 'credits' },
  },
  limits: { store: core.createMemoryLimitStore() },
});
await keys.accounts.create({ id: 'acme', plan: 'team' });
await keys.accounts.create({ id: 'prepaid', plan: 'prepaid' });
await keys.accounts.credit('prepaid', 1e12, { reason: 'bench' });
const bounds = { paths: ['/v3/files/*'], scopes: ['images:read'] };
const made = {
  none: await keys.create({ name: 'n', ...bounds }),
  key: await keys.create({ name: 'k', ...bounds, ...HIGH }),
  account: await keys.create({ name: 'a', ...bounds, ...HIGH, ownerId: 'acme' }),
  credits: await keys.create({ name: 'c', ...bounds, ...HIGH, ownerId: 'prepaid' }),
};
const server = { on() {} };
const access = { ip: () => '127.0.0.1', secure: () => false };
const viewOf = (key) => {
  const r = {
    method: 'GET',
    url: '/v3/files/my-project/a.png',
    rawHeaders: ['host', 'x', 'x-api-key', key],
    socket: { server, remoteAddress: '127.0.0.1' },
  };
  return new RequestView(r, r.url, r, access);
};
const views = Object.fromEntries(Object.entries(made).map(([kind, { key }]) => [kind, viewOf(key)]));
// Another key of the account, used once at set-up: the account's counts then differ from the
// key's, as they do for an account with several keys (equal counts would print their digits from
// V8's number-to-string cache, and the account's two extra counters would look cheaper).
{
  const other = await keys.create({ name: 'a2', ...bounds, ...HIGH, ownerId: 'acme' });
  const res = await keywarden.authenticate(viewOf(other.key));
  if (!res.ok) throw new Error(`refused at set-up: ${res.error.code}`);
}
for (const view of Object.values(views)) {
  const res = await keywarden.authenticate(view);
  if (!res.ok) throw new Error(`refused at set-up: ${res.error.code}`);
}

export { keywarden, views };
