// Command-line values into key settings: durations, rates, quotas, metadata.

import type { ParseArgsConfig } from 'node:util';
import type { JsonValue, KeySettings, QuotaSpec, RateLimitSpec } from '@keywarden/core';
import { UsageError } from './errors.js';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const NAMED_WINDOWS: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86400 };

/** The parsed options of one command. */
export type Values = Record<string, string | boolean | string[] | undefined>;

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

/** The options that set a key's settings (`keys create`, `keys update`). */
export const SETTING_OPTIONS = {
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

export const SETTING_HELP = `  --name <text>             label
  --scope <scope>           repeatable
  --path <pattern>          repeatable: "*", an exact path, or a prefix ending in "/*"
  --ip <cidr>               repeatable allowlist entry (v4 or v6)
  --expires-in <duration>   e.g. 3600, 90d, 12h, 30m
  --rate <n>/<window>       rate limit, e.g. 100/60s, 1000/1h, 10/second
  --quota <n>/<day|month>   quota per UTC calendar day or month
  --metadata <k=v>          repeatable
  --owner <id>              owner id`;

/** Key settings from the command line; only the options given. */
export function settingsFrom(values: Values, now: number): KeySettings {
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

/**
 * Key environments: `live` (kw_live) and `test` (kw_test), plus those `KEYWARDEN_ENVIRONMENTS` names
 * as `name=prefix` pairs, comma-separated (`api=api`: keys that start `api_`). Your server's key
 * manager must know the same prefixes (its `environments` option) to accept the keys.
 *
 * @example
 * ```ts
 * environmentsFrom({ KEYWARDEN_ENVIRONMENTS: 'api=api' }); // { live: 'kw_live', test: 'kw_test', api: 'api' }
 * ```
 */
export function environmentsFrom(env: NodeJS.ProcessEnv): Record<string, string> {
  const environments: Record<string, string> = { live: 'kw_live', test: 'kw_test' };
  for (const pair of (env.KEYWARDEN_ENVIRONMENTS ?? '').split(',')) {
    if (pair.trim() === '') continue;
    const match = /^\s*([a-z][a-z0-9_-]{0,31})=([a-z][a-z0-9_]{0,31})\s*$/.exec(pair);
    if (!match) throw new UsageError('KEYWARDEN_ENVIRONMENTS must be name=prefix pairs, such as api=api');
    environments[match[1]!] = match[2]!;
  }
  return environments;
}
