// What every adapter's portal mount shares: the owner resolver's option, and the portal request
// built from a Node request (the body read unless a body parser already did).
import type { IncomingMessage } from 'node:http';
import type { Keywarden } from '../keywarden.js';
import { createPortal, type Portal, type PortalOptions, type PortalRequest } from '../portal/portal.js';
import { checkedOption, requiredOption } from '../util/options.js';
import { readRequestBody } from './http.js';

/** How an adapter's portal learns who is signed in. */
export interface OwnerResolver<R> {
  /** The signed-in owner of a request, from the provider's session; null when nobody is. */
  resolveOwner: (request: R) => string | null | Promise<string | null>;
}

/** The largest portal request body read (a key's settings are far smaller). */
export const MAX_PORTAL_BODY_BYTES = 16 * 1024;

/**
 * A portal and the owner resolver an adapter's `portal()` was given, both checked.
 *
 * @example
 * ```ts
 * const { portal, resolveOwner } = portalParts(keywarden, { resolveOwner: (req) => req.session?.user ?? null });
 * ```
 */
export function portalParts<R>(
  keywarden: Keywarden,
  options: PortalOptions & OwnerResolver<R>,
): { portal: Portal } & OwnerResolver<R> {
  const { resolveOwner, ...rest } = options ?? ({} as typeof options);
  return {
    resolveOwner: requiredOption('resolveOwner', resolveOwner, (v) => typeof v === 'function', 'a function'),
    portal: createPortal(keywarden, rest),
  };
}

/**
 * The portal request of `req`: `url` is the URL below the mount point (path and query),
 * `parsedBody` what a body parser left (undefined: the raw body is read here).
 *
 * @example
 * ```ts
 * const request = await portalRequestOf(req, { url: req.url.slice(mount.length), owner, origin: 'https://example.com' });
 * ```
 */
export async function portalRequestOf(
  req: IncomingMessage,
  parts: { url: string; owner: string | null; origin: string; parsedBody?: unknown },
): Promise<PortalRequest> {
  const query = parts.url.indexOf('?');
  const reads = req.method !== 'GET' && req.method !== 'HEAD';
  const body =
    parts.parsedBody !== undefined || !reads
      ? parts.parsedBody
      : await readRequestBody(req, MAX_PORTAL_BODY_BYTES);
  return {
    method: req.method ?? 'GET',
    path: query === -1 ? parts.url : parts.url.slice(0, query),
    query: query === -1 ? '' : parts.url.slice(query + 1),
    headers: req.headers,
    body,
    owner: parts.owner,
    origin: parts.origin,
  };
}

/**
 * For adapters that mount by path themselves (Koa, Node): the URL below `path` for a request under
 * it (`''`, `/keys?x=1`), or null for any other request.
 *
 * @example
 * ```ts
 * const below = portalMount('/account/api-keys');
 * below('/account/api-keys/keys'); // '/keys'
 * below('/elsewhere'); // null
 * ```
 */
export function portalMount(path: string): (url: string) => string | null {
  const mount = checkedOption('path', path, undefined, {
    valid: (v) => typeof v === 'string' && v.startsWith('/'),
    expected: 'a path such as /account/api-keys',
  })!.replace(/\/+$/, '');
  return (url) =>
    url === mount || url.startsWith(`${mount}/`) || url.startsWith(`${mount}?`)
      ? url.slice(mount.length)
      : null;
}
