import { isIP } from 'node:net';
import { configError } from '../errors/config-error.js';
import { isValidPathPattern } from '../request/path-pattern.js';
import { KEY_FIELD_NAMES, KEY_FIELDS } from './key-fields.js';

/** A per-key rate limit: at most `limit` requests per `windowSeconds`. */
export interface RateLimitSpec {
  /** Requests allowed per window, 1 to 10^9. */
  limit: number;
  /** Window length in seconds, 1 to 366 days. */
  windowSeconds: number;
}

/** A per-key quota: at most `limit` calls per calendar `period` in UTC (a typical free tier: 50 a month). */
export interface QuotaSpec {
  /** Calls allowed per period, 1 to 10^12. */
  limit: number;
  /** Calendar period in UTC; the count starts again at its first instant. */
  period: 'day' | 'month';
}

/**
 * The widest settings a key's owner may choose for it in the key portal (see {@link KeyRecord.portalBounds}).
 */
export interface KeyBounds {
  /** Scopes the owner may keep or drop. */
  scopes: string[];
  /** Path patterns the owner's choices must lie within. */
  paths: string[];
  /** CIDR blocks the owner's allowlist must lie within; empty for any address. */
  ips: string[];
}

/** JSON values allowed in key metadata. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * What a {@link KeyStore} keeps for one API key. Only `hash` is secret-derived; the plaintext key
 * is never stored. A key is valid while `revokedAt` is null and `now < expiresAt` (when set).
 */
export interface KeyRecord {
  /** Public key id, the 12 base62 characters after the prefix. */
  id: string;
  /** Human-readable label. */
  name: string;
  /** Environment name, e.g. `live` or `test`. */
  environment: string;
  /** Key prefix for that environment, e.g. `kw_live`. */
  prefix: string;
  /** Output of a {@link Hasher}, e.g. an argon2id PHC string. */
  hash: string;
  /** Scopes the key grants; routes may require some of them. */
  scopes: string[];
  /** Path patterns the key may call; `["*"]` for everything. */
  paths: string[];
  /** CIDR allowlist (v4 or v6); empty for any address. */
  ips: string[];
  /** When the key was created. */
  createdAt: Date;
  /** The key stops working at this instant; null for never. */
  expiresAt: Date | null;
  /** When the key was revoked; null while it is not. A revoked key never works again. */
  revokedAt: Date | null;
  /** Last successful use, written at most once a minute. */
  lastUsedAt: Date | null;
  /** Per-key rate limit; null for none. */
  rateLimit: RateLimitSpec | null;
  /** Per-key quota; null for none. */
  quota: QuotaSpec | null;
  /** Your data (plan, customer id...), copied into the request's principal. */
  metadata: Record<string, JsonValue>;
  /** Your account or customer id, to list one owner's keys. */
  ownerId: string | null;
  /** Id of the key that replaced this one through rotation. */
  replacedBy: string | null;
  /**
   * Id of the first key of this key's rotation chain: its own id, unless {@link KeyManager.rotate}
   * made it, which passes the old key's on. Data kept per key that must outlive a rotation (files,
   * usage) belongs under it. Stores that predate it answer the key's own id.
   */
  lineageId: string;
  /**
   * What the key's owner may choose within in the key portal: the scopes, paths and IP allowlist an
   * operator gave the key when making or last changing it (the owner may narrow them, never widen
   * them); null for a key its owner made in the portal, which the portal's policy bounds. Set by the
   * key manager: an operator's `create` or `update` of scopes, paths or IPs sets it to the key's new
   * values unless the call names it. Absent in records from before it existed: the key's own
   * settings bound it then.
   */
  portalBounds?: KeyBounds | null;
}

/** A key record as the management API shows it: everything but the hash. */
export type ApiKeyInfo = Omit<KeyRecord, 'hash'>;

/** Fields that can change after creation (those `KEY_FIELDS` marks patchable). */
export type KeyRecordPatch = Partial<
  Omit<KeyRecord, 'id' | 'environment' | 'prefix' | 'hash' | 'createdAt' | 'lineageId'>
>;

/** Settings a caller may give when creating or updating a key. */
export interface KeySettings {
  /** Human-readable label, 1-200 characters. */
  name?: string;
  /** Scope strings (RFC 6749 scope-token characters), at most 64. @default [] */
  scopes?: readonly string[];
  /** Path patterns, at most 32. @default ["*"] */
  paths?: readonly string[];
  /** CIDR blocks or single addresses, at most 64. @default [] (any address) */
  ips?: readonly string[];
  /** Absolute expiry. @default null (never) */
  expiresAt?: Date | null;
  /** Per-key rate limit. @default null (none) */
  rateLimit?: RateLimitSpec | null;
  /** Per-key quota. @default null (none) */
  quota?: QuotaSpec | null;
  /** JSON object, at most 4 KB serialized. @default {} */
  metadata?: Record<string, JsonValue>;
  /** Your account or customer id, at most 200 characters. @default null */
  ownerId?: string | null;
  /**
   * What the key's owner may choose within in the key portal (see {@link KeyRecord.portalBounds}).
   * @default on create, the new key's scopes, paths and IPs; on an update of any of them, their new values
   */
  portalBounds?: KeyBounds | null;
}

const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;
/**
 * Characters that change how the text around them is shown rather than showing themselves: C0 and
 * C1 controls, DEL, line and paragraph separators, and the bidirectional marks, embeddings,
 * overrides and isolates (U+202E can make `evil\u202Egnp.exe` print as `evilexe.png`). Names and
 * owner ids are printed by the CLI, the portal and operators' logs, so they may hold none.
 */
const UNDISPLAYABLE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** The same less the C0 controls, which JSON escapes wherever metadata is printed. */
const UNDISPLAYABLE_IN_JSON = /[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function fail(option: string, message: string): never {
  throw configError('KW_INVALID_OPTION', option, message);
}

function stringList(name: string, value: unknown, max: number, check: (item: string) => boolean): string[] {
  if (!Array.isArray(value)) fail(name, `must be an array of strings`);
  if (value.length > max) fail(name, `holds at most ${max} entries`);
  const out: string[] = [];
  for (const item of value) {
    if (typeof item !== 'string' || !check(item)) fail(name, `has an invalid entry ${JSON.stringify(item)}`);
    if (!out.includes(item)) out.push(item);
  }
  return out;
}

/**
 * Normalizes a CIDR block or address to `address/bits`, or returns null when it is not one.
 *
 * @example
 * ```ts
 * normalizeCidr('10.0.0.0/8'); // '10.0.0.0/8'
 * normalizeCidr('::1');        // '::1/128'
 * ```
 */
export function normalizeCidr(value: string): string | null {
  if (typeof value !== 'string' || value.length > 64) return null;
  const slash = value.indexOf('/');
  const address = slash === -1 ? value : value.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return null;
  const maxBits = family === 4 ? 32 : 128;
  if (slash === -1) return `${address}/${maxBits}`;
  const bitsText = value.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(bitsText) || Number(bitsText) > maxBits) return null;
  return `${address}/${bitsText}`;
}

/** An integer from 1 to `max`, or a thrown error naming `name`. */
export function positiveInteger(name: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    fail(name, `must be an integer from 1 to ${max}`);
  }
  return value;
}

/** A rate limit `{ limit, windowSeconds }` (or null), checked and copied; errors name `name`. */
export function rateLimitSpec(value: unknown, name = 'rateLimit'): RateLimitSpec | null {
  if (value === null) return null;
  if (typeof value !== 'object') fail(name, 'must be { limit, windowSeconds } or null');
  const { limit, windowSeconds, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length) fail(name, `has unknown fields: ${Object.keys(rest).join(', ')}`);
  return {
    limit: positiveInteger(`${name}.limit`, limit, 1e9),
    windowSeconds: positiveInteger(`${name}.windowSeconds`, windowSeconds, 366 * 86400),
  };
}

/** A quota `{ limit, period }` (or null), checked and copied; errors name `name`. */
export function quotaSpec(value: unknown, name = 'quota'): QuotaSpec | null {
  if (value === null) return null;
  if (typeof value !== 'object') fail(name, 'must be { limit, period } or null');
  const { limit, period, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length) fail(name, `has unknown fields: ${Object.keys(rest).join(', ')}`);
  if (period !== 'day' && period !== 'month') fail(`${name}.period`, 'must be "day" or "month"');
  return { limit: positiveInteger(`${name}.limit`, limit, 1e12), period };
}

function date(name: string, value: unknown): Date | null {
  if (value === null) return null;
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) fail(name, `must be a valid Date or null`);
  return new Date(value.getTime());
}

/** Metadata: a JSON object of at most 4 KB, copied. */
export function metadata(value: unknown): Record<string, JsonValue> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail('metadata', 'must be a JSON object');
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch {
    fail('metadata', 'must be JSON-serializable');
  }
  if (text.length > 4096) fail('metadata', 'is larger than 4 KB once serialized');
  if (UNDISPLAYABLE_IN_JSON.test(text))
    fail('metadata', 'holds a C1 control, DEL, a line separator or a bidirectional control character');
  return JSON.parse(text) as Record<string, JsonValue>;
}

/** The key settings: the fields `KEY_FIELDS` marks as settings. */
const SETTING_KEYS = new Set<string>(KEY_FIELD_NAMES.filter((name) => KEY_FIELDS[name].setting));

const scopeList = (name: string, value: unknown) => stringList(name, value, 64, (x) => SCOPE.test(x));

function pathList(name: string, value: unknown): string[] {
  const paths = stringList(name, value, 32, isValidPathPattern);
  if (paths.length === 0) fail(name, 'must hold at least one pattern (use ["*"] for everything)');
  return paths;
}

const ipList = (name: string, value: unknown) =>
  stringList(name, value, 64, (x) => normalizeCidr(x) !== null).map((x) => normalizeCidr(x)!);

function bounds(value: unknown): KeyBounds | null {
  if (value === null) return null;
  if (typeof value !== 'object') fail('portalBounds', 'must be { scopes, paths, ips } or null');
  const { scopes, paths, ips, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length) fail('portalBounds', `has unknown fields: ${Object.keys(rest).join(', ')}`);
  return {
    scopes: scopeList('portalBounds.scopes', scopes),
    paths: pathList('portalBounds.paths', paths),
    ips: ipList('portalBounds.ips', ips),
  };
}

/** 1-200 printable characters (or null when `nullable`), or a thrown error naming `name`. */
export function displayable(name: string, value: unknown, nullable: boolean): string | null {
  if (value === null && nullable) return null;
  if (typeof value !== 'string' || value.length < 1 || value.length > 200 || UNDISPLAYABLE.test(value))
    fail(
      name,
      `must be 1-200 printable characters (no control or bidirectional control characters)${nullable ? ', or null' : ''}`,
    );
  return value;
}

/** The check of each key setting: the caller's value, checked and copied, or a thrown error. */
const SETTING_CHECKS: { [K in keyof Required<KeySettings>]: (value: unknown) => KeyRecordPatch[K] } = {
  name: (value) => displayable('name', value, false)!,
  scopes: (value) => scopeList('scopes', value),
  paths: (value) => pathList('paths', value),
  ips: (value) => ipList('ips', value),
  expiresAt: (value) => date('expiresAt', value),
  rateLimit: rateLimitSpec,
  quota: quotaSpec,
  metadata,
  ownerId: (value) => displayable('ownerId', value, true),
  portalBounds: bounds,
};

/**
 * Validates caller-supplied key settings into a patch, copying every value (the caller's object is
 * never kept or mutated). Throws a `TypeError` naming the first bad field.
 */
export function validateKeySettings(
  settings: KeySettings,
  extraKeys: readonly string[] = [],
): KeyRecordPatch {
  if (typeof settings !== 'object' || settings === null) fail('settings', 'must be an object');
  for (const key of Object.keys(settings)) {
    if (!SETTING_KEYS.has(key) && !extraKeys.includes(key))
      throw configError('KW_UNKNOWN_OPTION', key, 'not a key setting');
  }
  const given = settings as Record<string, unknown>;
  const patch: Record<string, unknown> = {};
  for (const name of SETTING_KEYS) {
    const value = given[name];
    if (value !== undefined) patch[name] = SETTING_CHECKS[name as keyof KeySettings](value);
  }
  return patch as KeyRecordPatch;
}

/** A record without its hash, every other field as `KEY_FIELDS` lists it (an older record's filled in). */
export function toApiKeyInfo(record: KeyRecord): ApiKeyInfo {
  const info: Record<string, unknown> = {};
  const stored = record as unknown as Record<string, unknown>;
  for (const name of KEY_FIELD_NAMES) {
    const field = KEY_FIELDS[name];
    if (field.secret) continue;
    const value = stored[name];
    info[name] = value === undefined && field.missing ? field.missing(info) : value;
  }
  return info as unknown as ApiKeyInfo;
}

/**
 * A record's portal bounds: its own, or, for a record from before they existed, its own scopes,
 * paths and IPs (its owner may narrow them only).
 */
export function boundsOf(
  record: Pick<KeyRecord, 'scopes' | 'paths' | 'ips' | 'portalBounds'>,
): KeyBounds | null {
  if (record.portalBounds !== undefined) return record.portalBounds;
  return KEY_FIELDS.portalBounds.missing!(record) as KeyBounds;
}

/** Deep copy of a record (stores hand out copies so callers cannot mutate their state). */
export function cloneRecord(record: KeyRecord): KeyRecord {
  return structuredClone(record);
}
