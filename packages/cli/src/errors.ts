import { KeywardenConfigError } from '@keywarden/core';

/** A wrong command line: exit code 2 and a hint to use --help. */
export class UsageError extends Error {}
/** A failure of the operation itself (not found, store unreachable): exit code 1. */
export class CommandError extends Error {}

// Where a core option comes from on the command line. Keyed by the option's path, never by text.
const FLAGS: Record<string, string> = {
  name: '--name',
  scopes: '--scope',
  paths: '--path',
  ips: '--ip',
  expiresAt: '--expires-in',
  expiresIn: '--expires-in',
  rateLimit: '--rate',
  quota: '--quota',
  metadata: '--metadata',
  ownerId: '--owner',
  id: 'the account id',
  plan: '--plan',
  'overrides.rateLimits': '--rate',
  'overrides.quota': '--quota',
  'overrides.maxKeys': '--max-keys',
  environment: '--env',
  'rotate.gracePeriodSeconds': '--grace',
  'tokens.secrets': 'the signing secret (--secret-file or KEYWARDEN_TOKEN_SECRET)',
  'tokens.issuer': '--issuer',
  'tokens.audience': '--audience',
};

/** The flag an option path comes from, and the path it stands for (`rateLimit.limit`: `--rate`). */
function flagOf(option: string): [flag: string, path: string] | undefined {
  for (let path = option; path !== ''; path = path.slice(0, Math.max(0, path.lastIndexOf('.')))) {
    const flag = FLAGS[path];
    if (flag !== undefined) return [flag, path];
  }
  return undefined;
}

/**
 * A configuration error from the core as a usage error in the command line's words:
 * `--ip has an invalid entry "x"` rather than `ips has an invalid entry "x"`, and
 * `--rate limit must be ...` for `rateLimit.limit must be ...`. Anything else is returned as it is.
 */
export function asUsageError(error: unknown): unknown {
  if (!(error instanceof KeywardenConfigError)) return error;
  const text = error.message.replace(/^keywarden: /, '');
  const found = flagOf(error.option);
  if (!found) return new UsageError(text);
  const [flag, path] = found;
  if (!text.startsWith(error.option)) return new UsageError(`${flag}: ${text}`);
  // What follows the flag's own path (`.limit`, `.main`) stays, as words: `--rate limit must ...`.
  const rest = error.option.slice(path.length + 1);
  const inner = rest && !rest.includes('.') && path !== 'tokens.secrets' ? ` ${rest}` : '';
  return new UsageError(`${flag}${inner}${text.slice(error.option.length)}`);
}
