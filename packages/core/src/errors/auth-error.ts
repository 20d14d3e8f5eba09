import { configError } from './config-error.js';
/** Every refusal keywarden can answer with. Closed: adapters and users can switch on it exhaustively. */
export type AuthErrorCode =
  | 'missing_credentials'
  | 'invalid_request'
  | 'invalid_credentials'
  | 'path_not_allowed'
  | 'insufficient_scope'
  | 'ip_not_allowed'
  | 'https_required'
  | 'account_suspended'
  | 'rate_limited'
  | 'quota_exceeded'
  | 'credits_exhausted'
  | 'auth_unavailable';

interface CodeInfo {
  status: number;
  title: string;
  /** RFC 6750 `error=` parameter of the challenge, or null for none. */
  challengeError: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | null;
  /** Whether the response carries a `WWW-Authenticate` challenge. */
  challenge: boolean;
}

/** The one code-to-status table. `satisfies` makes it exhaustive: a new code will not compile without a row. */
const CODES = {
  missing_credentials: {
    status: 401,
    title: 'Authentication required',
    challengeError: null,
    challenge: true,
  },
  invalid_request: {
    status: 400,
    title: 'Malformed authentication',
    challengeError: 'invalid_request',
    challenge: true,
  },
  invalid_credentials: {
    status: 401,
    title: 'Invalid credentials',
    challengeError: 'invalid_token',
    challenge: true,
  },
  path_not_allowed: {
    status: 401,
    title: 'Credentials not valid for this path',
    challengeError: 'invalid_token',
    challenge: true,
  },
  insufficient_scope: {
    status: 403,
    title: 'Insufficient scope',
    challengeError: 'insufficient_scope',
    challenge: true,
  },
  ip_not_allowed: {
    status: 403,
    title: 'Client address not allowed',
    challengeError: null,
    challenge: false,
  },
  https_required: { status: 403, title: 'HTTPS required', challengeError: null, challenge: false },
  account_suspended: { status: 403, title: 'Account suspended', challengeError: null, challenge: false },
  rate_limited: { status: 429, title: 'Rate limit exceeded', challengeError: null, challenge: false },
  quota_exceeded: { status: 429, title: 'Quota exceeded', challengeError: null, challenge: false },
  // 402, not 429: waiting does not help (the credits never come back by themselves), so a client
  // must not retry; no Retry-After.
  credits_exhausted: {
    status: 402,
    title: 'Credits exhausted',
    challengeError: null,
    challenge: false,
  },
  auth_unavailable: {
    status: 503,
    title: 'Authentication temporarily unavailable',
    challengeError: null,
    challenge: false,
  },
} as const satisfies Record<AuthErrorCode, CodeInfo>;

/** HTTP status of each code. */
export const AUTH_ERROR_STATUS: Readonly<Record<AuthErrorCode, number>> = Object.freeze(
  Object.fromEntries(Object.entries(CODES).map(([code, info]) => [code, info.status])) as Record<
    AuthErrorCode,
    number
  >,
);

/** Media type of every error body (RFC 9457). */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Base of the `type` URI in problem bodies; the code is appended. */
export const PROBLEM_TYPE_BASE = 'urn:keywarden:error:';

/** The JSON body of every refusal (RFC 9457 problem details). */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: AuthErrorCode;
  /** Present only on refusals of a request body (the token mint), naming the field at fault. Never holds a credential. */
  detail?: string;
}

/** How a refusal is challenged (RFC 6750 / RFC 9110 `WWW-Authenticate`). */
export interface ChallengeOptions {
  /** Schemes offered, in order, e.g. `['Bearer', 'Token', 'AccessToken']`. */
  schemes: readonly string[];
  realm: string;
  /** For `insufficient_scope`: the scopes the route needs. */
  scope?: readonly string[];
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * The one error class of keywarden's request checks. `status`, `statusCode`, `headers` and
 * `expose` make the default error handlers of Express, Koa and Fastify render it correctly, and
 * `body` / `toJSON()` give the problem document. The message is the public title: it never says
 * which part of a credential was wrong.
 *
 * @example
 * ```ts
 * const error = new AuthError('invalid_credentials');
 * error.status;  // 401
 * error.body;    // { type: 'urn:keywarden:error:invalid_credentials', title: 'Invalid credentials', status: 401, code: 'invalid_credentials' }
 * ```
 */
export class AuthError extends Error {
  override readonly name = 'AuthError';
  readonly code: AuthErrorCode;
  readonly status: number;
  /** Same as `status`, for Fastify and older middleware. */
  readonly statusCode: number;
  /** Response headers: `WWW-Authenticate` on 401 (and on 400/403 where RFC 6750 defines an error), `Retry-After` on 429/503. */
  readonly headers: Readonly<Record<string, string>>;
  /** Safe to show to the client (Koa and http-errors convention). */
  readonly expose = true;
  /** What was wrong with a request body; undefined for credential refusals, which never say. */
  readonly detail: string | undefined;

  constructor(code: AuthErrorCode, headers: Record<string, string> = {}, detail?: string) {
    const info = CODES[code];
    if (!info) throw configError('KW_INVALID_OPTION', 'code', `is not an AuthError code: ${String(code)}`);
    super(info.title);
    this.code = code;
    this.status = info.status;
    this.statusCode = info.status;
    this.headers = Object.freeze({ 'cache-control': 'no-store', ...headers });
    this.detail = detail;
  }

  /** The problem document sent as the response body. */
  get body(): ProblemBody {
    const body: ProblemBody = {
      type: PROBLEM_TYPE_BASE + this.code,
      title: this.message,
      status: this.status,
      code: this.code,
    };
    if (this.detail !== undefined) body.detail = this.detail;
    return body;
  }

  /** The problem document, so that `JSON.stringify(error)` gives the same body as the response. */
  toJSON(): ProblemBody {
    return this.body;
  }
}

/**
 * Builds the `WWW-Authenticate` value for a code, or null when the code carries no challenge.
 * Every offered scheme gets a challenge (RFC 9110 allows several); codes with an RFC 6750 error
 * add `error=` to each.
 */
export function challengeFor(code: AuthErrorCode, options: ChallengeOptions): string | null {
  const info: CodeInfo = CODES[code];
  if (!info.challenge || options.schemes.length === 0) return null;
  let params = `realm=${quote(options.realm)}`;
  if (info.challengeError) params += `, error=${quote(info.challengeError)}`;
  if (code === 'insufficient_scope' && options.scope?.length)
    params += `, scope=${quote(options.scope.join(' '))}`;
  return options.schemes.map((scheme) => `${scheme} ${params}`).join(', ');
}
