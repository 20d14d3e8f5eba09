// The digest the verified-key cache compares on the warm path: SipHash-2-4 with a 128-bit output,
// under a random key made when the process starts, over the presented key's characters.
//
// Why not SHA-256 (what the cache used before): the digest runs on every request, and Node's
// one-shot `crypto.hash` goes through OpenSSL's digest layer, a large body of code that a busy
// server has evicted from the CPU's caches by the time the next request comes. Timed inside a
// Fastify server under load (one call each way per request, alternating which runs first), SHA-256
// took about 1,120 ns a request and this function about 560; in a tight loop, 305 and 185 ns (58
// characters, Node 20). No package on the registry computes SipHash over a JavaScript string
// without allocating (the one we found builds objects for every 64-bit step), hence this one.
//
// Two implementations of the one function, giving the same digest: WebAssembly (siphash.wat),
// where a 64-bit step is one instruction, used for strings of ASCII characters (every well-formed
// key); and JavaScript, 64-bit words as pairs of int32 in local variables, for the rest and where
// WebAssembly is not available (`--jitless`) or the host is big-endian. For a 58-character key, in
// a loop (Node 20): 190-215 ns in JavaScript, 97-100 in WebAssembly, of which 40 are the hash
// itself and the rest the copy into its memory (`TextEncoder.encodeInto`, the fastest of four ways
// tried: byte by byte 155 ns, 32-bit words 135, the words as call arguments 240). The whole warm
// key check (`authenticateNow`, two builds alternating in one process) went from about 800 to 695 ns.
//
// Why SipHash is enough here: an attacker who wants a wrong plaintext accepted must find a string
// whose digest equals that of a key this process verified, without ever seeing a digest (they never
// leave the process) or the random key; SipHash is a keyed pseudo-random function, so each try
// succeeds with probability 2^-128. The cache never holds the plaintext (the WebAssembly function
// zeroes each block of its memory once read), and the key changes with every process. A key with
// characters above U+00FF (never a valid API key) is hashed as its UTF-16 bytes under a second key,
// so every string has its own digest: no two strings share one.
import { randomBytes } from 'node:crypto';
import { endianness } from 'node:os';
import { SIPHASH_WASM } from './siphash-wasm.js';

// Two random 128-bit keys as little-endian 32-bit words (k0 low, k0 high, k1 low, k1 high).
const random = randomBytes(32);
const KEY = new Int32Array(random.buffer.slice(random.byteOffset, random.byteOffset + 16));
const WIDE_KEY = new Int32Array(random.buffer.slice(random.byteOffset + 16, random.byteOffset + 32));

/**
 * SipHash-2-4 with 128-bit output of `text`'s characters taken as bytes, under `key` (four
 * little-endian int32 words: k0 low, k0 high, k1 low, k1 high): the 16 output bytes as eight UTF-16 code units (little-endian
 * pairs), or '' when a character is above U+00FF (not a byte). Internal; exported for the
 * reference vectors in the tests.
 */
// biome-ignore lint/complexity/noExcessiveLinesPerFunction: the 64-bit state lives in eight local variables (split into functions, it would live in memory); one loop, so the round's code exists once
export function sipHash128(key: Int32Array, text: string): string {
  const k0l = key[0]!;
  const k0h = key[1]!;
  const k1l = key[2]!;
  const k1h = key[3]!;
  let v0h = k0h ^ 0x736f6d65;
  let v0l = k0l ^ 0x70736575;
  let v1h = k1h ^ 0x646f7261;
  let v1l = k1l ^ 0x6e646f6d ^ 0xee; // the 128-bit variant
  let v2h = k0h ^ 0x6c796765;
  let v2l = k0l ^ 0x6e657261;
  let v3h = k1h ^ 0x74656462;
  let v3l = k1l ^ 0x79746573;
  const n = text.length;
  const blocks = (n >>> 3) + 1; // the last block holds the tail and the length
  let first0 = 0;
  let first1 = 0;
  let seen = 0;
  // One loop for everything, so the round's code exists once: steps below `blocks` absorb a block
  // (2 rounds); step `blocks` finalizes (4 rounds) and takes the first 64 bits; the last step
  // (4 rounds) the second 64 bits.
  for (let step = 0; step < blocks + 2; step++) {
    let mh = 0;
    let ml = 0;
    let rounds = 4;
    if (step < blocks) {
      rounds = 2;
      const at = step << 3;
      if (step < blocks - 1) {
        const c0 = text.charCodeAt(at);
        const c1 = text.charCodeAt(at + 1);
        const c2 = text.charCodeAt(at + 2);
        const c3 = text.charCodeAt(at + 3);
        const c4 = text.charCodeAt(at + 4);
        const c5 = text.charCodeAt(at + 5);
        const c6 = text.charCodeAt(at + 6);
        const c7 = text.charCodeAt(at + 7);
        seen |= c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7;
        ml = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
        mh = c4 | (c5 << 8) | (c6 << 16) | (c7 << 24);
      } else {
        mh = (n & 0xff) << 24;
        for (let j = 0; at + j < n; j++) {
          const c = text.charCodeAt(at + j);
          seen |= c;
          if (j < 4) ml |= c << (j << 3);
          else mh |= c << ((j - 4) << 3);
        }
      }
      v3h ^= mh;
      v3l ^= ml;
    } else if (step === blocks) v2l ^= 0xee;
    else v1l ^= 0xdd;
    for (let r = 0; r < rounds; r++) {
      // 64-bit additions carry from the low word when it wraps; rotations by 32 swap the words.
      let l = (v0l + v1l) | 0;
      v0h = (v0h + v1h + (l >>> 0 < v0l >>> 0 ? 1 : 0)) | 0;
      v0l = l;
      let t = (v1h << 13) | (v1l >>> 19);
      v1l = (v1l << 13) | (v1h >>> 19);
      v1h = t ^ v0h;
      v1l ^= v0l;
      t = v0h;
      v0h = v0l;
      v0l = t;
      l = (v2l + v3l) | 0;
      v2h = (v2h + v3h + (l >>> 0 < v2l >>> 0 ? 1 : 0)) | 0;
      v2l = l;
      t = (v3h << 16) | (v3l >>> 16);
      v3l = ((v3l << 16) | (v3h >>> 16)) ^ v2l;
      v3h = t ^ v2h;
      l = (v0l + v3l) | 0;
      v0h = (v0h + v3h + (l >>> 0 < v0l >>> 0 ? 1 : 0)) | 0;
      v0l = l;
      t = (v3h << 21) | (v3l >>> 11);
      v3l = ((v3l << 21) | (v3h >>> 11)) ^ v0l;
      v3h = t ^ v0h;
      l = (v2l + v1l) | 0;
      v2h = (v2h + v1h + (l >>> 0 < v2l >>> 0 ? 1 : 0)) | 0;
      v2l = l;
      t = (v1h << 17) | (v1l >>> 15);
      v1l = ((v1l << 17) | (v1h >>> 15)) ^ v2l;
      v1h = t ^ v2h;
      t = v2h;
      v2h = v2l;
      v2l = t;
    }
    if (step < blocks) {
      v0h ^= mh;
      v0l ^= ml;
    } else if (step === blocks) {
      first0 = v0l ^ v1l ^ v2l ^ v3l;
      first1 = v0h ^ v1h ^ v2h ^ v3h;
    }
  }
  if (seen > 0xff) return '';
  const second0 = v0l ^ v1l ^ v2l ^ v3l;
  const second1 = v0h ^ v1h ^ v2h ^ v3h;
  return String.fromCharCode(
    first0 & 0xffff,
    first0 >>> 16,
    first1 & 0xffff,
    first1 >>> 16,
    second0 & 0xffff,
    second0 >>> 16,
    second1 & 0xffff,
    second1 >>> 16,
  );
}

/** The WebAssembly function's memory as the caller fills and reads it (see siphash.wat). */
interface WasmSipHash {
  /** Bytes 32 on: the message. */
  message: Uint8Array;
  /** Bytes 16 to 31: the output, as eight little-endian 16-bit units. */
  output: Uint16Array;
  hash(length: number): void;
}

/** Longest message the WebAssembly function takes (longer strings go to the JavaScript one). */
const WASM_MESSAGE_BYTES = 4096;

/** What is used here of the WebAssembly API (the TypeScript libraries this package builds with lack it). */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (
    module: object,
  ) => { exports: { memory: { buffer: ArrayBuffer }; hash: (length: number) => void } };
}

/** The WebAssembly function under {@link KEY}, or null where it cannot run (the JavaScript one then). */
export function loadWasmSipHash(key: Int32Array = KEY): WasmSipHash | null {
  const api = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  if (typeof api !== 'object' || endianness() !== 'LE') return null;
  try {
    const { exports } = new api.Instance(new api.Module(Buffer.from(SIPHASH_WASM, 'base64')));
    const { buffer } = exports.memory; // one page, never grown
    new Int32Array(buffer, 0, 4).set(key);
    return {
      message: new Uint8Array(buffer, 32, WASM_MESSAGE_BYTES),
      output: new Uint16Array(buffer, 16, 8),
      hash: exports.hash,
    };
  } catch {
    return null; // WebAssembly refused (a policy, no memory): the JavaScript function serves
  }
}

/**
 * SipHash-2-4 (128-bit) of an ASCII string through `wasm`, as {@link sipHash128} gives it, or
 * null for a string with other characters or longer than the function takes. Internal; exported
 * for the tests.
 */
export function wasmSipHash128(wasm: WasmSipHash, text: string): string | null {
  const { read, written } = encoder.encodeInto(text, wasm.message);
  if (read !== text.length || written !== read) {
    wasm.message.fill(0, 0, written); // no plaintext left behind
    return null;
  }
  wasm.hash(written);
  const o = wasm.output;
  return String.fromCharCode(o[0]!, o[1]!, o[2]!, o[3]!, o[4]!, o[5]!, o[6]!, o[7]!);
}

const encoder = new TextEncoder();
// Made on the first digest: importing the package compiles nothing. null: not available.
let wasmOfKey: WasmSipHash | null | undefined;

/**
 * The cache's digest of a presented key: 128 bits as an 8-character string, under this process's
 * random key. Distinct strings have distinct digests but for a 2^-128 chance; equal strings, equal.
 */
export function keyDigest(text: string): string {
  if (wasmOfKey === undefined) wasmOfKey = loadWasmSipHash();
  if (wasmOfKey !== null) {
    const digest = wasmSipHash128(wasmOfKey, text);
    if (digest !== null) return digest;
  }
  const digest = sipHash128(KEY, text);
  if (digest !== '') return digest;
  // Characters above U+00FF: their UTF-16 bytes, as one-byte characters, under the second key.
  return sipHash128(WIDE_KEY, Buffer.from(text, 'utf16le').toString('latin1'));
}
