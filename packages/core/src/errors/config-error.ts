// The one error type for configuration mistakes, thrown at start-up (or by a management call given
// a bad argument), never for a request. Callers switch on `code` and `option`, never on the text.
//
// Like Node's own argument errors, a value of the wrong kind is a TypeError and a value out of its
// range a RangeError; both are `instanceof KeywardenConfigError`, through a brand.

/** What was wrong with an option. */
export type ConfigErrorCode =
  /** A required option was not given. */
  | 'KW_MISSING_OPTION'
  /** An option that does not exist (a typo, or one that moved: the message says where). */
  | 'KW_UNKNOWN_OPTION'
  /** A value of the wrong kind, or out of its range. */
  | 'KW_INVALID_OPTION'
  /** Options that cannot be given together. */
  | 'KW_CONFLICTING_OPTIONS';

const BRAND = Symbol.for('keywarden.config-error');

/**
 * A configuration mistake: an unknown option, a missing one, or a bad value. `option` is the
 * option's path (`limits.failOpen`, `cache.maxKeys`, `rotate.gracePeriodSeconds`); the message
 * starts with `keywarden: <option>` and says what is expected.
 *
 * @example
 * ```ts
 * try {
 *   createKeywarden({ keys, limits: { failOpen: 'yes' } });
 * } catch (error) {
 *   if (error instanceof KeywardenConfigError) console.error(error.code, error.option); // KW_INVALID_OPTION limits.failOpen
 * }
 * ```
 */
export class KeywardenConfigError extends TypeError {
  /** True for every configuration error, whether a TypeError or a RangeError. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as { [BRAND]?: true })[BRAND] === true;
  }
  override readonly name = 'KeywardenConfigError';
  readonly [BRAND] = true as const;
  constructor(
    readonly code: ConfigErrorCode,
    /** The option's path, such as `limits.failOpen`. */
    readonly option: string,
    message: string,
  ) {
    super(configMessage(code, option, message));
  }
}

/** `keywarden: <option> <message>`; for an unknown option, `keywarden: unknown option <option> (<hint>)`. */
function configMessage(code: ConfigErrorCode, option: string, message: string): string {
  if (code !== 'KW_UNKNOWN_OPTION') return `keywarden: ${option} ${message}`;
  return `keywarden: unknown option ${option}${message ? ` (${message})` : ''}`;
}

/** The RangeError form of {@link KeywardenConfigError}: a number, length or date out of range. */
class KeywardenConfigRangeError extends RangeError {
  override readonly name = 'KeywardenConfigError';
  readonly [BRAND] = true as const;
  constructor(
    readonly code: ConfigErrorCode,
    readonly option: string,
    message: string,
  ) {
    super(configMessage(code, option, message));
  }
}

/**
 * A configuration error; `range` makes it a RangeError (a value out of its range).
 *
 * @example
 * ```ts
 * throw configError('KW_INVALID_OPTION', 'mintPath', 'must start with /');
 * ```
 */
export function configError(
  code: ConfigErrorCode,
  option: string,
  message: string,
  range = false,
): KeywardenConfigError {
  return range
    ? (new KeywardenConfigRangeError(code, option, message) as unknown as KeywardenConfigError)
    : new KeywardenConfigError(code, option, message);
}
