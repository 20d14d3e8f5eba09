import { randomBytes } from 'node:crypto';
import { createSigner, createVerifier } from 'fast-jwt';
import { LRUCache } from 'lru-cache';
import { configError } from '../errors/config-error.js';
import { isValidPathPattern } from '../request/path-pattern.js';
import { integerOption, optionsObject } from '../util/options.js';

// Why fast-jwt: `pnpm bench` measured, for one HS256 token on this machine, jose's `jwtVerify`
// at ~86 µs, fast-jwt at ~5.3 µs and a hand-written node:crypto HMAC check at ~4.3 µs. fast-jwt is
// within 25% of hand-rolled crypto, so we keep a maintained library for the signature and do by
// hand only what it does not: the shape pre-check, the header allowlist, and the time and claim
// rules below (its clock is fixed per verifier; ours must be injectable).

/** One signing secret of the keyring. */
export interface SigningSecret {
  /** Key id written into each token's `kid` header: 1-64 of `[A-Za-z0-9_-]`. */
  id: string;
  /** At least 32 random bytes: raw bytes, or their base64url text (as `generateTokenSecret` makes). */
  secret: string | Uint8Array;
}

/** Options of access tokens (`createKeywarden({ tokens })`). */
export interface AccessTokenOptions {
  /** The keyring: the first secret signs new tokens; every one of them verifies (rotation). */
  secrets: readonly SigningSecret[];
  /** `iss` claim written and required. @default 'keywarden' */
  issuer?: string;
  /** `aud` claim written and required. @default 'keywarden' */
  audience?: string;
  /** Clock skew allowed on `iat` and `exp`, in seconds. @default 5 */
  clockToleranceSeconds?: number;
  /** Verified tokens kept in memory (each is re-checked for expiry on every use). @default 10000 */
  cacheSize?: number;
}

/** Claims of a keywarden access token. */
export interface AccessTokenClaims {
  /** Issuer, `keywarden` unless configured. */
  iss: string;
  /** Audience, `keywarden` unless configured. */
  aud: string;
  /** Id of the API key that minted it. */
  sub: string;
  /** Path patterns the token may call, each inside the minting key's patterns. */
  paths: string[];
  /** Space-separated scopes (RFC 9068 style). */
  scope: string;
  /** Issued at, seconds since the epoch. */
  iat: number;
  /** Expiry, seconds since the epoch; `exp - iat` is 1 to 600. */
  exp: number;
  /** Unique token id, for logs. */
  jti: string;
}

/** Why a token was refused (internal: reported in events, never to clients). */
export type TokenFailureReason =
  | 'token_malformed'
  | 'token_header_invalid'
  | 'token_unknown_kid'
  | 'token_signature_invalid'
  | 'token_claims_invalid'
  | 'token_not_yet_valid'
  | 'token_expired';

/** Shortest and longest lifetime of a token, in seconds. */
export const ACCESS_TOKEN_LIFETIME = Object.freeze({ min: 1, max: 600, default: 60 });
/** At most this many path patterns per token. */
export const MAX_TOKEN_PATHS = 32;

const CLAIMS = new Set(['iss', 'aud', 'sub', 'paths', 'scope', 'iat', 'exp', 'jti']);
const KEY_ID = /^[0-9A-Za-z]{12}$/;
const KID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Makes a new signing secret: 32 random bytes as base64url text, ready for `tokens.secrets`.
 *
 * @example
 * ```ts
 * const secret = generateTokenSecret(); // put it in KEYWARDEN_TOKEN_SECRET
 * ```
 */
export function generateTokenSecret(): string {
  return randomBytes(32).toString('base64url');
}

function secretBytes(secret: string | Uint8Array, id: string): Buffer {
  let bytes: Buffer;
  if (typeof secret === 'string') {
    bytes = Buffer.from(secret, 'base64url');
    if (bytes.toString('base64url') !== secret) {
      throw configError(
        'KW_INVALID_OPTION',
        `tokens.secrets.${id}`,
        'must be base64url text (see generateTokenSecret())',
      );
    }
  } else if (secret instanceof Uint8Array) {
    bytes = Buffer.from(secret);
  } else {
    throw configError('KW_INVALID_OPTION', `tokens.secrets.${id}`, 'must be a string or bytes');
  }
  // 32 random bytes hold ~30 distinct values; fewer than 16 means a pattern, not randomness.
  if (bytes.length < 32 || new Set(bytes).size < 16) {
    throw configError(
      'KW_INVALID_OPTION',
      `tokens.secrets.${id}`,
      'must hold at least 32 random bytes (token secret)',
      true,
    );
  }
  return bytes;
}

/** Value of a base64url character, or -1. */
function base64urlValue(code: number): number {
  if (code >= 65 && code <= 90) return code - 65;
  if (code >= 97 && code <= 122) return code - 71;
  if (code >= 48 && code <= 57) return code + 4;
  if (code === 45) return 62;
  if (code === 95) return 63;
  return -1;
}

/** True when `text[start..end)` is canonical unpadded base64url (no padding, no stray bits). */
function isCanonicalBase64url(text: string, start: number, end: number): boolean {
  const length = end - start;
  if (length === 0 || length % 4 === 1) return false;
  let last = 0;
  for (let i = start; i < end; i++) {
    last = base64urlValue(text.charCodeAt(i));
    if (last < 0) return false;
  }
  if (length % 4 === 2) return (last & 0x0f) === 0;
  if (length % 4 === 3) return (last & 0x03) === 0;
  return true;
}

function parseJsonObject(segment: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

export type TokenVerifyResult =
  | { ok: true; claims: AccessTokenClaims }
  | { ok: false; reason: TokenFailureReason };

export interface TokenService {
  mint(input: { keyId: string; paths: readonly string[]; scopes: readonly string[]; expiresIn: number }): {
    token: string;
    claims: AccessTokenClaims;
  };
  /** `at`: the time to check `iat` and `exp` against (epoch ms). @default the service's clock */
  verify(token: string, at?: number): TokenVerifyResult;
}

const failure = (reason: TokenFailureReason) => ({ ok: false as const, reason });

/** Characters of an HS256 signature in base64url (32 bytes). */
const SIGNATURE_LENGTH = 43;

/** A verified token in the cache: the whole token, and its claims and result, made once. */
interface VerifiedToken {
  token: string;
  claims: AccessTokenClaims;
  accepted: TokenVerifyResult;
}

function checkClaims(
  payload: Record<string, unknown>,
  issuer: string,
  audience: string,
): AccessTokenClaims | null {
  for (const key of Object.keys(payload)) if (!CLAIMS.has(key)) return null;
  const { iss, aud, sub, paths, scope, iat, exp, jti } = payload;
  if (iss !== issuer || aud !== audience) return null;
  if (typeof sub !== 'string' || !KEY_ID.test(sub)) return null;
  if (!Array.isArray(paths) || paths.length === 0 || paths.length > MAX_TOKEN_PATHS) return null;
  if (!paths.every(isValidPathPattern)) return null;
  if (typeof scope !== 'string' || scope.length > 8192) return null;
  if (!Number.isSafeInteger(iat) || !Number.isSafeInteger(exp)) return null;
  const lifetime = (exp as number) - (iat as number);
  if (lifetime < ACCESS_TOKEN_LIFETIME.min || lifetime > ACCESS_TOKEN_LIFETIME.max) return null;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 64) return null;
  return payload as unknown as AccessTokenClaims;
}

/**
 * Signs and verifies keywarden access tokens: compact JWS, HS256 only, header exactly
 * `{ alg, typ: 'at+jwt', kid }`. Verification refuses, before fast-jwt sees the token, anything
 * that is not three canonical base64url segments within `maxLength`, any other header parameter,
 * algorithm or `typ`, and an unknown `kid`; after it, any claim set other than ours, `exp - iat`
 * outside 1..600, `iat` in the future or `exp` in the past (beyond the clock tolerance).
 */
// biome-ignore lint/complexity/noExcessiveLinesPerFunction: the keyring and verified-token cache live in one closure its small inner functions share
export function createTokenService(
  options: AccessTokenOptions,
  now: () => number,
  maxLength: number,
): TokenService {
  if (options === null) throw configError('KW_INVALID_OPTION', 'tokens', 'must be an object');
  optionsObject('tokens', options, ['secrets', 'issuer', 'audience', 'clockToleranceSeconds', 'cacheSize']);
  const { secrets } = options;
  if (!Array.isArray(secrets) || secrets.length === 0)
    throw configError('KW_MISSING_OPTION', 'tokens.secrets', 'needs a secret');
  const issuer = options.issuer ?? 'keywarden';
  const audience = options.audience ?? 'keywarden';
  for (const [name, value] of [
    ['issuer', issuer],
    ['audience', audience],
  ] as const) {
    if (typeof value !== 'string' || value.length === 0 || value.length > 256) {
      throw configError('KW_INVALID_OPTION', `tokens.${name}`, 'must be a non-empty string');
    }
  }
  const tolerance = integerOption('tokens.clockToleranceSeconds', options.clockToleranceSeconds, 5, {
    min: 0,
    max: 300,
  });
  const cacheSize = integerOption('tokens.cacheSize', options.cacheSize, 10_000);

  const verifiers = new Map<string, (token: string) => unknown>();
  for (const { id, secret } of secrets) {
    if (typeof id !== 'string' || !KID.test(id))
      throw configError(
        'KW_INVALID_OPTION',
        'tokens.secrets',
        'needs an id of [A-Za-z0-9_-] on each token secret',
      );
    if (verifiers.has(id))
      throw configError('KW_INVALID_OPTION', 'tokens.secrets', `use the token secret id ${id} twice`);
    const key = secretBytes(secret, id);
    verifiers.set(
      id,
      createVerifier({
        key,
        algorithms: ['HS256'],
        allowedIss: issuer,
        allowedAud: audience,
        requiredClaims: ['iss', 'aud', 'sub', 'iat', 'exp', 'jti'],
        ignoreExpiration: true, // checked below with the injectable clock
        ignoreNotBefore: true,
        cache: false, // we cache verified tokens ourselves, re-checking expiry on every use
      }),
    );
  }
  const current = secrets[0]!;
  const sign = createSigner({
    key: secretBytes(current.secret, current.id),
    algorithm: 'HS256',
    kid: current.id,
    header: { alg: 'HS256', typ: 'at+jwt', kid: current.id },
  });
  // Verified tokens, keyed by their signature (the last 43 characters) rather than the whole
  // token: a Map lookup hashes its key, and for a fresh 330-character token V8 took ~500 ns to
  // do so against ~150 ns to slice and hash the signature (`node`, one core of the bench
  // machine). A hit still needs the whole token to equal the one verified.
  const cache = new LRUCache<string, VerifiedToken>({ max: cacheSize });

  function timeCheck(claims: AccessTokenClaims, accepted: TokenVerifyResult, at: number): TokenVerifyResult {
    const seconds = at / 1000;
    if (claims.iat > seconds + tolerance) return failure('token_not_yet_valid');
    if (seconds >= claims.exp + tolerance) return failure('token_expired');
    return accepted;
  }

  return {
    mint({ keyId, paths, scopes, expiresIn }) {
      const iat = Math.floor(now() / 1000);
      const claims: AccessTokenClaims = {
        iss: issuer,
        aud: audience,
        sub: keyId,
        paths: [...paths],
        scope: scopes.join(' '),
        iat,
        exp: iat + expiresIn,
        jti: randomBytes(16).toString('base64url'),
      };
      return { token: sign(claims), claims };
    },
    verify(token, at = now()) {
      if (typeof token !== 'string' || token.length > maxLength) return failure('token_malformed');
      const cached = token.length > SIGNATURE_LENGTH ? cache.get(token.slice(-SIGNATURE_LENGTH)) : undefined;
      if (cached !== undefined && cached.token === token)
        return timeCheck(cached.claims, cached.accepted, at);
      const dot1 = token.indexOf('.');
      const dot2 = dot1 === -1 ? -1 : token.indexOf('.', dot1 + 1);
      if (dot2 === -1 || token.indexOf('.', dot2 + 1) !== -1) return failure('token_malformed');
      if (
        !isCanonicalBase64url(token, 0, dot1) ||
        !isCanonicalBase64url(token, dot1 + 1, dot2) ||
        token.length - dot2 - 1 !== SIGNATURE_LENGTH ||
        !isCanonicalBase64url(token, dot2 + 1, token.length)
      ) {
        return failure('token_malformed');
      }
      const header = parseJsonObject(token.slice(0, dot1));
      if (!header) return failure('token_header_invalid');
      const names = Object.keys(header);
      if (
        names.length !== 3 ||
        header.alg !== 'HS256' ||
        header.typ !== 'at+jwt' ||
        typeof header.kid !== 'string'
      ) {
        return failure('token_header_invalid');
      }
      const verifier = verifiers.get(header.kid);
      if (!verifier) return failure('token_unknown_kid');
      let payload: unknown;
      try {
        payload = verifier(token);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'FAST_JWT_INVALID_SIGNATURE') return failure('token_signature_invalid');
        if (code === 'FAST_JWT_MALFORMED' || code === 'FAST_JWT_INVALID_PAYLOAD')
          return failure('token_malformed');
        return failure('token_claims_invalid');
      }
      const claims =
        typeof payload === 'object' && payload !== null
          ? checkClaims(payload as Record<string, unknown>, issuer, audience)
          : null;
      if (!claims) return failure('token_claims_invalid');
      const accepted: TokenVerifyResult = Object.freeze({ ok: true as const, claims });
      const result = timeCheck(claims, accepted, at);
      if (result.ok) cache.set(token.slice(-SIGNATURE_LENGTH), { token, claims, accepted });
      return result;
    },
  };
}
