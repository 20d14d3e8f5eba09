// The key record's fields, in one table: how each is stored (its codec, whether it may be null,
// its SQL column), whether a caller may set it (its check) or change it later, and what a record
// written before the field existed holds. Key settings' validation, the public info, the file
// store's reader and the PostgreSQL store's columns and row reader all follow this table, so a
// new key setting is one row here (plus its check) and its line in the `KeyRecord` type. The CLI's
// flags are a table of their own keyed by the same names, which TypeScript holds to every setting.
import type { KeyRecord } from './key-record.js';

/** How a field's value is stored: text, a list of texts, an instant, or a JSON value. */
export type FieldCodec = 'text' | 'texts' | 'date' | 'json';

/** One field of the key record (see {@link KEY_FIELDS}). */
export interface KeyField {
  /** How the value is stored; a `text` is never empty. */
  readonly codec: FieldCodec;
  /** Whether the value may be null. */
  readonly nullable: boolean;
  /** Its column in an SQL store (`@keywarden/postgres`). */
  readonly column: string;
  /** A caller may give it when creating or updating a key (a key setting). */
  readonly setting: boolean;
  /** It may change after the key was made (a store's `update` takes it). */
  readonly patchable: boolean;
  /** Kept out of the public info (`ApiKeyInfo`): the hash. */
  readonly secret?: true;
  /** A stored JSON value's shape, checked when a store reads it. @default any JSON object */
  readonly shape?: (value: unknown) => boolean;
  /**
   * What a record written before the field existed holds instead (a file without it, a NULL in a
   * column that is not nullable). Without it, the field must be there.
   */
  readonly missing?: (record: Readonly<Record<string, unknown>>) => unknown;
}

const isStrings = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'string');

/** What the key portal's bounds look like: `{ scopes, paths, ips }`, each a list of texts. */
function isBounds(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const b = value as Record<string, unknown>;
  return isStrings(b.scopes) && isStrings(b.paths) && isStrings(b.ips);
}

const fixed = (codec: FieldCodec, column: string): KeyField => ({
  codec,
  nullable: false,
  column,
  setting: false,
  patchable: false,
});
const setting = (codec: FieldCodec, column: string, nullable = false): KeyField => ({
  codec,
  nullable,
  column,
  setting: true,
  patchable: true,
});
const kept = (codec: FieldCodec, column: string): KeyField => ({
  codec,
  nullable: true,
  column,
  setting: false,
  patchable: true,
});

/**
 * Every field of a {@link KeyRecord}, in the order stores write them. Store authors: read and
 * write records by this table (see `decodeStoredRecord`) and a new field needs nothing of yours.
 *
 * @example
 * ```ts
 * const columns = Object.values(KEY_FIELDS).map((field) => field.column); // id, name, ...
 * ```
 */
export const KEY_FIELDS: { readonly [K in keyof Required<KeyRecord>]: KeyField } = Object.freeze({
  id: fixed('text', 'id'),
  name: setting('text', 'name'),
  environment: fixed('text', 'environment'),
  prefix: fixed('text', 'prefix'),
  hash: { ...fixed('text', 'hash'), secret: true },
  scopes: setting('texts', 'scopes'),
  paths: setting('texts', 'paths'),
  ips: setting('texts', 'ips'),
  createdAt: fixed('date', 'created_at'),
  expiresAt: setting('date', 'expires_at', true),
  revokedAt: kept('date', 'revoked_at'),
  lastUsedAt: kept('date', 'last_used_at'),
  rateLimit: setting('json', 'rate_limit', true),
  quota: setting('json', 'quota', true),
  metadata: setting('json', 'metadata'),
  ownerId: setting('text', 'owner_id', true),
  replacedBy: { ...kept('text', 'replaced_by'), missing: () => null },
  // Records from before rotation chains: the key is its own lineage.
  lineageId: { ...fixed('text', 'lineage_id'), missing: (record) => record.id },
  // Records from before portal bounds: the key's own settings bound it (its owner may only narrow them).
  portalBounds: {
    ...setting('json', 'portal_bounds', true),
    shape: isBounds,
    missing: (record) => ({ scopes: record.scopes, paths: record.paths, ips: record.ips }),
  },
});

/** The names of the fields, in table order. */
export const KEY_FIELD_NAMES = Object.freeze(Object.keys(KEY_FIELDS) as (keyof KeyRecord)[]);

function valid(field: KeyField, value: unknown): boolean {
  if (value === null) return field.nullable;
  switch (field.codec) {
    case 'text':
      return typeof value === 'string' && value.length > 0;
    case 'texts':
      return isStrings(value);
    case 'date':
      return value instanceof Date
        ? !Number.isNaN(value.getTime())
        : typeof value === 'string' && !Number.isNaN(Date.parse(value));
    case 'json':
      return (field.shape ?? isObject)(value);
  }
}

const isObject = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A stored record as a {@link KeyRecord}, checked field by field against {@link KEY_FIELDS}: a date
 * as an ISO text or a `Date`, a field an older record lacks (`undefined`, or NULL where the field
 * may not be null) filled in as the table says. `read(name)` gives a field's stored value: a JSON
 * file's property, an SQL row's column. Throws an `Error` naming the first bad field.
 *
 * @example
 * ```ts
 * const record = decodeStoredRecord((name, field) => row[field.column]);
 * ```
 */
export function decodeStoredRecord(read: (name: keyof KeyRecord, field: KeyField) => unknown): KeyRecord {
  const record: Record<string, unknown> = {};
  for (const name of KEY_FIELD_NAMES) {
    const field = KEY_FIELDS[name];
    let value = read(name, field);
    if (field.missing && (value === undefined || (value === null && !field.nullable)))
      value = field.missing(record);
    if (value === undefined || !valid(field, value)) throw new Error(`field "${name}" is missing or invalid`);
    record[name] = field.codec === 'date' && typeof value === 'string' ? new Date(value) : value;
  }
  return record as unknown as KeyRecord;
}
