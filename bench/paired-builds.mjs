// `node bench/paired-builds.mjs <other checkout> [--swap] [--rounds=N]`: the warm request path of two core
// builds, this checkout's ("after") and another's ("before": `git worktree add /tmp/before <rev>`,
// then `pnpm install && pnpm build` there), alternating in one process, so that drift and the
// machine's regime fall on both alike. Per round: the request view alone, authenticateNow with a
// built view for a path-scoped key and for a token, and the two together; the after/before ratio
// of each round, median. `--swap` loads this checkout's build first (load order can matter).
// For a change to the request path that the HTTP-level paired bench cannot resolve (its rows move
// by about 0.02 between runs, tens of nanoseconds are below that).
// `--limits`: the limits rows instead (memory limit store): a key with a rate limit and a quota,
// and a key with both of an account on a plan with both; per build, what the account adds over
// what the key's limits add (the accounts' cost target: at most 1.3x).
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const other = process.argv[2];
if (!other) throw new Error('usage: node bench/paired-builds.mjs <other checkout> [--swap]');
// The kit's subpath was `adapter` before it was `integration-kit`: either build loads.
const kitOf = (root) =>
  ['integration-kit.js', 'adapter.js']
    .map((file) => join(root, 'packages/core/dist', file))
    .find((path) => existsSync(path));
const build = (root) => [join(root, 'packages/core/dist/index.js'), kitOf(root)];
const builds = { before: build(other), after: build(join(import.meta.dirname, '..')) };
const server = { on() {} };
const limitsSet = process.argv.includes('--limits');
const HIGH = { rateLimit: { limit: 1e9, windowSeconds: 3600 }, quota: { limit: 1e9, period: 'month' } };
async function setup([indexPath, adapterPath]) {
  const core = await import(indexPath);
  const { RequestView } = await import(adapterPath);
  const keys = core.createKeyManager({
    store: core.createMemoryKeyStore(),
    hasher: core.createHmacHasher({ pepper: 'p'.repeat(32) }),
    // A long run must not see its records go stale (and the path go asynchronous).
    cache: { recordTtlMs: 3_600_000, verifiedTtlMs: 3_600_000 },
  });
  const keywarden = core.createKeywarden({
    keys,
    requireHttps: false,
    usage: false,
    tokens: { secrets: [{ id: 't', secret: core.generateTokenSecret() }] },
    ...(limitsSet
      ? {
          plans: { team: { rateLimits: [HIGH.rateLimit], quota: HIGH.quota } },
          limits: { store: core.createMemoryLimitStore() },
        }
      : {}),
  });
  const { key, record } = await keys.create({ name: 'k', paths: ['/v3/files/*'], scopes: ['images:read'] });
  const extra = {};
  if (limitsSet) {
    await keys.accounts.create({ id: 'acme', plan: 'team' });
    const bounds = { paths: ['/v3/files/*'], scopes: ['images:read'], ...HIGH };
    extra.limited = (await keys.create({ name: 'l', ...bounds })).key;
    extra.account = (await keys.create({ name: 'a', ...bounds, ownerId: 'acme' })).key;
  }
  const { token } = await keywarden.mintAccessToken(record.id, { paths: ['/v3/files/*'] });
  const access = { ip: () => '127.0.0.1', secure: () => false };
  const raw = (header, value) => ({
    method: 'GET',
    url: '/v3/files/my-project/a.png',
    rawHeaders: ['host', 'x', header, value],
    socket: { server, remoteAddress: '127.0.0.1' },
  });
  const forms = { key: raw('x-api-key', key), token: raw('authorization', `AccessToken ${token}`) };
  for (const [name, value] of Object.entries(extra)) forms[name] = raw('x-api-key', value);
  for (const r of Object.values(forms)) {
    const res = await keywarden.authenticate(new RequestView(r, r.url, r, access));
    if (!res.ok) throw new Error('refused');
  }
  const views = Object.fromEntries(
    Object.entries(forms).map(([k, r]) => [k, new RequestView(r, r.url, r, access)]),
  );
  return (form, n) => {
    if (form.startsWith('view-')) {
      const r = forms[form.slice(5)];
      const t0 = process.hrtime.bigint();
      let x = 0;
      for (let i = 0; i < n; i++) x += new RequestView(r, r.url, r, access).method.length;
      if (x < 0) throw new Error();
      return Number(process.hrtime.bigint() - t0) / n;
    }
    if (form.startsWith('auth-')) {
      const v = views[form.slice(5)];
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        const res = keywarden.authenticateNow(v);
        if (res instanceof Promise || !res.ok) throw new Error('not warm');
      }
      return Number(process.hrtime.bigint() - t0) / n;
    }
    const r = forms[form];
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const res = keywarden.authenticateNow(new RequestView(r, r.url, r, access));
      if (res instanceof Promise || !res.ok) throw new Error('not warm');
    }
    return Number(process.hrtime.bigint() - t) / n;
  };
}
const order = process.argv.includes('--swap') ? ['after', 'before'] : ['before', 'after'];
const runners = {};
for (const name of order) runners[name] = await setup(builds[name]);
const N = 20000;
// More rounds on a busy machine: `node bench/paired-builds.mjs <other> --rounds=150`.
const ROUNDS = Number(process.argv.find((arg) => arg.startsWith('--rounds='))?.slice(9) ?? 40);
const forms = limitsSet
  ? ['auth-key', 'auth-limited', 'auth-account']
  : ['view-key', 'auth-key', 'auth-token', 'key', 'token'];
const medians = { before: {}, after: {} };
for (const form of forms) {
  for (let w = 0; w < 20; w++) {
    runners.before(form, N);
    runners.after(form, N);
  }
  const ratios = [];
  const ns = { before: [], after: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? ['after', 'before'] : ['before', 'after'];
    const got = {};
    for (const name of order) got[name] = runners[name](form, N);
    ns.before.push(got.before);
    ns.after.push(got.after);
    ratios.push(got.after / got.before);
  }
  const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  // The fastest round of each: contention only ever adds time, so on a shared machine the
  // minimum is the steadier figure of what the code costs.
  const fastest = { before: Math.min(...ns.before), after: Math.min(...ns.after) };
  medians.before[form] = median(ns.before);
  medians.after[form] = median(ns.after);
  console.log(
    `${form}: before ${median(ns.before).toFixed(0)} ns, after ${median(ns.after).toFixed(0)} ns, after/before per round median ${median(ratios).toFixed(3)} (min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)}); fastest rounds ${fastest.before.toFixed(0)} / ${fastest.after.toFixed(0)} ns = ${(fastest.after / fastest.before).toFixed(3)}`,
  );
}
if (limitsSet) {
  for (const name of ['before', 'after']) {
    const m = medians[name];
    const keyAdds = m['auth-limited'] - m['auth-key'];
    const accountAdds = m['auth-account'] - m['auth-key'];
    console.log(
      `${name}: key limits add ${keyAdds.toFixed(0)} ns, key + account limits ${accountAdds.toFixed(0)} ns: ${(accountAdds / keyAdds).toFixed(2)}x`,
    );
  }
}
