// The self-service key portal on Fastify: a plugin registered with a prefix, behind your session
// plugin. Its routes opt out of keywarden's API-key authentication (the portal is for signed-in
// customers, not API clients) and read their own bodies, so the answers are the portal's own.
import type { Keywarden, PortalOptions } from '@keywarden/core';
import { portalParts, portalRequestOf, requiredOption } from '@keywarden/core/integration-kit';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';

/** Options of {@link keywardenPortal}. */
export interface FastifyPortalOptions extends PortalOptions {
  keywarden: Keywarden;
  /** The signed-in owner of this request, from your session; null when nobody is signed in. */
  resolveOwner(request: FastifyRequest): string | null | Promise<string | null>;
}

/**
 * The self-service key portal (JSON API below the prefix you register it with), for customers
 * signed in through your own session.
 *
 * @example
 * ```ts
 * await app.register(keywardenPortal, {
 *   prefix: '/account/api-keys',
 *   keywarden,
 *   resolveOwner: (request) => request.session?.user ?? null,
 *   policy: { scopes: ['images:read'], quota: { limit: 50, period: 'month' } },
 * });
 * ```
 */
export const keywardenPortal: FastifyPluginAsync<FastifyPortalOptions> = async (fastify, options) => {
  const { keywarden, ...rest } = options;
  requiredOption('keywarden', keywarden, (v) => typeof v?.authenticate === 'function', 'a Keywarden');
  const {
    prefix: _prefix,
    logLevel: _logLevel,
    ...portalOptions
  } = rest as typeof rest & {
    prefix?: string;
    logLevel?: string;
  };
  const { portal, resolveOwner } = portalParts<FastifyRequest>(keywarden, portalOptions);
  // Bodies reach the portal as bytes (this plugin's scope only), so that a bad one gets the
  // portal's own problem+json.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  const mount = fastify.prefix;
  const handler = async (request: FastifyRequest, reply: import('fastify').FastifyReply) => {
    const owner = await resolveOwner(request);
    const url = request.raw.url ?? '';
    const origin = `${request.protocol}://${request.host}`;
    const portalRequest = await portalRequestOf(request.raw, {
      url: url.slice(mount.length),
      owner,
      origin,
      parsedBody: request.body ?? '',
    });
    const answer = await portal.handle(portalRequest);
    return reply.code(answer.status).headers(answer.headers).send(answer.body);
  };
  const methods = ['GET', 'POST', 'PATCH', 'PUT', 'DELETE'] as const;
  for (const url of ['/', '/*'])
    fastify.route({ method: [...methods], url, config: { keywarden: false }, handler });
};
