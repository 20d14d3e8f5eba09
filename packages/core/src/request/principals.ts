// Principals. A key's principal is made per request, from the cached key (a small object, cheaper
// than keeping one per cached key: `pnpm bench`, "heap per cached verified key"); a token's is made
// once per verified token and reused while its key's entry is the same. Each holds the key it came
// from in a private field (for a stacked middleware's extra cost), invisible to JSON, spread and
// enumeration.
import { CachedKey, type KeyView, profileAllows } from '../keys/cached-key.js';
import type { AccessTokenClaims } from '../tokens/access-tokens.js';
import type { CredentialKind } from './credentials.js';
import type { Hold, ReserveOptions } from './holds.js';
import { createIpAllowlist } from './ip-allowlist.js';
import { storagePathAllowed } from './path-pattern.js';
import type { KeyMetadata, Principal } from './types.js';

export interface Principals {
  /** An API key's principal. */
  ofKey(key: KeyView, kind: CredentialKind): Principal;
  /** A token's principal: its own paths, and the scopes it names that its key still holds. */
  ofToken(claims: AccessTokenClaims, key: KeyView): Principal;
  /** The key a principal was made from. */
  keyOf(principal: Principal): KeyView | undefined;
  /** Whether the key's IP allowlist admits `ip`. */
  ipAllowed(key: KeyView, ip: string | undefined): boolean;
}

/** What a principal's `reserve` calls: its keywarden's (one function per keywarden, shared). */
export type Reserver = (
  principal: Principal,
  units: number,
  options?: ReserveOptions,
) => Hold | Promise<Hold>;

class KeywardenPrincipal implements Principal {
  readonly #key: KeyView;
  readonly #reserve: Reserver;
  kind: CredentialKind;
  keyId: string;
  name: string;
  scopes: readonly string[];
  paths: readonly string[];
  ownerId: string | null;
  lineageId: string;
  tokenId: string | null;
  metadata: Readonly<KeyMetadata>;
  expiresAt: Date | null;

  /** A key's own principal; a token's then narrows `scopes`, `paths` and `expiresAt`. */
  constructor(kind: CredentialKind, key: KeyView, reserve: Reserver) {
    this.#key = key;
    this.#reserve = reserve;
    this.kind = kind;
    this.keyId = key.id;
    this.name = key.name;
    this.scopes = key.scopes;
    this.paths = key.paths;
    this.ownerId = key.ownerId;
    this.lineageId = key.lineageId;
    this.tokenId = null;
    this.metadata = key.metadata as KeyMetadata;
    this.expiresAt = key.expiresAt;
  }

  reserve(units: number, options?: ReserveOptions): Hold | Promise<Hold> {
    return this.#reserve(this, units, options);
  }

  static keyOf(principal: Principal): KeyView | undefined {
    return #key in principal ? principal.#key : undefined;
  }
}

/**
 * Whether the credential behind `principal` may use a storage path, that is a resource named in a
 * request's body or URL parameters (`input_file_path`, an `imageUrl`) rather than by its path. Write
 * the storage path as the request path that would read it (`/v3/files/` + the file's path): it must
 * match the credential's path patterns (a token's, and its key's) by the same grammar as request
 * paths, and be safe (no dot segments, encoded slashes, lookalikes...): refused otherwise, even by
 * `*`. Check every such path before reading or writing, or a key limited to `/v3/files/public/*`
 * reads `private/` through a tool's input.
 *
 * @example
 * ```ts
 * if (!allowsPath(getAuth(req), `/v3/files/${body.input_file_path}`)) throw forbidden();
 * ```
 */
export function allowsPath(principal: Pick<Principal, 'paths'>, path: string): boolean {
  const key = KeywardenPrincipal.keyOf(principal as Principal);
  const keyPaths = key !== undefined && key.paths !== principal.paths ? key.paths : null;
  return storagePathAllowed(principal.paths, keyPaths, path);
}

/** Makes principals whose `reserve` calls `reserve`. */
export function createPrincipals(reserve: Reserver): Principals {
  const byToken = new WeakMap<AccessTokenClaims, { key: KeyView; principal: Principal }>();
  // Allowlists of keys that are not keywarden's cached entries (another KeyManager's infos).
  const allowlists = new WeakMap<KeyView, (ip: string | undefined) => boolean>();
  return {
    ofKey: (key, kind) => new KeywardenPrincipal(kind, key, reserve),
    ofToken(claims, key) {
      const cached = byToken.get(claims);
      if (cached?.key === key) return cached.principal;
      const granted = claims.scope === '' ? [] : claims.scope.split(' ');
      const principal = new KeywardenPrincipal('access_token', key, reserve);
      principal.scopes = Object.freeze(granted.filter((scope) => key.scopes.includes(scope)));
      principal.paths = Object.freeze([...claims.paths]);
      principal.expiresAt = new Date(claims.exp * 1000);
      principal.tokenId = claims.jti;
      Object.freeze(principal);
      byToken.set(claims, { key, principal });
      return principal;
    },
    keyOf: KeywardenPrincipal.keyOf,
    ipAllowed(key, ip) {
      if (key instanceof CachedKey) return profileAllows(key.profile, ip);
      let allow = allowlists.get(key);
      if (!allow) {
        allow = createIpAllowlist(key.ips);
        allowlists.set(key, allow);
      }
      return allow(ip);
    },
  };
}
