import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  createKeyManager,
  createKeywarden,
  createMemoryLimitStore,
  type KeyManager,
  type KeyStore,
  type Keywarden,
  type LimitStore,
  openFileKeyStore,
  type Principal,
} from '@keywarden/core';
import { createPostgresKeyStore } from '@keywarden/postgres';
import { createRedisLimitStore } from '@keywarden/redis';
import { type ExampleConfig, loadConfig } from './config.js';
import { ApiError } from './errors.js';
import { createImageService, type ImageService } from './service.js';
import { createSessions, type Sessions } from './session.js';
import { TOOLS, type ToolName, toolPaths } from './tools.js';

/** Everything an example app needs, whatever its framework. */
export interface Example {
  config: ExampleConfig;
  keywarden: Keywarden;
  keys: KeyManager;
  service: ImageService;
  /** The API key "your server" holds; it never leaves the server. */
  demoKey: string;
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
   * Charges `units` quota units to the key behind `principal`, all or nothing; resolves with the
   * RateLimit headers to send, or rejects with keywarden's 429 (an `AuthError`).
   */
  charge(
    request: { method: string; url: string; ip: string | undefined },
    principal: Principal,
    units: number,
  ): Promise<Readonly<Record<string, string>>>;
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

/** The demo key: reused from `demo-key` beside the keys file while it is valid, else created. */
async function ensureDemoKey(keys: KeyManager, folder: string): Promise<string> {
  const file = join(folder, 'demo-key');
  if (existsSync(file)) {
    const key = (await readFile(file, 'utf8')).trim();
    if ((await keys.verify(key)).ok) return key;
  }
  const { key } = await keys.create({
    name: 'demo key',
    scopes: ['images:read', 'images:write'],
    rateLimit: { limit: 600, windowSeconds: 60 },
    quota: { limit: 1000, period: 'month' },
  });
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  return key;
}

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
    ...(limitStore ? { limits: { store: limitStore } } : {}),
  });
  const demoKey = await ensureDemoKey(keys, dirname(config.keysFile));
  const pageTokens = createMemoryLimitStore({ maxCounters: 10_000 });
  /** The public token routes' budget: {@link PAGE_TOKENS_PER_MINUTE} per client address. */
  async function countPageToken(clientIp: string | undefined): Promise<void> {
    const t = config.now();
    const windowEnd = (Math.floor(t / 60_000) + 1) * 60_000;
    const counter = {
      key: `page:${clientIp ?? '?'}`,
      limit: PAGE_TOKENS_PER_MINUTE,
      resetAt: windowEnd,
      cost: 1,
    };
    const counted = await pageTokens.consume([counter], t).catch(() => ({ allowed: false }));
    if (!counted.allowed) {
      throw new ApiError(429, 'rate_limited', 'Too many tokens from this address; wait a minute', {
        'retry-after': String(Math.ceil((windowEnd - t) / 1000)),
      });
    }
  }
  /**
   * Exactly what a customer's server does: call the mint endpoint with its API key, asking only
   * for the paths the client needs, for two minutes.
   */
  async function mint(paths: string[]) {
    const minted = await keywarden.handleMintRequest(
      { method: 'POST', url: '/v3/auth/access-token/', headers: { authorization: `Token ${demoKey}` } },
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
    service: createImageService({ storageDir: config.storageDir }),
    sessions: createSessions(config.tokenSecret),
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
    async charge(request, principal, units) {
      const input = { method: request.method, url: request.url, headers: [], ip: request.ip };
      const charged = await keywarden.authorizeAgain(input, principal, { cost: units }, 0);
      if (!charged.ok) throw charged.error;
      return charged.headers;
    },
    async close() {
      await keywarden.close().catch(() => {}); // the usage counted since the last write
      keys.close();
      await store.close();
      await limitStore?.close?.();
    },
  };
}

/** The curl commands `pnpm demo` prints, one per credential form. */
export function curlExamples(base: string, key: string): string {
  return [
    `curl -H "X-Api-Key: ${key}" -F files=@photo.png -F upload_path=my-project ${base}/v3/file-ops/upload/`,
    `curl -H "Authorization: Token ${key}" -H "Content-Type: application/json" -d '{"input_file_path":"my-project/photo.png","output_variants":[{"output_file_path":"my-project/big.png","scale":2}]}' ${base}/v3/tools/ai/resize/process/`,
    `curl -H "Authorization: Bearer ${key}" -o big.png ${base}/v3/files/my-project/big.png`,
    `curl -H "Authorization: Token ${key}" -H "Content-Type: application/json" -d '{"paths":["/v3/files/*"],"expires_in":60}' ${base}/v3/auth/access-token/`,
    `curl -H "Authorization: AccessToken <access_token from above>" -o big.png ${base}/v3/files/my-project/big.png`,
  ].join('\n');
}
