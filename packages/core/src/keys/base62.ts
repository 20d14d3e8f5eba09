import { randomBytes } from 'node:crypto';

/** The base62 alphabet in ASCII order: digits, upper case, lower case. */
export const BASE62_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** True when the char code is one of `0-9A-Za-z`. */
export function isBase62Code(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

/**
 * Encodes an unsigned 32-bit integer as exactly `width` base62 characters, left-padded with `0`.
 * 62^6 > 2^32, so six characters hold any CRC32.
 */
export function encodeUint32Base62(value: number, width: number): string {
  let out = '';
  let rest = value >>> 0;
  for (let i = 0; i < width; i++) {
    out = BASE62_ALPHABET[rest % 62] + out;
    rest = Math.floor(rest / 62);
  }
  return out;
}

/**
 * Returns `length` uniformly random base62 characters from `crypto.randomBytes`.
 *
 * Rejection sampling keeps the distribution uniform: a byte is used only when it is below 248
 * (the largest multiple of 62 under 256), so `byte % 62` has no bias. Each character carries
 * log2(62) ≈ 5.954 bits.
 */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    // 248/256 of the bytes are accepted; ask for a little more than needed to rarely loop twice.
    const bytes = randomBytes(Math.ceil((length - out.length) * 1.1) + 4);
    for (let i = 0; i < bytes.length && out.length < length; i++) {
      const byte = bytes[i]!;
      if (byte < 248) out += BASE62_ALPHABET[byte % 62];
    }
  }
  return out;
}
