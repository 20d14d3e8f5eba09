// How the plugin reads a route's `config.keywarden` on every request.
import type { FastifyRequest } from 'fastify';
import type { RouteAuthConfig } from './index.js';

/** Reads a request's route's `config.keywarden`. */
export type ConfigReader = (request: FastifyRequest) => RouteAuthConfig | undefined;
const viaRouteOptions: ConfigReader = (request) => request.routeOptions.config.keywarden;

/**
 * How this app's requests show their route's `config.keywarden`. `request.routeOptions` is a
 * getter that builds a dozen-field object (and asks the server about version constraints) on
 * every read: 120-140 ns a request inside a busy server, a tenth of what keywarden adds. The same
 * config object sits on Fastify's route context, which each request holds under a symbol Fastify
 * does not export. The first request looks for that symbol and takes it only if its object's
 * `config` is the very object `routeOptions.config` returns; otherwise (another Fastify) every
 * request reads the getter, as before. Either way the value read is the same object.
 */
export function findConfigReader(request: FastifyRequest): ConfigReader {
  const config = request.routeOptions.config;
  if (typeof config !== 'object' || config === null) return viaRouteOptions;
  for (const symbol of Object.getOwnPropertySymbols(request)) {
    if (symbol.description !== 'fastify.context') continue;
    const context = (request as unknown as Record<symbol, { config?: unknown } | undefined>)[symbol];
    if (context?.config !== config) continue;
    return (request) =>
      (request as unknown as Record<symbol, { config: { keywarden?: RouteAuthConfig } }>)[symbol]!.config
        .keywarden;
  }
  return viaRouteOptions;
}
