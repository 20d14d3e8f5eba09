import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  clientPartition,
  createKeyManager,
  createKeywarden,
  createMemoryLimitStore,
  DuplicateAccountError,
  type KeyManager,
  type KeyStore,
  type Keywarden,
  type LimitStore,
  openFileKeyStore,
  type Principal,
} from '@keywarden/core';
import { createPostgresKeyStore } from '@keywarden/postgres';
import { createRedisLimitStore } from '@keywarden/redis';
import sharp from 'sharp';
import { type ExampleConfig, loadConfig } from './config.js';
import { ApiError } from './errors.js';
import { namespaceOf, visitorNamespaceOf } from './paths.js';
import { type Billing, type Caller, createImageService, type ImageService } from './service.js';
import { createSessions, DEMO_ACCOUNTS, PLANS, type Sessions } from './session.js';
import { TOOLS, type ToolName, toolPaths } from './tools.js';

/** Everything an example app needs, whatever its framework. */
export interface Example {
  config: ExampleConfig;
  keywarden: Keywarden;
  keys: KeyManager;
  service: ImageService;
  /** The demo's API key, printed for trying the API with curl (`demo-key` beside the keys file). */
  demoKey: string;
  /**
   * The API key "your server" holds to mint the public page's tokens (`page-key` beside the keys
   * file); it never leaves the server. Every token minted with it is a demo visitor of its own.
   */
  pageKey: string;
  /**
   * "Your server": mints a token for the page, with the API key it holds. Public in this demo
   * (see {@link PAGE_TOKENS_PER_MINUTE}); a real one sits behind its own login.
   */
  mintForPage(
    body: unknown,
    clientIp: string | undefined,
  ): Promise<{ accessToken: string; expiresIn: number; paths: string[] }>;
  /**
   * "Your server" as the BackgroundCut v3 guide's browser code calls it
   * (`POST /your-api/get-bgcut-token`, no body): a token for upload, background removal and
   * downloads, answered as `{ accessToken }`. Public and rate-limited like {@link Example.mintForPage}.
   */
  mintForGuide(clientIp: string | undefined): Promise<{ accessToken: string }>;
  /**
   * Quota units for one call of `principal`, paid for work done: `reserve` holds them against the
   * key's and its account's limits before the work (rejecting with keywarden's `AuthError`: 429, or
   * 402 when credits ran out; a demo visitor's own budget first), hands the RateLimit headers to
   * `setHeaders`, and the service commits the hold once the work is done or releases it when it
   * failed. `idempotencyKey`: the request's `Idempotency-Key` header, so a retried call is charged once.
   */
  billing(
    request: {
      method: string;
      url: string;
      ip: string | undefined;
      idempotencyKey?: string | string[] | undefined;
    },
    principal: Principal,
    setHeaders: (headers: Readonly<Record<string, string>>) => void,
  ): Billing;
  /**
   * Admits a request of a demo visitor (an access token the public routes minted): at most
   * {@link VISITOR_LIMITS} per token and per address (IPv6 per /64), so that no one visitor can
   * spend the demo key's rate or quota for everyone. Other credentials pass untouched. Throws a
   * 429 with `Retry-After`.
   */
  admit(principal: Principal, ip: string | undefined): Promise<void>;
  /** The demo sign-in behind the key portal (see session.ts). */
  sessions: Sessions;
  close(): Promise<void>;
}

/** Key environments of the examples: `keywarden keys create --env api` (with `KEYWARDEN_ENVIRONMENTS=api=api`) makes an `api_` key. */
export const KEY_ENVIRONMENTS = Object.freeze({ live: 'kw_live', test: 'kw_test', api: 'api' });

/**
 * Tokens "your server" mints per client address per minute. The route is public in these examples
 * (it stands for the customer's own backend, which would require its own login first), so it is
 * rate-limited: without a limit anyone could mint tokens on the demo key in a loop.
 */
export const PAGE_TOKENS_PER_MINUTE = 30;

/**
 * What one visitor of the public demo may spend (its token minted by `/your-server/token` or
 * `/your-api/get-bgcut-token`): per token over its two minutes, and per address (an IPv6 /64 counts
 * as one). One address can then spend at most 3,100 units a month, where the demo key holds
 * 100,000, and 60 requests a minute, where it holds 600: no one visitor can use up the demo for
 * everyone.
 */
export const VISITOR_LIMITS = Object.freeze({
  requestsPerToken: 40,
  unitsPerToken: 15,
  requestsPerAddressPerMinute: 60,
  unitsPerAddressPerDay: 100,
});

/**
 * A demo key kept in `file` beside the keys file: reused while it is valid, else created (the demo
 * key for curl, and the page key "your server" mints visitors' tokens with).
 */
async function ensureKey(keys: KeyManager, file: string, name: string): Promise<{ key: string; id: string }> {
  if (existsSync(file)) {
    const key = (await readFile(file, 'utf8')).trim();
    const verified = await keys.verify(key);
    if (verified.ok) return { key, id: verified.key.id };
  }
  const { key, record } = await keys.create({
    name,
    scopes: ['images:read', 'images:write'],
    rateLimit: { limit: 600, windowSeconds: 60 },
    quota: { limit: 100_000, period: 'month' },
  });
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  return { key, id: record.id };
}

const DAY_MS = 86_400_000;

/**
 * Builds the keywarden set-up and image service every example shares, from the environment (see
 * `loadConfig`) and optional overrides (tests pass folders and a clock).
 */
export async function createExample(overrides: Partial<ExampleConfig> = {}): Promise<Example> {
  const config = await loadConfig(process.env, overrides);
  let store: KeyStore & { close(): Promise<void> };
  if (config.databaseUrl) {
    const postgres = createPostgresKeyStore({ connectionString: config.databaseUrl });
    await postgres.migrate();
    store = postgres;
  } else {
    store = await openFileKeyStore({ path: config.keysFile });
  }
  // Keys of three environments: kw_live_ and kw_test_, and api_ (the form Crop.photo's docs show,
  // `Authorization: Bearer api_...`): prefixes are the provider's choice.
  const keys = createKeyManager({ store, now: config.now, environments: KEY_ENVIRONMENTS });
  const limitStore: LimitStore | undefined = config.redisUrl
    ? createRedisLimitStore({ url: config.redisUrl })
    : undefined;
  const keywarden = createKeywarden({
    keys,
    now: config.now,
    tokens: { secrets: [{ id: 'main', secret: config.tokenSecret }] },
    apiKeyQueryParam: config.queryParam,
    plans: PLANS,
    ...(limitStore ? { limits: { store: limitStore } } : {}),
    // Usage alerts: an account past 80 % and 100 % of its quota, once per month across instances.
    // Logged here as a JSON line; a real service would email the customer.
    onEvent: (event) => {
      if (event.type === 'usage.threshold') process.stderr.write(`${JSON.stringify(event)}\n`);
    },
  });
  // The demo's customers, on their plans (made once; an operator would use `keywarden accounts create`).
  for (const [id, plan] of Object.entries(DEMO_ACCOUNTS))
    if ((await keys.accounts.get(id)) === null)
      await keys.accounts.create({ id, plan }).catch((error: unknown) => {
        if (!(error instanceof DuplicateAccountError)) throw error; // another instance made it first
      });
  const folder = dirname(config.keysFile);
  const { key: demoKey } = await ensureKey(keys, join(folder, 'demo-key'), 'demo key');
  // "Your server"'s own key for the public page: its tokens are visitors, each with a folder and
  // budgets of its own, while tokens of the demo key (a curl user's) share the demo key's files.
  const { key: pageKey, id: pageKeyId } = await ensureKey(
    keys,
    join(folder, 'page-key'),
    'demo page ("your server")',
  );
  // The public routes' budgets, per address and per visitor token. A spray from many addresses
  // pushes out the oldest counters (never refusing a newcomer because the table is full): 10,050
  // addresses used to fill it and turn every new visitor away.
  const visitors = createMemoryLimitStore({ maxCounters: 50_000, whenFull: 'evict-oldest' });
  /** Counts `cost` on each `[name, limit, windowEnd]`, all or nothing; a 429 naming `what` beyond. */
  async function spend(counters: [string, number, number][], cost: number, what: string): Promise<void> {
    const t = config.now();
    const list = counters.map(([key, limit, resetAt]) => ({ key, limit, resetAt, cost }));
    const counted = await visitors.consume(list, t).catch(() => ({ allowed: false, counts: [] }));
    if (counted.allowed) return;
    const resetAt = Math.max(...counters.map(([, , end]) => end));
    throw new ApiError(429, 'rate_limited', what, { 'retry-after': String(Math.ceil((resetAt - t) / 1000)) });
  }
  const minuteEnd = (t: number) => (Math.floor(t / 60_000) + 1) * 60_000;
  const dayEnd = (t: number) => (Math.floor(t / DAY_MS) + 1) * DAY_MS;
  const addressOf = (ip: string | undefined) => clientPartition(ip) ?? 'unknown';
  /** The public token routes' budget: {@link PAGE_TOKENS_PER_MINUTE} per client address. */
  const countPageToken = (clientIp: string | undefined) =>
    spend(
      [[`page:${addressOf(clientIp)}`, PAGE_TOKENS_PER_MINUTE, minuteEnd(config.now())]],
      1,
      'Too many tokens from this address; wait a minute',
    );
  const isVisitor = (principal: Caller) =>
    principal.kind === 'access_token' && principal.keyId === pageKeyId && principal.tokenId !== null;
  /** A visitor token's own window: it lives two minutes at most. */
  const tokenEnd = (principal: Principal) => (principal.expiresAt?.getTime() ?? config.now()) + 1000;
  /**
   * Exactly what a customer's server does: call the mint endpoint with its API key, asking only
   * for the paths the client needs, for two minutes.
   */
  async function mint(paths: string[]) {
    const minted = await keywarden.handleMintRequest(
      { method: 'POST', url: '/v3/auth/access-token/', headers: { authorization: `Token ${pageKey}` } },
      JSON.stringify({ paths, expires_in: 120 }),
    );
    if (!minted.ok) throw new ApiError(502, 'mint_failed', 'Could not mint an access token');
    return minted.body;
  }
  return {
    config,
    keywarden,
    keys,
    demoKey,
    pageKey,
    service: createImageService({
      storageDir: config.storageDir,
      // Each demo visitor's token has a folder of its own; everyone else's files go by owner or key.
      namespaceOf: (caller) =>
        isVisitor(caller) ? visitorNamespaceOf(caller.tokenId!) : namespaceOf(caller),
    }),
    sessions: createSessions(config.tokenSecret, config.now),
    async mintForPage(body, clientIp) {
      await countPageToken(clientIp);
      const tool = (body as { tool?: unknown } | null)?.tool;
      if (typeof tool !== 'string' || !(tool in TOOLS))
        throw new ApiError(400, 'unknown_tool', 'Pick a tool');
      const minted = await mint(['/v3/file-ops/upload/', toolPaths(tool as ToolName)[0], '/v3/files/*']);
      return { accessToken: minted.access_token, expiresIn: minted.expires_in, paths: minted.paths };
    },
    async mintForGuide(clientIp) {
      await countPageToken(clientIp);
      const minted = await mint(['/v3/file-ops/upload/', toolPaths('remove-bg')[0], '/v3/files/*']);
      return { accessToken: minted.access_token };
    },
    async admit(principal, ip) {
      if (!isVisitor(principal)) return;
      const t = config.now();
      await spend(
        [
          [`requests:token:${principal.tokenId}`, VISITOR_LIMITS.requestsPerToken, tokenEnd(principal)],
          [`requests:${addressOf(ip)}`, VISITOR_LIMITS.requestsPerAddressPerMinute, minuteEnd(t)],
        ],
        1,
        'This demo visitor made too many requests; wait, or get a new token',
      );
    },
    billing(request, principal, setHeaders) {
      const visitorUnits = (): [string, number, number][] => [
        [`units:token:${principal.tokenId}`, VISITOR_LIMITS.unitsPerToken, tokenEnd(principal)],
        [`units:${addressOf(request.ip)}`, VISITOR_LIMITS.unitsPerAddressPerDay, dayEnd(config.now())],
      ];
      return {
        async reserve(units) {
          // A visitor's own budget counts attempts (a demo visitor's failed call still counts).
          if (isVisitor(principal))
            await spend(visitorUnits(), units, 'This demo visitor has used its units; come back tomorrow');
          // The key's quota and its account's (every key of the account counts toward them).
          const served = { method: request.method, url: request.url, headers: [], ip: request.ip };
          const hold = await principal.reserve(units, {
            idempotencyKey: request.idempotencyKey,
            request: served,
          });
          setHeaders(hold.headers);
          return hold;
        },
      };
    },
    async close() {
      await keywarden.close().catch(() => {}); // the usage counted since the last write
      keys.close();
      await store.close();
      await limitStore?.close?.();
    },
  };
}

/**
 * The curl commands `pnpm demo` prints, one per credential form, in the order they work: upload
 * `photo` (a path), enlarge it, download the result with the key, mint a token, download with
 * `token` (one minted at start, or the mint's answer).
 */
export function curlExamples(
  base: string,
  key: string,
  photo = 'photo.png',
  token = '<access_token from above>',
): string {
  return [
    `curl -H "X-Api-Key: ${key}" -F files=@${photo} -F upload_path=my-project ${base}/v3/file-ops/upload/`,
    `curl -H "Authorization: Token ${key}" -H "Content-Type: application/json" -d '{"input_file_path":"my-project/photo.png","output_variants":[{"output_file_path":"my-project/big.png","scale":2}]}' ${base}/v3/tools/ai/resize/process/`,
    `curl -H "Authorization: Bearer ${key}" -o big.png ${base}/v3/files/my-project/big.png`,
    `curl -H "Authorization: Token ${key}" -H "Content-Type: application/json" -d '{"paths":["/v3/files/*"],"expires_in":600}' ${base}/v3/auth/access-token/`,
    `curl -H "Authorization: AccessToken ${token}" -o big.png ${base}/v3/files/my-project/big.png`,
  ].join('\n');
}

/**
 * What an example prints when it starts: where it listens, the page, the key portal, the demo key,
 * and curl commands that work as pasted. It writes a sample `photo.png` beside the keys file for the
 * upload, and mints a ten-minute access token for the last command.
 */
export async function demoText(example: Example, framework: string): Promise<string> {
  const { config, demoKey, keywarden } = example;
  const base = `http://${config.host}:${config.port}`;
  const photo = join(dirname(config.keysFile), 'photo.png');
  if (!existsSync(photo)) await writeFile(photo, await samplePhoto(), { mode: 0o600 });
  const keyId = demoKey.slice(demoKey.length - 50, demoKey.length - 38);
  const { token } = await keywarden.mintAccessToken(keyId, { paths: ['/v3/files/*'], expiresIn: 600 });
  return `keywarden image API (${framework}) on ${base} (PORT and HOST set where it listens)
Open ${base}/ for the browser flow: the page gets a short-lived access token from "your server".
Key portal (customers manage their own keys; sign in as alice or bob on the page first):
  ${base}/account/api-keys/
${accountsText()}

Demo API key (kept in ${join(dirname(config.keysFile), 'demo-key')}):
  ${demoKey}

Try each credential form (a sample image is at ${photo}; the last command's access token is valid
for ten minutes, the fourth mints a new one):
${curlExamples(base, demoKey, photo, token)}
`;
}

/** The demo accounts and what their plans allow, for the start-up text. */
function accountsText(): string {
  const lines = Object.entries(DEMO_ACCOUNTS).map(([id, name]) => {
    const plan = PLANS[name]!;
    const rate = plan.rateLimits?.map(
      (r) =>
        `${r.limit.toLocaleString('en-US')} a ${r.windowSeconds === 60 ? 'minute' : `${r.windowSeconds} s`}`,
    );
    const quota = plan.quota
      ? `${plan.quota.limit.toLocaleString('en-US')} calls a ${plan.quota.period}`
      : 'no quota';
    return `  ${id} on ${name}: ${quota}, ${rate?.join(' and ') ?? 'no rate limit'}, ${plan.maxKeys} keys`;
  });
  return `Accounts (limits count every key of the account together):\n${lines.join('\n')}`;
}

/** A 400 x 300 image with a flat background and a square in the middle: something for every tool. */
function samplePhoto(): Promise<Buffer> {
  return sharp({ create: { width: 400, height: 300, channels: 3, background: '#f4f1ea' } })
    .composite([
      {
        input: { create: { width: 120, height: 120, channels: 3, background: '#2f6fb2' } },
        left: 140,
        top: 90,
      },
    ])
    .png()
    .toBuffer();
}
