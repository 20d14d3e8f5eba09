import { defineConfig } from 'tsup';

export default defineConfig({
  // The main entry for applications; `integration-kit` for the authors of framework adapters and
  // stores (`@keywarden/core/integration-kit`).
  entry: { index: 'src/index.ts', 'integration-kit': 'src/integration-kit.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
});
