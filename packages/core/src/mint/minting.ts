// Minting access tokens: the handler behind the mint route (an API key only, never a token; a
// body of paths and a lifetime) and the server-side call. A token never grants more than its key:
// its paths lie inside the key's patterns, its scopes inside the key's.
import { AuthError } from '../errors/auth-error.js';
import { configError } from '../errors/config-error.js';
import type { KeywardenSettings } from '../keywarden-options.js';
import type { Mode } from '../request/context.js';
import { CREDENTIAL_FAILURE, type Refusals } from '../request/refusals.js';
import type { AuthRequest, AuthResult, Principal, RouteRequirements } from '../request/types.js';
import { ACCESS_TOKEN_LIFETIME, type TokenService } from '../tokens/access-tokens.js';

type MintedToken = ReturnType<TokenService['mint']>;

import type { MaybePromise } from '../util/maybe-promise.js';
import { checkMintOptions, firstPathOutside, parseMintBody } from './mint-body.js';

/** Options of `keywarden.mintAccessToken`. */
export interface MintAccessTokenOptions {
  /** Path patterns, each within the key's own. @default ['*'] */
  paths?: readonly string[];
  /** Lifetime in seconds, 1..600. @default 60 */
  expiresIn?: number;
  /** Scopes, each held by the key. @default all of the key's scopes */
  scopes?: readonly string[];
}

/** A freshly minted access token. */
export interface MintedAccessToken {
  /** The JWT, for `Authorization: AccessToken <token>`. */
  token: string;
  /** Lifetime in seconds. */
  expiresIn: number;
  /** Expiry instant. */
  expiresAt: Date;
  /** Path patterns granted. */
  paths: string[];
  /** Scopes granted. */
  scopes: string[];
  /** Unique token id (`jti`), for logs. */
  tokenId: string;
}

/** The JSON body of a successful mint. */
export interface AccessTokenResponse {
  /** The JWT. */
  access_token: string;
  /** The Authorization scheme to send it with. */
  token_type: 'AccessToken';
  /** Lifetime in seconds. */
  expires_in: number;
  /** Path patterns granted. */
  paths: string[];
}

/** Outcome of `keywarden.handleMintRequest`. */
export type MintResult =
  | {
      ok: true;
      status: 200;
      headers: Readonly<Record<string, string>>;
      body: AccessTokenResponse;
      principal: Principal;
    }
  | { ok: false; error: AuthError };

const MINT_ROUTE: RouteRequirements = Object.freeze({ cost: 0 });
const MINT_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'cache-control': 'no-store' });

export interface MintingParts {
  refusals: Refusals;
  /** The request pipeline, in mint mode for the mint route. */
  authenticate(
    input: AuthRequest,
    route: RouteRequirements | undefined,
    mode: Mode,
  ): MaybePromise<AuthResult>;
}

/** What a key may grant. */
interface Grantor {
  keyId: string;
  paths: readonly string[];
  scopes: readonly string[];
}

export function createMinting(settings: KeywardenSettings, parts: MintingParts) {
  const { keys, tokens, maxTokenLength, emit, now, apiKeyScheme } = settings;
  const { refusals, authenticate } = parts;

  function requireTokens(): TokenService {
    if (!tokens) throw configError('KW_MISSING_OPTION', 'tokens', 'is needed to mint access tokens');
    return tokens;
  }

  /** Mints for a valid key, or returns the refusal. */
  function mintFor(
    key: Grantor,
    request: { paths: readonly string[]; expiresIn: number; scopes: readonly string[] },
  ): MintedToken | AuthError {
    const { paths, expiresIn, scopes } = request;
    const outside = firstPathOutside(paths, key.paths);
    if (outside !== -1)
      return new AuthError(
        'insufficient_scope',
        {},
        `paths[${outside}] is not within this key's path patterns`,
      );
    const extra = scopes.findIndex((scope) => !key.scopes.includes(scope));
    if (extra !== -1)
      return new AuthError('insufficient_scope', {}, `scopes[${extra}] is not held by this key`);
    const minted = requireTokens().mint({ keyId: key.keyId, paths, scopes, expiresIn });
    if (minted.token.length > maxTokenLength) {
      return new AuthError(
        'invalid_request',
        {},
        `the paths make the token longer than ${maxTokenLength} characters`,
      );
    }
    emit({
      type: 'token.minted',
      time: new Date(now()),
      keyId: key.keyId,
      tokenId: minted.claims.jti,
      expiresIn,
      paths: minted.claims.paths,
    });
    return minted;
  }

  async function handleMintRequest(input: AuthRequest, body: unknown): Promise<MintResult> {
    requireTokens();
    let auth: AuthResult;
    try {
      // Minting charges no quota: the calls made with the token do.
      auth = await authenticate(input, MINT_ROUTE, 'mint');
    } catch {
      return refusals.failClosed();
    }
    if (!auth.ok) return auth;
    const request = parseMintBody(body);
    if (typeof request === 'string')
      return { ok: false, error: new AuthError('invalid_request', {}, request) };
    // The principal comes from the key verified just now, so its paths and scopes are current.
    const principal: Principal = auth.principal;
    const minted = mintFor(principal, { ...request, scopes: principal.scopes });
    if (minted instanceof AuthError) return { ok: false, error: minted };
    const body_: AccessTokenResponse = {
      access_token: minted.token,
      token_type: 'AccessToken',
      expires_in: request.expiresIn,
      paths: minted.claims.paths,
    };
    return { ok: true, status: 200, headers: MINT_HEADERS, principal, body: body_ };
  }

  async function mintAccessToken(
    keyId: string,
    options: MintAccessTokenOptions = {},
  ): Promise<MintedAccessToken> {
    requireTokens();
    const { paths = ['*'], expiresIn = ACCESS_TOKEN_LIFETIME.default, scopes } = options;
    const problem = checkMintOptions(paths, expiresIn, 'paths', 'expiresIn');
    if (problem) throw new AuthError('invalid_request', {}, problem);
    const parent = await keys.lookup(keyId);
    if (!parent.ok) throw refusals.error(CREDENTIAL_FAILURE[parent.reason], [apiKeyScheme]);
    const key = { keyId: parent.key.id, paths: parent.key.paths, scopes: parent.key.scopes };
    const minted = mintFor(key, { paths: [...new Set(paths)], expiresIn, scopes: scopes ?? key.scopes });
    if (minted instanceof AuthError) throw minted;
    return {
      token: minted.token,
      expiresIn,
      expiresAt: new Date(minted.claims.exp * 1000),
      paths: minted.claims.paths,
      scopes: minted.claims.scope === '' ? [] : minted.claims.scope.split(' '),
      tokenId: minted.claims.jti,
    };
  }

  return { handleMintRequest, mintAccessToken };
}
