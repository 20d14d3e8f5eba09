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

/** `100/60s`, `1000/1h`, `10/second`, or `none` (null). */
export function parseRate(text: string): RateLimitSpec | null {
  if (text === 'none') return null;
  const match = /^(\d{1,9})\/(.+)$/.exec(text);
  if (!match) throw new UsageError('--rate must look like 100/60s, 1000/1h or 10/second');
  const window = NAMED_WINDOWS[match[2]!] ?? parseDuration(match[2]!, '--rate window');
  return { limit: Number(match[1]), windowSeconds: window };
}

/** `50/month`, `1000/day`, or `none` (null). */
export function parseQuota(text: string): QuotaSpec | null {
  if (text === 'none') return null;
  const match = /^(\d{1,12})\/(day|month)$/.exec(text);
  if (!match) throw new UsageError('--quota must look like 50/month or 1000/day');
  return { limit: Number(match[1]), period: match[2] as 'day' | 'month' };
}

/** `key=value` pairs as an object of strings. */
export function parseMetadata(pairs: readonly string[]): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new UsageError('--metadata takes key=value');
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** How a key setting is given on the command line: its flag, its help line, its value from the flag's. */
interface SettingFlag<K extends keyof KeySettings> {
  flag: string;
  multiple?: true;
  help: string;
  value(given: string & string[], now: number): KeySettings[K];
}

/**
 * The flag of every key setting, or null with the reason it has none: TypeScript holds this table
 * to the core's key settings, so a new setting cannot be forgotten here.
 */
const SETTING_FLAGS: { [K in keyof Required<KeySettings>]: SettingFlag<K> | { none: string } } = {
  name: { flag: 'name', help: '<text>             label', value: (text) => text },
  scopes: { flag: 'scope', multiple: true, help: '<scope>           repeatable', value: (list) => list },
  paths: {
    flag: 'path',
    multiple: true,
    help: '<pattern>          repeatable: "*", an exact path, or a prefix ending in "/*"',
    value: (list) => list,
  },
  ips: {
    flag: 'ip',
    multiple: true,
    help: '<cidr>               repeatable allowlist entry (v4 or v6)',
    value: (list) => list,
  },
  expiresAt: {
    flag: 'expires-in',
    help: '<duration>   e.g. 3600, 90d, 12h, 30m',
    value: (text, now) => new Date(now + parseDuration(text, '--expires-in') * 1000),
  },
  rateLimit: {
    flag: 'rate',
    help: '<n>/<window>       rate limit, e.g. 100/60s, 1000/1h, 10/second',
    value: parseRate,
  },
  quota: { flag: 'quota', help: '<n>/<day|month>   quota per UTC calendar day or month', value: parseQuota },
  metadata: { flag: 'metadata', multiple: true, help: '<k=v>          repeatable', value: parseMetadata },
  ownerId: { flag: 'owner', help: '<id>              owner id', value: (text) => text },
  portalBounds: { none: 'set by the key manager from the scopes, paths and IPs an operator gives' },
};

const FLAGS = Object.entries(SETTING_FLAGS).flatMap(([setting, flag]) =>
  'none' in flag ? [] : [{ setting, ...(flag as SettingFlag<keyof KeySettings>) }],
);

/** The options that set a key's settings (`keys create`, `keys update`). */
export const SETTING_OPTIONS: ParseArgsConfig['options'] = Object.fromEntries(
  FLAGS.map(({ flag, multiple }) => [flag, multiple ? { type: 'string', multiple } : { type: 'string' }]),
);

export const SETTING_HELP = FLAGS.map(({ flag, help }) => `  --${flag} ${help}`).join('\n');

/** Key settings from the command line; only the options given. */
export function settingsFrom(values: Values, now: number): KeySettings {
  const settings: Record<string, unknown> = {};
  for (const { setting, flag, value } of FLAGS) {
    const given = values[flag];
    if (given !== undefined) settings[setting] = value(given as string & string[], now);
  }
  if (values['no-expiry']) settings.expiresAt = null;
  return settings as KeySettings;
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
