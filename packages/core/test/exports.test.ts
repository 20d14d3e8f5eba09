// The public API is deliberate. Its list lives in test/exports.test.ts at the repository root (one
// list per published package, runtime names and declared types); this checks that the sources
// export exactly what the build ships, and that both builds work together.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const dist = join(import.meta.dirname, '..', 'dist');

it('src exports exactly what the built ESM and CommonJS entries export', async () => {
  const src = Object.keys(await import('../src/index.js')).sort();
  const esm = Object.keys(await import(join(dist, 'index.js'))).sort();
  const cjs = Object.keys(createRequire(import.meta.url)(join(dist, 'index.cjs'))).sort();
  expect(src.length).toBeGreaterThan(30);
  expect(esm).toEqual(src);
  expect(cjs).toEqual(src);
});

it('a key made by the CommonJS build parses in the ESM build', async () => {
  const esm = await import(join(dist, 'index.js'));
  const cjs = createRequire(import.meta.url)(join(dist, 'index.cjs'));
  const { key } = cjs.generateApiKey('kw_live');
  expect(esm.parseApiKey(key).ok).toBe(true);
});
