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
  environment: '--env',
  'rotate.gracePeriodSeconds': '--grace',
  tokens: '--secret',
};

/** The flag an option path comes from: its own, or its parent's (`rateLimit.limit` is `--rate`). */
function flagOf(option: string): string | undefined {
  if (option in FLAGS) return FLAGS[option];
  if (option.startsWith('tokens.secrets')) return '--secret';
  const parent = option.slice(0, option.indexOf('.'));
  return FLAGS[parent];
}

/**
 * A configuration error from the core as a usage error naming the flag: `--rate must be ...`
 * rather than `rateLimit.limit must be ...`. Anything else is returned as it is.
 */
export function asUsageError(error: unknown): unknown {
  if (!(error instanceof KeywardenConfigError)) return error;
  const flag = flagOf(error.option);
  const text = error.message.replace(/^keywarden: /, '');
  return new UsageError(flag ? `${flag}: ${text}` : text);
}
