import { configError } from '../errors/config-error.js';
import { booleanOption, optionsObject } from '../util/options.js';
import type { RouteRequirements } from './types.js';

/**
 * Checks route requirements once, where a route is defined (adapters call it when a middleware is
 * made or a route registered), so that a typo fails at start-up, not per request. Returns a frozen copy.
 *
 * @example
 * ```ts
 * const upscale = validateRouteRequirements({ scopes: ['images:write'], cost: 2 });
 * ```
 */
export function validateRouteRequirements(
  route: RouteRequirements | undefined,
): RouteRequirements | undefined {
  if (route === undefined) return undefined;
  if (route === null) throw configError('KW_INVALID_OPTION', 'route', 'requirements must be an object');
  const { scopes, cost, optional } = optionsObject('route', route, ['scopes', 'cost', 'optional']);
  booleanOption('route.optional', optional, false);
  if (
    scopes !== undefined &&
    (!Array.isArray(scopes) || !scopes.every((x) => typeof x === 'string' && x.length > 0))
  ) {
    throw configError('KW_INVALID_OPTION', 'route.scopes', 'must be an array of non-empty strings');
  }
  if (cost !== undefined && (!Number.isSafeInteger(cost) || cost < 0 || cost > 1_000_000)) {
    throw configError('KW_INVALID_OPTION', 'route.cost', 'must be an integer from 0 to 1000000');
  }
  return Object.freeze({
    ...(scopes ? { scopes: Object.freeze([...scopes]) } : {}),
    ...(cost !== undefined ? { cost } : {}),
    ...(optional ? { optional } : {}),
  });
}
