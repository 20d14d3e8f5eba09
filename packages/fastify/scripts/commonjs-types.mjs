// The CommonJS build's module is the plugin itself (`module.exports = keywardenFastify`, with
// `.default` and the named exports on it: see tsup.config.ts), as Fastify plugins ship. Its
// declaration file must say so with `export =`: tsup writes ES-style exports there, under which
// `app.register(require('@keywarden/fastify'), opts)` in a checked CommonJS file (or `import x =
// require(...)` in TypeScript) failed with TS2769, the namespace object being no plugin. This
// rewrites the final export of dist/index.d.cts into the shape Fastify's own plugins declare.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const file = join(import.meta.dirname, '..', 'dist', 'index.d.cts');
const text = readFileSync(file, 'utf8');
const exported = /^export \{[^\n]*\};\s*$/m;
const line = exported.exec(text)?.[0];
const expected = [
  'type FastifyAuthOptions',
  'type FastifyPortalOptions',
  'type RouteAuthConfig',
  'keywardenFastify as default',
  'getAuth',
  'keywardenFastify',
  'keywardenPortal',
];
const names = line?.replace(/^export \{\s*|\s*\};\s*$/g, '').split(/\s*,\s*/) ?? [];
if (names.sort().join() !== [...expected].sort().join())
  throw new Error(
    `dist/index.d.cts exports changed (${names.join(', ')}): update scripts/commonjs-types.mjs`,
  );
const commonjs = `type KeywardenFastifyPlugin = typeof keywardenFastify;
type KeywardenPortalPlugin = typeof keywardenPortal;
type GetAuth = typeof getAuth;
type AuthOptions = FastifyAuthOptions;
type PortalPluginOptions = FastifyPortalOptions;
type RouteConfig = RouteAuthConfig;
declare function plugin(...params: Parameters<KeywardenFastifyPlugin>): ReturnType<KeywardenFastifyPlugin>;
declare namespace plugin {
  export type FastifyAuthOptions = AuthOptions;
  export type FastifyPortalOptions = PortalPluginOptions;
  export type RouteAuthConfig = RouteConfig;
  export const keywardenFastify: KeywardenFastifyPlugin;
  export const keywardenPortal: KeywardenPortalPlugin;
  export const getAuth: GetAuth;
  export { keywardenFastify as default };
}
export = plugin;
`;
writeFileSync(file, text.replace(exported, commonjs));
