// Helpers for the adapters that deal in Node's own HTTP objects (never a framework's), so that the
// bytes of a refusal, the body limit and credential hiding are decided once for all of them.
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { type AuthError, PROBLEM_CONTENT_TYPE } from '../errors/auth-error.js';
import type { CredentialSource, RawHeaders } from '../request/credentials.js';

/**
 * Header values of a Node request as the client sent them: `rawHeaders` (every occurrence, names
 * as sent; the core reads only the credential headers from it). Request objects without it
 * (mocks) fall back to `headersDistinct`, then `headers`, where a repeated `X-Api-Key` arrives
 * joined as `"a, b"` and is refused for its space.
 *
 * @example
 * ```ts
 * const result = await keywarden.authenticate({
 *   method: req.method ?? 'GET', url: req.url ?? '/', headers: requestHeaders(req), ip, secure,
 * });
 * ```
 */
export function requestHeaders(req: IncomingMessage): RawHeaders | readonly string[] {
  if (Array.isArray(req.rawHeaders)) return req.rawHeaders;
  return (req.headersDistinct as RawHeaders | undefined) ?? req.headers;
}

/** A refusal as bytes on the wire: what every adapter sends, identically. */
export interface ProblemResponse {
  status: number;
  /** Lower-case header names, including `content-type`. */
  headers: Record<string, string>;
  /** The problem document, serialized. */
  body: string;
}

/**
 * Renders an {@link AuthError} as the response every adapter sends.
 *
 * @example
 * ```ts
 * const { status, headers, body } = renderProblem(result.error);
 * res.writeHead(status, headers).end(body);
 * ```
 */
export function renderProblem(error: AuthError): ProblemResponse {
  return {
    status: error.status,
    headers: { ...error.headers, 'content-type': PROBLEM_CONTENT_TYPE },
    body: JSON.stringify(error.body),
  };
}

/**
 * Reads a request body up to `limit` bytes. A longer body is read to its end but only `limit + 1`
 * bytes are kept, so the caller can refuse it by size without buffering it; past `hardLimit`
 * bytes the stream is destroyed.
 *
 * @example
 * ```ts
 * const body = await readRequestBody(req, MAX_MINT_BODY_BYTES);
 * ```
 */
export function readRequestBody(stream: Readable, limit: number, hardLimit = 16 * limit): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let seen = 0;
    stream.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > hardLimit) {
        stream.destroy();
        resolve(Buffer.concat(chunks));
        return;
      }
      if (kept <= limit) {
        chunks.push(chunk);
        kept += chunk.length;
      }
    });
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/**
 * Removes the credential a request carried from Node's request object (`headers`,
 * `headersDistinct`, `rawHeaders`, and for a query parameter `url`), so that handlers and loggers
 * downstream never see it. Returns the new `url` when it changed, so adapters can update their
 * framework's copy (`originalUrl`).
 *
 * @example
 * ```ts
 * const result = keywarden.authenticateNow(input);
 * if (result?.ok) hideCredential(req, result.credential);
 * ```
 */
export function hideCredential(req: IncomingMessage, source: CredentialSource): string | null {
  if (source.in === 'header') {
    delete req.headers[source.name];
    if (req.headersDistinct)
      delete (req.headersDistinct as Record<string, string[] | undefined>)[source.name];
    for (let i = req.rawHeaders.length - 2; i >= 0; i -= 2) {
      if (req.rawHeaders[i]!.toLowerCase() === source.name) req.rawHeaders.splice(i, 2);
    }
    return null;
  }
  const url = req.url ?? '';
  const hidden = withoutQueryParameter(url, source.name);
  if (hidden === url) return null;
  req.url = hidden;
  return hidden;
}

/**
 * `url` without the query parameter `name` (every occurrence, matched by its decoded name, as the
 * credential was read): every other byte stays as it was, unlike a round trip through
 * URLSearchParams, which re-encodes the rest (`a%20b` becomes `a+b`). Adapters apply it to their
 * framework's own copy of the URL (`originalUrl`), which inside a mounted router differs from
 * `req.url`.
 *
 * @example
 * ```ts
 * withoutQueryParameter('/v3/files/a.png?api_key=K&x=a%20b', 'api_key'); // '/v3/files/a.png?x=a%20b'
 * ```
 */
export function withoutQueryParameter(url: string, name: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const hash = url.indexOf('#', q);
  const end = hash === -1 ? url.length : hash;
  const parts = url.slice(q + 1, end).split('&');
  const kept = parts.filter((part) => part === '' || new URLSearchParams(part).keys().next().value !== name);
  if (kept.length === parts.length) return url;
  const query = kept.join('&');
  return `${url.slice(0, q)}${query ? `?${query}` : ''}${url.slice(end)}`;
}

/**
 * Whether a request is a CORS preflight: `OPTIONS` with `Origin` and
 * `Access-Control-Request-Method`. A preflight carries no credentials by definition (browsers
 * never send them on it), so adapters let it through to the application's CORS handling instead
 * of refusing it: a 401 there shows up in the browser as a CORS error, not as keywarden's answer.
 *
 * @example
 * ```ts
 * if (isCorsPreflight(req)) return next();
 * ```
 */
export function isCorsPreflight(req: Pick<IncomingMessage, 'method' | 'headers'>): boolean {
  return (
    req.method === 'OPTIONS' &&
    req.headers.origin !== undefined &&
    req.headers['access-control-request-method'] !== undefined
  );
}

/**
 * Whether a refusal on a route marked `optional` means "go on anonymously": nothing was presented.
 * Adapters call the next handler without a principal then; any other refusal stands.
 *
 * @example
 * ```ts
 * if (!result.ok && isAnonymous(route, result.error)) return next();
 * ```
 */
export function isAnonymous(route: { optional?: boolean } | undefined, error: { code: string }): boolean {
  return route?.optional === true && error.code === 'missing_credentials';
}
