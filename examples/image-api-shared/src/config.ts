import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { generateTokenSecret } from '@keywarden/core';

/** What the three examples read from the environment, the same way. */
export interface ExampleConfig {
  port: number;
  host: string;
  /** The embedded file key store. */
  keysFile: string;
  /** Uploaded and produced images, one folder per key owner. */
  storageDir: string;
  /** Signing secret of access tokens. */
  tokenSecret: string;
  redisUrl: string | undefined;
  databaseUrl: string | undefined;
  /** Query parameter that may carry an API key (discouraged; off unless `KEYWARDEN_QUERY_PARAM` names one). */
  queryParam: string | false;
  /** Origins whose pages may call the API from the browser (CORS); none by default. */
  corsOrigins: string[];
  /** Clock for tests. */
  now: () => number;
}

/**
 * Reads `PORT` (3000), `HOST` (127.0.0.1), `KEYWARDEN_KEYS_FILE` (.keywarden/keys.json),
 * `KEYWARDEN_STORAGE_DIR` (storage/ beside the keys file), `KEYWARDEN_TOKEN_SECRET` (else a secret
 * generated once and kept beside the keys file, mode 0600), `REDIS_URL`, `DATABASE_URL` and
 * `KEYWARDEN_QUERY_PARAM` (a query parameter name that may carry an API key; off by default) and
 * `KEYWARDEN_CORS_ORIGINS` (comma-separated origins whose pages may call the API; none by default).
 */
export async function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<ExampleConfig> = {},
): Promise<ExampleConfig> {
  const keysFile = resolve(overrides.keysFile ?? env.KEYWARDEN_KEYS_FILE ?? '.keywarden/keys.json');
  const folder = dirname(keysFile);
  await mkdir(folder, { recursive: true, mode: 0o700 });
  let tokenSecret = overrides.tokenSecret ?? env.KEYWARDEN_TOKEN_SECRET;
  if (!tokenSecret) {
    const secretFile = join(folder, 'token-secret');
    if (existsSync(secretFile)) {
      tokenSecret = (await readFile(secretFile, 'utf8')).trim();
    } else {
      tokenSecret = generateTokenSecret();
      await writeFile(secretFile, `${tokenSecret}\n`, { mode: 0o600 });
      await chmod(secretFile, 0o600);
    }
  }
  const port = overrides.port ?? Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`PORT must be a port number`);
  return {
    port,
    host: overrides.host ?? env.HOST ?? '127.0.0.1',
    keysFile,
    storageDir: resolve(overrides.storageDir ?? env.KEYWARDEN_STORAGE_DIR ?? join(folder, 'storage')),
    tokenSecret,
    redisUrl: overrides.redisUrl ?? env.REDIS_URL,
    databaseUrl: overrides.databaseUrl ?? env.DATABASE_URL,
    queryParam: overrides.queryParam ?? (env.KEYWARDEN_QUERY_PARAM || false),
    corsOrigins:
      overrides.corsOrigins ??
      (env.KEYWARDEN_CORS_ORIGINS ?? '')
        .split(',')
        .map((origin) => origin.trim())
        .filter(Boolean),
    now: overrides.now ?? Date.now,
  };
}
