import { createHmac, timingSafeEqual } from 'node:crypto';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { configError } from '../errors/config-error.js';
import { integerOption } from '../util/options.js';

/**
 * Turns an API key into the string a store keeps, and checks a key against it.
 * `verify` must run in constant time with respect to the secret and must return `false` (never
 * throw) for a hash it does not understand.
 *
 * @example
 * ```ts
 * const hasher: Hasher = createArgon2Hasher();
 * const stored = await hasher.hash(key);
 * await hasher.verify(stored, key); // true
 * ```
 */
export interface Hasher {
  /** Short name of the algorithm, e.g. `argon2id` or `hmac-sha256`. */
  readonly id: string;
  /** Hashes a whole API key for storage; the result is self-describing (PHC string or tagged hex). */
  hash(key: string): Promise<string>;
  /** True when `key` hashes to `storedHash`. Constant time in the secret; never throws for a bad hash. */
  verify(storedHash: string, key: string): Promise<boolean>;
  /**
   * Whether `storedHash` was made by this kind of hasher (its PHC prefix). When it is not, a
   * verification says `hash_mismatch` rather than `wrong_secret`: the key was created with another
   * hasher than the one checking it. @default a `$<id>$` prefix
   */
  recognizes?(storedHash: string): boolean;
}

/**
 * Whether a stored hash was made by `hasher`: its own test, else a `$<id>$` prefix (PHC).
 *
 * @example
 * ```ts
 * hasherRecognizes(createArgon2Hasher(), '$argon2id$v=19$m=19456,t=2,p=1$...'); // true
 * ```
 */
export function hasherRecognizes(hasher: Hasher, storedHash: string): boolean {
  return hasher.recognizes ? hasher.recognizes(storedHash) : storedHash.startsWith(`$${hasher.id}$`);
}

/** Options for {@link createArgon2Hasher}. Defaults are OWASP's minimum for argon2id. */
export interface Argon2HasherOptions {
  /** Memory in KiB. @default 19456 (19 MiB, OWASP minimum) */
  memoryCost?: number;
  /** Iterations. @default 2 */
  timeCost?: number;
  /** Lanes. @default 1 */
  parallelism?: number;
}

const ARGON2ID = 2; // `Algorithm.Argon2id`; the package declares it as an ambient const enum.

function positiveInt(name: string, value: number | undefined, fallback: number, min: number): number {
  return integerOption(name, value, fallback, { min, max: Number.MAX_SAFE_INTEGER });
}

/**
 * argon2id through `@node-rs/argon2`, stored as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
 * The default. Verification costs ~20 ms of CPU at the defaults, which is why the key verifier
 * caches verified keys instead of hashing per request.
 *
 * @example
 * ```ts
 * const hasher = createArgon2Hasher({ memoryCost: 65536, timeCost: 3 });
 * ```
 */
export function createArgon2Hasher(options: Argon2HasherOptions = {}): Hasher {
  const params = {
    algorithm: ARGON2ID as never,
    memoryCost: positiveInt('memoryCost', options.memoryCost, 19456, 8),
    timeCost: positiveInt('timeCost', options.timeCost, 2, 1),
    parallelism: positiveInt('parallelism', options.parallelism, 1, 1),
  };
  return {
    id: 'argon2id',
    hash: (key) => argon2Hash(key, params),
    async verify(storedHash, key) {
      if (typeof storedHash !== 'string' || !storedHash.startsWith('$argon2id$')) return false;
      try {
        // Parameters come from the PHC string, so raising the defaults later keeps old hashes valid.
        return await argon2Verify(storedHash, key);
      } catch {
        return false;
      }
    },
  };
}

/** Options for {@link createHmacHasher}. */
export interface HmacHasherOptions {
  /** Server-held secret of at least 32 bytes (a string is read as UTF-8). Keep it out of the store. */
  pepper: string | Uint8Array;
  /** Name of this pepper, written into each hash so peppers can be told apart. @default "1" */
  pepperId?: string;
}

const HMAC_PREFIX = '$hmac-sha256$';

/**
 * HMAC-SHA-256 with a server-held pepper: microseconds instead of argon2's milliseconds. Sound for
 * keywarden keys because each holds ~190 random bits (NIST SP 800-63B allows a keyed hash for
 * secrets of 112 bits or more); a leaked store alone is useless without the pepper.
 * Stored as `$hmac-sha256$k=<pepperId>$<base64url digest>`.
 *
 * @example
 * ```ts
 * const hasher = createHmacHasher({ pepper: process.env.KEYWARDEN_PEPPER! });
 * ```
 */
export function createHmacHasher(options: HmacHasherOptions): Hasher {
  const pepper =
    typeof options.pepper === 'string' ? Buffer.from(options.pepper, 'utf8') : Buffer.from(options.pepper);
  if (pepper.length < 32) throw configError('KW_INVALID_OPTION', 'pepper', 'must be at least 32 bytes', true);
  const pepperId = options.pepperId ?? '1';
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(pepperId))
    throw configError('KW_INVALID_OPTION', 'pepperId', 'must be 1-32 of [A-Za-z0-9_-]');
  const head = `${HMAC_PREFIX}k=${pepperId}$`;
  const digest = (key: string) => createHmac('sha256', pepper).update(key, 'utf8').digest();
  return {
    id: 'hmac-sha256',
    hash: async (key) => head + digest(key).toString('base64url'),
    async verify(storedHash, key) {
      if (typeof storedHash !== 'string' || !storedHash.startsWith(head)) return false;
      const expected = Buffer.from(storedHash.slice(head.length), 'base64url');
      const actual = digest(key);
      return expected.length === actual.length && timingSafeEqual(expected, actual);
    },
  };
}
