import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  // CommonJS the way Fastify plugins ship it: the module is the plugin, with `.default` and the
  // named exports on it, so `app.register(require('@keywarden/fastify'), opts)` works.
  footer: ({ format }) =>
    format === 'cjs'
      ? {
          js: 'module.exports = Object.assign(module.exports.keywardenFastify, module.exports, { default: module.exports.keywardenFastify });',
        }
      : {},
});
