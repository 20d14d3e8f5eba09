import { defineConfig } from 'tsup';

export default defineConfig({
  // The main entry for applications; `adapter` for the framework adapters (`@keywarden/core/adapter`).
  entry: { index: 'src/index.ts', adapter: 'src/adapter/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
});
