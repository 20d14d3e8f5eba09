// Principals, made once per key record (and per token), so the warm path allocates none; and what
// else is derived from a record once: its IP allowlist, and, for a stacked middleware's extra
// cost, the key a principal came from.
import type { ApiKeyInfo } from '../keys/key-record.js';
import type { AccessTokenClaims } from '../tokens/access-tokens.js';
import type { CredentialKind } from './credentials.js';
import { createIpAllowlist } from './ip-allowlist.js';
import type { KeyMetadata, Principal } from './types.js';

export interface Principals {
  /** An API key's principal. */
  ofKey(info: ApiKeyInfo, kind: CredentialKind): Principal;
  /** A token's principal: its own paths, and the scopes it names that its key still holds. */
  ofToken(claims: AccessTokenClaims, info: ApiKeyInfo): Principal;
  /** The key a principal was made from. */
  keyOf(principal: Principal): ApiKeyInfo | undefined;
  /** Whether the key's IP allowlist admits `ip` (the answer per address is remembered). */
  ipAllowed(info: ApiKeyInfo, ip: string | undefined): boolean;
}

export function createPrincipals(): Principals {
  const byKey = new WeakMap<ApiKeyInfo, Principal>();
  const byToken = new WeakMap<AccessTokenClaims, { info: ApiKeyInfo; principal: Principal }>();
  const keys = new WeakMap<Principal, ApiKeyInfo>();
  const allowlists = new WeakMap<ApiKeyInfo, (ip: string | undefined) => boolean>();
  return {
    ofKey(info, kind) {
      let principal = byKey.get(info);
      if (!principal) {
        principal = Object.freeze({
          kind,
          keyId: info.id,
          name: info.name,
          scopes: info.scopes,
          paths: info.paths,
          ownerId: info.ownerId,
          lineageId: info.lineageId,
          metadata: info.metadata as KeyMetadata,
          expiresAt: info.expiresAt,
        });
        byKey.set(info, principal);
        keys.set(principal, info);
      }
      return principal;
    },
    ofToken(claims, info) {
      const cached = byToken.get(claims);
      if (cached?.info === info) return cached.principal;
      const granted = claims.scope === '' ? [] : claims.scope.split(' ');
      const principal: Principal = Object.freeze({
        kind: 'access_token' as const,
        keyId: info.id,
        name: info.name,
        scopes: Object.freeze(granted.filter((scope) => info.scopes.includes(scope))),
        paths: Object.freeze([...claims.paths]),
        ownerId: info.ownerId,
        lineageId: info.lineageId,
        metadata: info.metadata as KeyMetadata,
        expiresAt: new Date(claims.exp * 1000),
      });
      byToken.set(claims, { info, principal });
      keys.set(principal, info);
      return principal;
    },
    keyOf: (principal) => keys.get(principal),
    ipAllowed(info, ip) {
      let allow = allowlists.get(info);
      if (!allow) {
        allow = createIpAllowlist(info.ips);
        allowlists.set(info, allow);
      }
      return allow(ip);
    },
  };
}
