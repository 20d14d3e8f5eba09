// One cached key: everything the request path needs about a key record and about its verified
// plaintext, in one object of one fixed shape. This replaced three caches (verified digests, records
// with their info objects, last-touch times) that held about 1,860 bytes a key; `pnpm bench`, "heap
// per cached verified key", measures what this holds. What makes it small:
// - Settings many keys share (environment, prefix, scopes, paths, IPs, limits) live in one interned,
//   frozen `KeyProfile` per distinct combination, not in copies per key.
// - No `ApiKeyInfo` object and no `Date` is kept (a Date is 96 bytes in V8): the public info is made
//   on request (`info()`), the request path reads the fields directly. Its `lastUsedAt` is the
//   cache's own last touch, not a copy of the record's.
// - The record's hash (80 bytes for HMAC) is not kept: a 64-bit print of it, in two small integers,
//   says whether a reloaded record still has the hash the plaintext was verified against. The cold
//   path reads the hash from the store each time.
// - Cache times are kept relative to the cache's creation, so they stay small integers (no 16-byte
//   number box) for the first 24 days of a process; later they are boxed, and still correct.
import * as nodeCrypto from 'node:crypto';
import { createIpAllowlist } from '../request/ip-allowlist.js';
import {
  type ApiKeyInfo,
  boundsOf,
  type JsonValue,
  type KeyBounds,
  type KeyRecord,
  type QuotaSpec,
  type RateLimitSpec,
} from './key-record.js';

/** What the request path reads of a key: satisfied by a {@link CachedKey} and by an `ApiKeyInfo`. */
export interface KeyView {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly paths: readonly string[];
  readonly ips: readonly string[];
  readonly rateLimit: RateLimitSpec | null;
  readonly quota: QuotaSpec | null;
  readonly metadata: Record<string, JsonValue>;
  readonly ownerId: string | null;
  readonly lineageId: string;
  readonly expiresAt: Date | null;
}

/** Key bounds as a profile shares them: frozen lists. */
type SharedBounds = Readonly<{ scopes: readonly string[]; paths: readonly string[]; ips: readonly string[] }>;

/** The settings of a key that many keys share, interned per key manager and frozen. */
export interface KeyProfile {
  readonly environment: string;
  readonly prefix: string;
  readonly scopes: readonly string[];
  readonly paths: readonly string[];
  readonly ips: readonly string[];
  readonly rateLimit: RateLimitSpec | null;
  readonly quota: QuotaSpec | null;
  /** What the key's owner may choose within in the portal (`KeyRecord.portalBounds`); the portal reads it, the request path never. */
  readonly portalBounds: SharedBounds | null;
  /** The IP allowlist as a predicate, made on first use. */
  allow: ((ip: string | undefined) => boolean) | null;
}

const EMPTY_METADATA: Record<string, JsonValue> = Object.freeze({});
const MAX_PROFILES = 10_000;

const oneShot = (nodeCrypto as { hash?: (algorithm: string, data: string, encoding: 'binary') => string })
  .hash;
/**
 * SHA-256 of `text` as 32 one-byte characters (one-shot `crypto.hash` where Node has it): the print
 * of a record's hash, made when a record is read. The warm path's digest of a presented key is
 * keys/key-digest.ts (what was tried for it is recorded there).
 */
export const sha256Binary = oneShot
  ? (text: string) => oneShot('sha256', text, 'binary')
  : (text: string) => nodeCrypto.createHash('sha256').update(text).digest('binary');

/** Four characters of a one-byte string as one int32 (a small integer in V8: no boxed number). */
const int32At = (text: string, at: number) =>
  (text.charCodeAt(at) << 24) |
  (text.charCodeAt(at + 1) << 16) |
  (text.charCodeAt(at + 2) << 8) |
  text.charCodeAt(at + 3);

const frozenList = (list: readonly string[]): readonly string[] => Object.freeze([...list]); // exact length

/** Interns profiles by content, so that keys on the same plan share one. */
export function createProfiles(): (record: KeyRecord) => KeyProfile {
  const profiles = new Map<string, KeyProfile>();
  return (record) => {
    const { environment, prefix, scopes, paths, ips, rateLimit, quota } = record;
    const bounds = boundsOf(record);
    const id = JSON.stringify([environment, prefix, scopes, paths, ips, rateLimit, quota, bounds]);
    let profile = profiles.get(id);
    if (profile === undefined) {
      const own = { scopes: frozenList(scopes), paths: frozenList(paths), ips: frozenList(ips) };
      profile = {
        environment,
        prefix,
        ...own,
        // Most keys' bounds are their own settings: then they share the lists.
        portalBounds:
          bounds === null ? null : Object.freeze(sameBounds(bounds, own) ? own : copyBounds(bounds)),
        rateLimit:
          rateLimit && Object.freeze({ limit: rateLimit.limit, windowSeconds: rateLimit.windowSeconds }),
        quota: quota && Object.freeze({ limit: quota.limit, period: quota.period }),
        allow: null,
      };
      // Bounded: past the limit, profiles are still made, only not shared.
      if (profiles.size < MAX_PROFILES) profiles.set(id, profile);
    }
    return profile;
  };
}

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((item, i) => item === b[i]);
const sameBounds = (a: KeyBounds, b: SharedBounds) =>
  sameList(a.scopes, b.scopes) && sameList(a.paths, b.paths) && sameList(a.ips, b.ips);
const copyBounds = (bounds: KeyBounds) => ({
  scopes: frozenList(bounds.scopes),
  paths: frozenList(bounds.paths),
  ips: frozenList(bounds.ips),
});

/** Whether a key's IP allowlist admits `ip` (an empty list admits everyone). */
export function profileAllows(profile: KeyProfile, ip: string | undefined): boolean {
  if (profile.ips.length === 0) return true;
  profile.allow ??= createIpAllowlist(profile.ips);
  return profile.allow(ip);
}

const time = (date: Date | null) => (date === null ? null : date.getTime());
const date = (ms: number | null) => (ms === null ? null : new Date(ms));

/**
 * A key record in the cache, with the state of its verification. Record fields are never changed
 * (a reloaded record is a new object that inherits the verification state); `until`,
 * `verifiedUntilRel`, `touchedUntilRel` and the digest are the cache's own. Times named `...Rel` are in ms
 * relative to the cache's `base`.
 */
export class CachedKey implements KeyView {
  readonly id: string;
  readonly name: string;
  readonly profile: KeyProfile;
  readonly metadata: Record<string, JsonValue>;
  readonly ownerId: string | null;
  readonly lineageId: string;
  readonly replacedBy: string | null;
  readonly createdAtMs: number;
  readonly expiresAtMs: number | null;
  readonly revokedAtMs: number | null;
  /** The 64-bit print of the record's hash, as two int32. */
  readonly hashHigh: number;
  readonly hashLow: number;
  /** The record is trusted until then (relative ms). */
  untilRel: number;
  /**
   * The digest (`keyDigest`, 8 characters) of the plaintext that matched the hash, which counts
   * until `verifiedUntilRel` (relative ms; 0: none). Kept as one string: one comparison a request
   * (12 ns, where reading a digest out as four int32 fields cost 43; scratch loop, 3M calls).
   */
  verifiedUntilRel = 0;
  digest: string | null = null;
  /** Until when `lastUsedAt` needs no write (relative ms). */
  touchedUntilRel = 0;

  constructor(record: KeyRecord, profile: KeyProfile, untilRel: number) {
    this.id = record.id;
    this.name = record.name;
    this.profile = profile;
    const metadata = record.metadata;
    let empty = true;
    for (const _ in metadata) {
      empty = false;
      break;
    }
    this.metadata = empty ? EMPTY_METADATA : Object.freeze(metadata);
    this.ownerId = record.ownerId;
    // Most keys are their own lineage: one string, not two.
    this.lineageId = record.lineageId === record.id ? this.id : record.lineageId;
    this.replacedBy = record.replacedBy;
    this.createdAtMs = record.createdAt.getTime();
    this.expiresAtMs = time(record.expiresAt);
    this.revokedAtMs = time(record.revokedAt);
    const print = sha256Binary(record.hash);
    this.hashHigh = int32At(print, 0);
    this.hashLow = int32At(print, 4);
    this.untilRel = untilRel;
  }

  get scopes(): readonly string[] {
    return this.profile.scopes;
  }
  get paths(): readonly string[] {
    return this.profile.paths;
  }
  get ips(): readonly string[] {
    return this.profile.ips;
  }
  get rateLimit(): RateLimitSpec | null {
    return this.profile.rateLimit;
  }
  get quota(): QuotaSpec | null {
    return this.profile.quota;
  }
  /** A new Date per read (none is kept). */
  get expiresAt(): Date | null {
    return date(this.expiresAtMs);
  }

  /** Whether the plaintext with this `digest` (`keyDigest`) matched the hash, and still counts at `relNow`. */
  holds(digest: string, relNow: number): boolean {
    return this.verifiedUntilRel > relNow && this.digest === digest;
  }

  /** Records that the plaintext with this `digest` (`keyDigest`) matched, until `untilRel`. */
  verified(digest: string, untilRel: number): void {
    this.digest = digest;
    this.verifiedUntilRel = untilRel;
  }

  /** Takes the verification state and last touch of the entry this one replaces. */
  inherit(previous: CachedKey): void {
    this.touchedUntilRel = previous.touchedUntilRel;
    if (!this.sameHash(previous)) return; // the verified plaintext matched another hash
    this.digest = previous.digest;
    this.verifiedUntilRel = previous.verifiedUntilRel;
  }

  /** Whether `other` was made from a record with the same hash. */
  sameHash(other: CachedKey): boolean {
    return this.hashHigh === other.hashHigh && this.hashLow === other.hashLow;
  }

  /**
   * The public, frozen info of this record (a new object each call). `lastUsedAtMs` is the cache's
   * own last touch (no Date or number of the record's is kept: one less boxed number a key).
   */
  info(lastUsedAtMs: number | null): ApiKeyInfo {
    const { profile } = this;
    return Object.freeze({
      id: this.id,
      name: this.name,
      environment: profile.environment,
      prefix: profile.prefix,
      scopes: profile.scopes as string[],
      paths: profile.paths as string[],
      ips: profile.ips as string[],
      createdAt: new Date(this.createdAtMs),
      expiresAt: date(this.expiresAtMs),
      revokedAt: date(this.revokedAtMs),
      lastUsedAt: date(lastUsedAtMs),
      rateLimit: profile.rateLimit,
      quota: profile.quota,
      metadata: this.metadata,
      ownerId: this.ownerId,
      replacedBy: this.replacedBy,
      lineageId: this.lineageId,
      portalBounds: profile.portalBounds as KeyBounds | null,
    });
  }
}
