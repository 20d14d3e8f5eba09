// Validation of the token mint request body. Refusals name the field and the
// rule, never echo the value: a body is the client's own data, but echoing it would make error
// bodies depend on input, which is how secrets end up in logs.
import { isPatternWithin, isValidPathPattern, MAX_PATTERN_LENGTH } from '../request/path-pattern.js';
import { ACCESS_TOKEN_LIFETIME, MAX_TOKEN_PATHS } from '../tokens/access-tokens.js';

/** Largest mint request body read, in bytes. */
export const MAX_MINT_BODY_BYTES = 64 * 1024;

/** A valid mint request. */
export interface MintRequest {
  paths: string[];
  expiresIn: number;
}

/**
 * Reads the body of `POST …/access-token/`: raw JSON text or bytes (preferred: every adapter
 * passes the same bytes, so all answer alike), an already-parsed object, or nothing (defaults).
 * Returns the request, or a one-line description of what is wrong.
 */
export function parseMintBody(body: unknown): MintRequest | string {
  let value: unknown = body;
  if (typeof body === 'string' || body instanceof Uint8Array) {
    const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
    if (Buffer.byteLength(text) > MAX_MINT_BODY_BYTES)
      return `the body is larger than ${MAX_MINT_BODY_BYTES} bytes`;
    if (text.trim() === '') {
      value = {};
    } else {
      try {
        value = JSON.parse(text);
      } catch {
        return 'the body is not valid JSON';
      }
    }
  } else if (body === undefined || body === null) {
    value = {};
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'the body must be a JSON object';
  const fields = value as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (key !== 'paths' && key !== 'expires_in')
      return 'unknown field in the body (allowed: paths, expires_in)';
  }
  const problem = checkMintOptions(fields.paths, fields.expires_in, 'paths', 'expires_in');
  if (problem) return problem;
  return {
    paths: fields.paths === undefined ? ['*'] : [...new Set(fields.paths as string[])],
    expiresIn:
      fields.expires_in === undefined ? ACCESS_TOKEN_LIFETIME.default : (fields.expires_in as number),
  };
}

/** Checks paths and lifetime (shared by the HTTP body and `mintAccessToken`); null when fine. */
export function checkMintOptions(
  paths: unknown,
  expiresIn: unknown,
  pathsName: string,
  expiresName: string,
): string | null {
  if (paths !== undefined) {
    if (!Array.isArray(paths)) return `${pathsName} must be an array of path patterns`;
    if (paths.length === 0 || paths.length > MAX_TOKEN_PATHS) {
      return `${pathsName} must hold 1 to ${MAX_TOKEN_PATHS} patterns`;
    }
    for (let i = 0; i < paths.length; i++) {
      const pattern: unknown = paths[i];
      if (typeof pattern !== 'string') return `${pathsName}[${i}] must be a string`;
      if (pattern.length > MAX_PATTERN_LENGTH)
        return `${pathsName}[${i}] is longer than ${MAX_PATTERN_LENGTH} characters`;
      if (!isValidPathPattern(pattern)) {
        return `${pathsName}[${i}] is not a valid pattern ("*", an absolute path, or a path ending in "/*")`;
      }
    }
  }
  if (expiresIn !== undefined) {
    const { min, max } = ACCESS_TOKEN_LIFETIME;
    if (typeof expiresIn !== 'number' || !Number.isInteger(expiresIn) || expiresIn < min || expiresIn > max) {
      return `${expiresName} must be an integer from ${min} to ${max}`;
    }
  }
  return null;
}

/** Index of the first requested pattern no key pattern contains, or -1. */
export function firstPathOutside(requested: readonly string[], keyPaths: readonly string[]): number {
  return requested.findIndex((pattern) => !keyPaths.some((outer) => isPatternWithin(pattern, outer)));
}
