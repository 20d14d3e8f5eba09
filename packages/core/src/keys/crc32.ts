// CRC-32 (IEEE 802.3, the zlib polynomial) over the char codes of an ASCII string.
// Hand-written because `zlib.crc32` only exists from Node 20.15 and would need a Buffer per call;
// working on char codes directly keeps malformed-key rejection allocation-free. The tests check it
// against `zlib.crc32` where the runtime has it.

const TABLE = /* @__PURE__ */ (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** CRC-32 of `text[0..end)`; every char code must be below 256 (callers check ASCII first). */
export function crc32Ascii(text: string, end: number = text.length): number {
  let crc = -1;
  for (let i = 0; i < end; i++) crc = TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}
