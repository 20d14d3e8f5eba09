// Assembles src/keys/siphash.wat into src/keys/siphash-wasm.ts (the module's bytes as base64, so
// that the ESM and CommonJS builds carry them without reading a file). `wabt` is the WebAssembly
// project's own assembler, compiled for Node; it is a development dependency only.
//
//   pnpm --filter @keywarden/core wasm
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const keys = join(import.meta.dirname, '..', 'src', 'keys');
export const WAT_PATH = join(keys, 'siphash.wat');
export const MODULE_PATH = join(keys, 'siphash-wasm.ts');

/** The text of siphash-wasm.ts for the current siphash.wat. */
export async function generatedModule() {
  const { default: initWabt } = await import('wabt');
  const wabt = await initWabt();
  const parsed = wabt.parseWat('siphash.wat', await readFile(WAT_PATH, 'utf8'));
  try {
    parsed.validate();
    const { buffer } = parsed.toBinary({});
    const base64 = Buffer.from(buffer).toString('base64');
    const lines = base64.match(/.{1,96}/g).map((line) => `  '${line}' +`);
    lines[lines.length - 1] = `${lines[lines.length - 1].slice(0, -2)};`; // as biome formats it
    return [
      '// Generated from siphash.wat by scripts/siphash-wasm.mjs: do not edit; change the .wat and run',
      '// `pnpm --filter @keywarden/core wasm`.',
      '',
      `/** The WebAssembly module of siphash.wat (${buffer.length} bytes), base64. */`,
      'export const SIPHASH_WASM =',
      ...lines,
      '',
    ].join('\n');
  } finally {
    parsed.destroy();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await writeFile(MODULE_PATH, await generatedModule());
  console.log(`wrote ${MODULE_PATH}`);
}
