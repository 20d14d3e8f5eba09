import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { keyDigest, loadWasmSipHash, sipHash128, wasmSipHash128 } from '../../src/keys/key-digest.js';

// The reference key (bytes 00..0f) as four little-endian int32 words, and the reference messages
// (bytes 00..n-1) of the SipHash authors' test vectors (vectors_sip128), as one-byte characters.
const bytes = Buffer.from([...Array(16).keys()]);
const KEY = new Int32Array([0, 4, 8, 12].map((at) => bytes.readInt32LE(at)));
const message = (n: number) => String.fromCharCode(...Array.from({ length: n }, (_, i) => i));
const hex = (digest: string) => {
  const out = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) out.writeUInt16LE(digest.charCodeAt(i), i * 2);
  return out.toString('hex');
};
const VECTORS: Record<number, string> = {
  0: 'a3817f04ba25a8e66df67214c7550293',
  1: 'da87c1d86b99af44347659119b22fc45',
  7: 'a1f1ebbed8dbc153c0b84aa61ff08239',
  8: '3b62a9ba6258f5610f83e264f31497b4',
  9: '264499060ad9baabc47f8b02bb6d71ed',
  15: '5493e99933b0a8117e08ec0f97cfc3d9',
  16: '6ee2a4ca67b054bbfd3315bf85230577',
  63: '5150d1772f50834a503e069a973fbd7c',
};

describe('keyDigest (SipHash-2-4, 128-bit output)', () => {
  it('matches the reference vectors at every block boundary', () => {
    for (const [n, expected] of Object.entries(VECTORS)) {
      expect(hex(sipHash128(KEY, message(Number(n)))), `length ${n}`).toBe(expected);
    }
  });

  it('gives 8 characters, the same for the same key string, another for a one-character change', () => {
    const key = 'kw_live_0123456789abcdefghijABCDEFGHIJ0123456789abcdefghij';
    const digest = keyDigest(key);
    expect(digest).toHaveLength(8);
    expect(keyDigest(`${key}`)).toBe(digest);
    const seen = new Set([digest]);
    for (let i = 0; i < key.length; i++) {
      const other = key.slice(0, i) + (key[i] === 'x' ? 'y' : 'x') + key.slice(i + 1);
      seen.add(keyDigest(other));
    }
    expect(seen.size).toBe(key.length + 1);
  });

  it('keys the digest per process: not the unkeyed reference value', () => {
    expect(keyDigest(message(15))).not.toBe(sipHash128(KEY, message(15)));
  });

  it('never gives two strings one digest by folding characters above U+00FF into bytes', () => {
    const key = 'kw_live_0123456789abcdefghijABCDEFGHIJ0123456789abcdefghij';
    // 'Ł' is U+0141: folded to a byte it would read as 'A' (0x41), its neighbour as '@'.
    const wide = `${key.slice(0, 20)}\u0141${key.slice(21)}`;
    const folded = `${key.slice(0, 20)}A${key.slice(21)}`;
    expect(sipHash128(KEY, wide)).toBe('');
    expect(keyDigest(wide)).toHaveLength(8);
    expect(keyDigest(wide)).not.toBe(keyDigest(folded));
    expect(keyDigest(wide)).toBe(keyDigest(`${wide}`));
    expect(keyDigest(`${key.slice(0, 20)}\u0241${key.slice(21)}`)).not.toBe(keyDigest(wide));
  });
});

describe('the WebAssembly SipHash (siphash.wat)', () => {
  const wasm = loadWasmSipHash(KEY)!;

  it('loads on this host, and matches the reference vectors at every block boundary', () => {
    expect(wasm).not.toBeNull();
    for (const [n, expected] of Object.entries(VECTORS)) {
      const bytes = message(Number(n)).replace(/[\x80-\xff]/g, ''); // the vectors' messages are ASCII below 64
      expect(bytes).toHaveLength(Number(n));
      expect(hex(wasmSipHash128(wasm, bytes)!), `length ${n}`).toBe(expected);
    }
  });

  it('gives what the JavaScript function gives, for any ASCII string of any length to 200', () => {
    const words = Array.from({ length: 4 }, () => (Math.random() * 2 ** 32) | 0);
    const key = new Int32Array(words);
    const keyed = loadWasmSipHash(key)!;
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', maxLength: 200 }), (text) => {
        expect(wasmSipHash128(keyed, text)).toBe(sipHash128(key, text));
      }),
      { numRuns: 2000 },
    );
  });

  it('leaves no byte of the message in its memory, whole blocks or a tail', () => {
    const memory = new Uint8Array(wasm.message.buffer);
    for (const text of [
      'kw_live_0123456789abcdefghijABCDEFGHIJ0123456789abcdefghij',
      'x'.repeat(63),
      'abc',
    ]) {
      expect(wasmSipHash128(wasm, text)).toHaveLength(8);
      expect(memory.subarray(32, 32 + 4096 + 8).every((byte) => byte === 0)).toBe(true);
    }
  });

  it('declines what is not ASCII or longer than its memory takes, and leaves nothing of it behind', () => {
    const memory = new Uint8Array(wasm.message.buffer);
    for (const text of [
      'caf\u00e9 kw_live_0123',
      `kw_live_\u0141${'a'.repeat(40)}`,
      'a'.repeat(4097),
      '\ud800abc',
    ]) {
      expect(wasmSipHash128(wasm, text)).toBeNull();
      expect(memory.subarray(32, 32 + 4096 + 8).every((byte) => byte === 0)).toBe(true);
    }
    // keyDigest then takes the JavaScript function: still one digest per string.
    expect(keyDigest('caf\u00e9')).not.toBe(keyDigest('cafe'));
    expect(keyDigest('a'.repeat(4097))).toBe(keyDigest(`${'a'.repeat(4097)}`));
    expect(keyDigest('a'.repeat(4097))).not.toBe(keyDigest('a'.repeat(4096)));
  });

  it('is not used where WebAssembly is missing: the JavaScript function serves', () => {
    vi.stubGlobal('WebAssembly', undefined);
    try {
      expect(loadWasmSipHash(KEY)).toBeNull();
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('leaves keys working in a process without WebAssembly (node --jitless), warm path included', {
    timeout: 60_000,
  }, async () => {
    // The built package (the test run builds before it tests), as an application would load it.
    const entry = join(import.meta.dirname, '..', '..', 'dist', 'index.js');
    const script = `
      const { createKeyManager, createMemoryKeyStore } = await import(${JSON.stringify(entry)});
      if (typeof WebAssembly !== 'undefined') throw new Error('WebAssembly is there');
      const keys = createKeyManager({ store: createMemoryKeyStore(), failureThrottle: false });
      const { key } = await keys.create({ name: 'k' });
      const results = [];
      for (const k of [key, key, key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A')]) results.push((await keys.verify(k)).ok);
      console.log(JSON.stringify(results));`;
    const { stdout } = await promisify(execFile)(process.execPath, [
      '--jitless',
      '--input-type=module',
      '-e',
      script,
    ]);
    expect(JSON.parse(stdout)).toEqual([true, true, false]);
  });

  it('is the module assembled from siphash.wat as it stands', { timeout: 30_000 }, async () => {
    // @ts-expect-error: a plain .mjs script without types
    const { generatedModule, MODULE_PATH } = await import('../../scripts/siphash-wasm.mjs');
    expect(await readFile(MODULE_PATH, 'utf8')).toBe(await generatedModule());
  });
});

describe('the warm path with the keyed digest', () => {
  it('refuses a warm key with one character moved above U+00FF, or changed, and keeps the real key', async () => {
    const { createKeyManager, createMemoryKeyStore } = await import('../../src/index.js');
    const keys = createKeyManager({ store: createMemoryKeyStore(), failureThrottle: false });
    const { key } = await keys.create({ name: 'k' });
    expect((await keys.verify(key)).ok).toBe(true); // now warm
    for (const at of [key.length - 1, key.length - 20, key.length - 45]) {
      const code = key.charCodeAt(at);
      const wide = key.slice(0, at) + String.fromCharCode(code + 256) + key.slice(at + 1);
      const other = key.slice(0, at) + (key[at] === 'A' ? 'B' : 'A') + key.slice(at + 1);
      expect((await keys.verify(wide)).ok, `U+${(code + 256).toString(16)} at ${at}`).toBe(false);
      expect((await keys.verify(other)).ok, `changed at ${at}`).toBe(false);
    }
    expect((await keys.verify(key)).ok).toBe(true);
  });
});
