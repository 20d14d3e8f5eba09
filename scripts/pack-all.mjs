// `pnpm pack:all`: packs every published @keywarden package into dist-packages/ and prints the npm
// command that installs them into another project, for trying keywarden before its first release
// (until then `npm install @keywarden/...` answers 404). The tarballs are what `pnpm publish` would
// upload: `workspace:` versions are already replaced by real ones.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const out = join(root, 'dist-packages');
const PACKAGES = ['core', 'express', 'koa', 'fastify', 'node', 'redis', 'postgres', 'cli'];

rmSync(out, { recursive: true, force: true });
mkdirSync(out);
for (const name of PACKAGES)
  execFileSync('pnpm', ['pack', '--pack-destination', out], {
    cwd: join(root, 'packages', name),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
const tarballs = readdirSync(out).filter((file) => file.endsWith('.tgz'));
const path = (name) =>
  join(
    out,
    tarballs.find((file) => file.startsWith(`keywarden-${name}-`)),
  );
console.log(`Packed ${tarballs.length} packages into ${out}:
${tarballs.map((file) => `  ${file}`).join('\n')}

Install the core and your framework's adapter into your project (Fastify here; express, koa or node
likewise; redis, postgres and cli when you need them):
  npm install ${path('core')} ${path('fastify')}`);
