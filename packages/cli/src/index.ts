import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import {
  type ApiKeyInfo,
  createArgon2Hasher,
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  generateTokenSecret,
  type Hasher,
  type JsonValue,
  type KeyManager,
  type KeySettings,
  type KeyStore,
  openFileKeyStore,
  type QuotaSpec,
  type RateLimitSpec,
} from '@keywarden/core';
import { createPostgresKeyStore, type PostgresKeyStore } from '@keywarden/postgres';

/** Where the CLI writes, and the environment it reads (injectable for tests). */
export interface CliIo {
  /** Receives normal output, one chunk per call, with its trailing newline. */
  stdout(text: string): void;
  /** Receives errors and hints. */
  stderr(text: string): void;
  /** Environment to read `KEYWARDEN_STORE`, `KEYWARDEN_TOKEN_SECRET`, `KEYWARDEN_HASHER` and `KEYWARDEN_PEPPER` from. */
  env: NodeJS.ProcessEnv;
}

/** A wrong command line: exit code 2 and a hint to use --help. */
class UsageError extends Error {}
/** A failure of the operation itself (not found, store unreachable): exit code 1. */
class CommandError extends Error {}

const GLOBAL_HELP = `keywarden: manage keywarden API keys

Usage: keywarden <command> [options]

Commands:
  keys create    create a key and print it once
  keys list      list keys
  keys show      show one key
  keys update    change a key's settings
  keys rotate    replace a key, keeping the old one for a grace period
  keys revoke    revoke a key at once
  keys delete    delete a key
  token mint     mint an access token for a key (for testing)
  secret generate  print a new token signing secret
  migrate        create or update the PostgreSQL schema

Global options:
  --store <path|postgres://...>  key store (env KEYWARDEN_STORE; default .keywarden/keys.json)
  --json                         machine-readable output
  -h, --help                     help for any command
  -v, --version                  version

Hashing must match your server: KEYWARDEN_HASHER=argon2id (default) or hmac with KEYWARDEN_PEPPER.
`;

const SETTING_HELP = `  --name <text>             label
  --scope <scope>           repeatable
  --path <pattern>          repeatable: "*", an exact path, or a prefix ending in "/*"
  --ip <cidr>               repeatable allowlist entry (v4 or v6)
  --expires-in <duration>   e.g. 3600, 90d, 12h, 30m
  --rate <n>/<window>       rate limit, e.g. 100/60s, 1000/1h, 10/second
  --quota <n>/<day|month>   quota per UTC calendar day or month
  --metadata <k=v>          repeatable
  --owner <id>              owner id`;

const HELP: Record<string, string> = {
  'keys create': `Usage: keywarden keys create --name <text> [--env live|test] [options]\n\n${SETTING_HELP}\n  --env <live|test>         environment (key prefix kw_live / kw_test)\n\nPrints the plaintext key once; only its hash is stored.\n`,
  'keys list': 'Usage: keywarden keys list [--owner <id>] [--json]\n',
  'keys show': 'Usage: keywarden keys show <id> [--json]\n',
  'keys update': `Usage: keywarden keys update <id> [options]\n\n${SETTING_HELP}\n  --no-expiry               remove the expiry\n  --rate none | --quota none  remove a limit\n\nRepeatable options replace the whole list when given.\n`,
  'keys rotate':
    'Usage: keywarden keys rotate <id> [--grace <duration>] [--json]\n\nThe old key keeps working until min(now + grace, its own expiry). Default grace: 24h.\n',
  'keys revoke': 'Usage: keywarden keys revoke <id> [--json]\n',
  'keys delete': 'Usage: keywarden keys delete <id> [--json]\n',
  'token mint':
    "Usage: keywarden token mint --key <id> [--path <pattern>]... [--expires-in <seconds>] [--secret <s>] [--json]\n\nThe signing secret comes from --secret or KEYWARDEN_TOKEN_SECRET and must be the server's.\n",
  'secret generate':
    'Usage: keywarden secret generate [--json]\n\nPrints 32 random bytes as base64url, for KEYWARDEN_TOKEN_SECRET.\n',
  migrate: 'Usage: keywarden migrate --store postgres://...\n',
};

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const NAMED_WINDOWS: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86400 };

/**
 * Seconds from `3600`, `90d`, `12h`, `30m`, `45s`; anything else throws a usage error naming `option`.
 *
 * @example
 * ```ts
 * parseDuration('90d', '--expires-in'); // 7776000
 * ```
 */
export function parseDuration(text: string, option: string): number {
  const match = /^(\d{1,9})([smhd]?)$/.exec(text);
  if (!match) throw new UsageError(`${option} must be a duration such as 3600, 90d, 12h or 30m`);
  const seconds = Number(match[1]) * UNITS[match[2] || 's']!;
  if (seconds < 1) throw new UsageError(`${option} must be at least one second`);
  return seconds;
}

function parseRate(text: string): RateLimitSpec | null {
  if (text === 'none') return null;
  const match = /^(\d{1,9})\/(.+)$/.exec(text);
  if (!match) throw new UsageError('--rate must look like 100/60s, 1000/1h or 10/second');
  const window = NAMED_WINDOWS[match[2]!] ?? parseDuration(match[2]!, '--rate window');
  return { limit: Number(match[1]), windowSeconds: window };
}

function parseQuota(text: string): QuotaSpec | null {
  if (text === 'none') return null;
  const match = /^(\d{1,12})\/(day|month)$/.exec(text);
  if (!match) throw new UsageError('--quota must look like 50/month or 1000/day');
  return { limit: Number(match[1]), period: match[2] as 'day' | 'month' };
}

function parseMetadata(pairs: string[]): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new UsageError('--metadata takes key=value');
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

const SETTING_OPTIONS = {
  name: { type: 'string' },
  scope: { type: 'string', multiple: true },
  path: { type: 'string', multiple: true },
  ip: { type: 'string', multiple: true },
  'expires-in': { type: 'string' },
  rate: { type: 'string' },
  quota: { type: 'string' },
  metadata: { type: 'string', multiple: true },
  owner: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

type Values = Record<string, string | boolean | string[] | undefined>;

/** Key settings from the command line; only the options given. */
function settingsFrom(values: Values, now: number): KeySettings {
  const settings: KeySettings = {};
  if (values.name !== undefined) settings.name = values.name as string;
  if (values.scope) settings.scopes = values.scope as string[];
  if (values.path) settings.paths = values.path as string[];
  if (values.ip) settings.ips = values.ip as string[];
  if (values['expires-in'] !== undefined) {
    settings.expiresAt = new Date(now + parseDuration(values['expires-in'] as string, '--expires-in') * 1000);
  }
  if (values['no-expiry']) settings.expiresAt = null;
  if (values.rate !== undefined) settings.rateLimit = parseRate(values.rate as string);
  if (values.quota !== undefined) settings.quota = parseQuota(values.quota as string);
  if (values.metadata) settings.metadata = parseMetadata(values.metadata as string[]);
  if (values.owner !== undefined) settings.ownerId = values.owner as string;
  return settings;
}

function status(key: ApiKeyInfo, now: number): string {
  if (key.revokedAt && key.revokedAt.getTime() <= now) return 'revoked';
  if (key.expiresAt && key.expiresAt.getTime() <= now) return 'expired';
  return 'active';
}

const when = (date: Date | null) => (date ? `${date.toISOString().slice(0, 19)}Z` : '-');

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return `${rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

function describe(key: ApiKeyInfo, now: number): string {
  const lines: [string, string][] = [
    ['id', key.id],
    ['name', key.name],
    ['environment', `${key.environment} (${key.prefix})`],
    ['status', status(key, now)],
    ['scopes', key.scopes.join(' ') || '-'],
    ['paths', key.paths.join(' ')],
    ['ips', key.ips.join(' ') || 'any'],
    ['rate limit', key.rateLimit ? `${key.rateLimit.limit} per ${key.rateLimit.windowSeconds} s` : '-'],
    ['quota', key.quota ? `${key.quota.limit} per ${key.quota.period}` : '-'],
    ['owner', key.ownerId ?? '-'],
    ['metadata', Object.keys(key.metadata).length ? JSON.stringify(key.metadata) : '-'],
    ['created', when(key.createdAt)],
    ['expires', when(key.expiresAt)],
    ['revoked', when(key.revokedAt)],
    ['last used', when(key.lastUsedAt)],
    ['replaced by', key.replacedBy ?? '-'],
  ];
  return table(lines.map(([k, v]) => [`${k}:`, v]));
}

function hasherFrom(env: NodeJS.ProcessEnv): Hasher {
  const kind = env.KEYWARDEN_HASHER ?? 'argon2id';
  if (kind === 'argon2id') return createArgon2Hasher();
  if (kind === 'hmac') {
    if (!env.KEYWARDEN_PEPPER) throw new UsageError('KEYWARDEN_HASHER=hmac needs KEYWARDEN_PEPPER');
    return createHmacHasher({ pepper: env.KEYWARDEN_PEPPER });
  }
  throw new UsageError('KEYWARDEN_HASHER must be argon2id or hmac');
}

async function openStore(target: string): Promise<KeyStore & { close(): Promise<void> }> {
  if (/^postgres(ql)?:\/\//.test(target)) {
    return createPostgresKeyStore({ connectionString: target, listen: false, timeoutMs: 5000 });
  }
  return openFileKeyStore({ path: target, watch: false });
}

function version(): string {
  try {
    return JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

/**
 * Runs the `keywarden` command line and resolves to its exit code: 0 done, 1 the operation
 * failed (not found, store unreachable), 2 the command line is wrong.
 *
 * @example
 * ```ts
 * const code = await runCli(['keys', 'list', '--json'], { stdout: console.log, stderr: console.error, env: process.env });
 * ```
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [first, second] = argv;
  const command =
    first === 'keys' || first === 'token' || first === 'secret'
      ? `${first} ${second ?? ''}`.trim()
      : (first ?? '');
  const rest = argv.slice(command.includes(' ') ? 2 : 1);
  let store: (KeyStore & { close(): Promise<void> }) | null = null;
  try {
    if (!first || first === '-h' || first === '--help' || first === 'help') {
      io.stdout(GLOBAL_HELP);
      return first ? 0 : 2;
    }
    if (first === '-v' || first === '--version') {
      io.stdout(`${version()}\n`);
      return 0;
    }
    if (!(command in HELP)) throw new UsageError(`unknown command "${argv.slice(0, 2).join(' ')}"`);
    const commandOptions: ParseArgsConfig['options'] = {
      store: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      ...(command === 'keys create' || command === 'keys update' ? SETTING_OPTIONS : {}),
      ...(command === 'keys create' ? { env: { type: 'string' } } : {}),
      ...(command === 'keys update' ? { 'no-expiry': { type: 'boolean' } } : {}),
      ...(command === 'keys list' ? { owner: { type: 'string' } } : {}),
      ...(command === 'keys rotate' ? { grace: { type: 'string' } } : {}),
      ...(command === 'token mint'
        ? {
            key: { type: 'string' },
            path: { type: 'string', multiple: true },
            'expires-in': { type: 'string' },
            secret: { type: 'string' },
          }
        : {}),
    };
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({ args: rest, options: commandOptions, allowPositionals: true, strict: true });
    } catch (error) {
      throw new UsageError((error as Error).message.replace(/\. To specify.*$/s, ''));
    }
    const values = parsed.values as Values;
    if (values.help) {
      io.stdout(HELP[command]!);
      return 0;
    }
    const json = values.json === true;
    const print = (human: string, data: unknown) =>
      io.stdout(json ? `${JSON.stringify(data, null, 2)}\n` : human);
    const positional = parsed.positionals;
    const needId = () => {
      if (positional.length !== 1) throw new UsageError(`${command} takes one key id`);
      return positional[0]!;
    };
    if (
      command !== 'keys show' &&
      command !== 'keys update' &&
      !command.startsWith('keys r') &&
      command !== 'keys delete'
    ) {
      if (positional.length) throw new UsageError(`unexpected argument "${positional[0]}"`);
    }

    if (command === 'secret generate') {
      const secret = generateTokenSecret();
      print(`${secret}\n`, { secret });
      return 0;
    }

    const target = (values.store as string | undefined) ?? io.env.KEYWARDEN_STORE ?? '.keywarden/keys.json';
    if (command === 'migrate') {
      if (!/^postgres(ql)?:\/\//.test(target)) throw new UsageError('migrate needs --store postgres://...');
      const pg = createPostgresKeyStore({ connectionString: target, listen: false, timeoutMs: 10_000 });
      store = pg;
      const applied = await (pg as PostgresKeyStore).migrate();
      print(applied.length ? `Applied migrations ${applied.join(', ')}.\n` : 'The schema is up to date.\n', {
        applied,
      });
      return 0;
    }

    const hasher = hasherFrom(io.env);
    store = await openStore(target);
    const keys: KeyManager = createKeyManager({ store, hasher });
    const now = Date.now();
    const found = <T>(value: T | null, id: string): T => {
      if (value === null) throw new CommandError(`no key with id ${id}`);
      return value;
    };

    switch (command) {
      case 'keys create': {
        if (values.name === undefined) throw new UsageError('keys create needs --name');
        const env = (values.env as string | undefined) ?? 'live';
        if (env !== 'live' && env !== 'test') throw new UsageError('--env must be live or test');
        let created: Awaited<ReturnType<KeyManager['create']>>;
        try {
          created = await keys.create({
            ...settingsFrom(values, now),
            name: values.name as string,
            environment: env,
          });
        } catch (error) {
          if (error instanceof TypeError || error instanceof RangeError)
            throw new UsageError(error.message.replace(/^keywarden: /, ''));
          throw error;
        }
        print(
          `Created key ${created.record.id} (${created.record.name}). Copy it now: it is not shown again.\n\n  ${created.key}\n\n`,
          { key: created.key, record: created.record },
        );
        return 0;
      }
      case 'keys list': {
        const list = await keys.list(values.owner === undefined ? {} : { ownerId: values.owner as string });
        const rows = [['ID', 'NAME', 'ENV', 'STATUS', 'SCOPES', 'EXPIRES', 'LAST USED']];
        for (const key of list) {
          rows.push([
            key.id,
            key.name,
            key.environment,
            status(key, now),
            key.scopes.join(' ') || '-',
            when(key.expiresAt),
            when(key.lastUsedAt),
          ]);
        }
        print(list.length ? table(rows) : 'No keys.\n', list);
        return 0;
      }
      case 'keys show': {
        const id = needId();
        const key = found(await keys.get(id), id);
        print(describe(key, now), key);
        return 0;
      }
      case 'keys update': {
        const id = needId();
        const settings = settingsFrom(values, now);
        if (Object.keys(settings).length === 0)
          throw new UsageError('keys update needs at least one setting to change');
        let updated: ApiKeyInfo | null;
        try {
          updated = await keys.update(id, settings);
        } catch (error) {
          if (error instanceof TypeError || error instanceof RangeError)
            throw new UsageError(error.message.replace(/^keywarden: /, ''));
          throw error;
        }
        print(describe(found(updated, id), now), found(updated, id));
        return 0;
      }
      case 'keys rotate': {
        const id = needId();
        const grace =
          values.grace === undefined ? undefined : parseDuration(values.grace as string, '--grace');
        const rotated = found(
          await keys.rotate(id, grace === undefined ? {} : { gracePeriodSeconds: grace }),
          id,
        );
        const old = await keys.get(id);
        print(
          `Rotated ${id} to ${rotated.record.id}. The old key works until ${when(old?.expiresAt ?? null)}.\nCopy the new key now: it is not shown again.\n\n  ${rotated.key}\n\n`,
          { key: rotated.key, record: rotated.record, old },
        );
        return 0;
      }
      case 'keys revoke': {
        const id = needId();
        const revoked = found(await keys.revoke(id), id);
        print(`Revoked ${id} at ${when(revoked.revokedAt)}.\n`, revoked);
        return 0;
      }
      case 'keys delete': {
        const id = needId();
        if (!(await keys.delete(id))) throw new CommandError(`no key with id ${id}`);
        print(`Deleted ${id}.\n`, { deleted: id });
        return 0;
      }
      case 'token mint': {
        if (values.key === undefined) throw new UsageError('token mint needs --key <id>');
        const secret = (values.secret as string | undefined) ?? io.env.KEYWARDEN_TOKEN_SECRET;
        if (!secret) throw new UsageError('token mint needs --secret or KEYWARDEN_TOKEN_SECRET');
        let keywarden: ReturnType<typeof createKeywarden>;
        try {
          keywarden = createKeywarden({
            keys,
            tokens: { secrets: [{ id: io.env.KEYWARDEN_TOKEN_KID ?? 'main', secret }] },
          });
        } catch (error) {
          throw new UsageError((error as Error).message.replace(/^keywarden: /, ''));
        }
        const expiresIn =
          values['expires-in'] === undefined
            ? 60
            : parseDuration(values['expires-in'] as string, '--expires-in');
        try {
          const minted = await keywarden.mintAccessToken(values.key as string, {
            ...(values.path ? { paths: values.path as string[] } : {}),
            expiresIn,
          });
          print(`${minted.token}\n`, minted);
        } catch (error) {
          const detail = (error as { detail?: string }).detail;
          throw new CommandError(detail ?? `key ${values.key} cannot mint: ${(error as Error).message}`);
        }
        return 0;
      }
    }
    throw new UsageError(`unknown command "${command}"`);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(
        `keywarden: ${error.message}\nRun "keywarden ${command in HELP ? `${command} ` : ''}--help" for usage.\n`,
      );
      return 2;
    }
    const message = (error as Error)?.message ?? String(error);
    io.stderr(`keywarden: ${error instanceof CommandError ? message : `failed: ${message}`}\n`);
    return 1;
  } finally {
    await store?.close();
  }
}
