// The one place options are checked: every factory (the core's, the stores', the adapters') reads
// its options through these, so a mistake always fails at start-up the same way: a
// KeywardenConfigError naming the option's path, and what was expected.
import { configError } from '../errors/config-error.js';

/**
 * The options object at `path` ('' for the top level), checked to hold only `allowed` keys; a
 * missing one is `{}`. `moved` maps an old option name to a sentence saying where it went.
 *
 * @example
 * ```ts
 * const limits = optionsObject('limits', options.limits, ['store', 'failOpen']);
 * ```
 */
export function optionsObject<T extends object>(
  path: string,
  value: T | undefined,
  allowed: readonly string[],
  moved: Readonly<Record<string, string>> = {},
): T {
  const name = path || 'options';
  if (value === undefined) return {} as T;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw configError('KW_INVALID_OPTION', name, 'must be an object');
  }
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    const option = path ? `${path}.${key}` : key;
    throw configError('KW_UNKNOWN_OPTION', option, moved[key] ?? '');
  }
  return value;
}

/**
 * An integer option from `min` (default 1) to `max`, or `fallback` when not given; a RangeError otherwise.
 *
 * @example
 * ```ts
 * const timeoutMs = integerOption('timeoutMs', options.timeoutMs, 2000, { max: 60_000 });
 * ```
 */
export function integerOption(
  option: string,
  value: number | undefined,
  fallback: number,
  range: { min?: number; max?: number } = {},
): number {
  if (value === undefined) return fallback;
  const { min = 1, max = 2 ** 31 } = range;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw configError(
      'KW_INVALID_OPTION',
      option,
      `must be an integer from ${min} to ${max}, got ${String(value)}`,
      true,
    );
  }
  return value;
}

/**
 * A boolean option, or `fallback` when not given.
 *
 * @example
 * ```ts
 * const hideCredentials = booleanOption('hideCredentials', options.hideCredentials, false);
 * ```
 */
export function booleanOption(option: string, value: boolean | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw configError('KW_INVALID_OPTION', option, 'must be true or false');
  return value;
}

/**
 * A function option, or `fallback` when not given.
 *
 * @typeParam F - the function's type
 * @example
 * ```ts
 * const onError = functionOption('onError', options.onError, () => {});
 * ```
 */
export function functionOption<F extends (...args: never[]) => unknown>(
  option: string,
  value: F | undefined,
  fallback: F,
): F {
  if (value === undefined) return fallback;
  if (typeof value !== 'function') throw configError('KW_INVALID_OPTION', option, 'must be a function');
  return value;
}

/** What an option must be: a test, and the words completing "must be ...". */
export interface OptionRule<T> {
  /** Whether the value is acceptable. */
  valid(value: T): boolean;
  /** What it must be, for the message: `a header name or false`. */
  expected: string;
}

/**
 * Any option checked by `rule`, or `fallback` when not given.
 *
 * @example
 * ```ts
 * const prefix = checkedOption('prefix', options.prefix, 'keywarden:', {
 *   valid: (v) => typeof v === 'string',
 *   expected: 'a string',
 * });
 * ```
 */
export function checkedOption<T>(option: string, value: T | undefined, fallback: T, rule: OptionRule<T>): T {
  if (value === undefined) return fallback;
  if (!rule.valid(value)) throw configError('KW_INVALID_OPTION', option, `must be ${rule.expected}`);
  return value;
}

/**
 * A required option checked by `valid`.
 *
 * @example
 * ```ts
 * const store = requiredOption('store', options.store, (v) => typeof v?.get === 'function', 'a KeyStore');
 * ```
 */
export function requiredOption<T>(
  option: string,
  value: T | undefined,
  valid: (v: T) => boolean,
  expected: string,
): T {
  if (value === undefined || value === null)
    throw configError('KW_MISSING_OPTION', option, `is required: ${expected}`);
  if (!valid(value)) throw configError('KW_INVALID_OPTION', option, `must be ${expected}`);
  return value;
}

/**
 * Fails for options that cannot be given together.
 *
 * @example
 * ```ts
 * if (options.pool && options.connectionString) conflict('connectionString', 'or pool: give one');
 * ```
 */
export function conflict(option: string, message: string): never {
  throw configError('KW_CONFLICTING_OPTIONS', option, message);
}

/**
 * Fails for a value that is wrong in a way the helpers above do not describe; `range` for out-of-range values.
 *
 * @example
 * ```ts
 * if (!url.startsWith('redis://')) invalid('url', 'must start with redis://');
 * ```
 */
export function invalid(option: string, message: string, range = false): never {
  throw configError('KW_INVALID_OPTION', option, message, range);
}
