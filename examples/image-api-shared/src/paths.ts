import { createHash } from 'node:crypto';
import { resolve, sep } from 'node:path';
import { ApiError } from './errors.js';

// A stored file's path: up to 8 segments of letters, digits, '.', '_' and '-', each starting with a
// letter or digit (so no '.', '..' or hidden names), at most 256 characters. Anything else is
// refused, never cleaned up: cleaning is how traversal bugs are made.
const SAFE_PATH = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(?:\/[A-Za-z0-9][A-Za-z0-9._-]{0,99}){0,7}$/;

/** Checks a client-supplied relative file path; throws a 400 naming the field. */
export function checkFilePath(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length > 256 || !SAFE_PATH.test(value)) {
    throw new ApiError(
      400,
      'invalid_path',
      `${field} must be a relative path of letters, digits, ".", "_" and "-"`,
    );
  }
  return value;
}

/**
 * The folder of one key owner: every path of theirs resolves inside it. The mapping must be
 * injective, or two customers share files: it is the SHA-256 of the owner id, tagged apart from
 * the lineage of a key without owner (its own id, passed on by rotation, so a rotated key keeps
 * its files). Replacing characters was not: `alice@corp.com` and `alice.corp.com` met in one folder.
 */
export function namespaceOf(principal: { ownerId: string | null; lineageId: string }): string {
  const tagged = principal.ownerId !== null ? `owner:${principal.ownerId}` : `key:${principal.lineageId}`;
  return createHash('sha256').update(tagged).digest('hex');
}

/**
 * The folder of one visitor of the public demo: each access token the demo's public routes mint
 * (its id) gets its own, so that visitors who share the demo key never see each other's files.
 */
export function visitorNamespaceOf(tokenId: string): string {
  return createHash('sha256').update(`visitor:${tokenId}`).digest('hex');
}

/** Absolute path of a checked relative path inside a namespace, double-checked to stay inside. */
export function resolveInside(root: string, namespace: string, relative: string): string {
  const base = resolve(root, namespace);
  const full = resolve(base, relative);
  if (!full.startsWith(base + sep))
    throw new ApiError(400, 'invalid_path', 'path escapes the storage folder');
  return full;
}

/** The file path of a `GET /v3/files/<path>` request, from the raw URL (never decoded). */
export function filePathFromUrl(rawUrl: string): string {
  const path = rawUrl.split(/[?#]/, 1)[0]!;
  const prefix = '/v3/files/';
  if (!path.startsWith(prefix)) throw new ApiError(404, 'not_found', 'No such file');
  return checkFilePath(path.slice(prefix.length), 'path');
}
