// `pnpm test:release`: packs the published packages and installs them, as users will, into fresh
// projects outside the workspace: Express 4, Express 5, Koa and Fastify, each with an ES module, a
// CommonJS and a TypeScript entry (type-checked with tsc, then compiled and run). Every entry
// starts a server and asserts that a key is accepted and a damaged one refused.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'keywarden-install-'));
const run = (cmd, args, cwd) =>
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });

const tarballs = join(work, 'tarballs');
mkdirSync(tarballs);
for (const pkg of ['core', 'express', 'koa', 'fastify', 'node', 'redis', 'postgres', 'cli'])
  run('pnpm', ['pack', '--pack-destination', tarballs], join(root, 'packages', pkg));
const tgz = (name) =>
  join(
    tarballs,
    readdirSync(tarballs).find((f) => f.startsWith(`keywarden-${name}-`)),
  );

// What differs per framework: packages, imports, and the lines that build and start the server.
const FRAMEWORKS = {
  express4: {
    deps: ['express@4', '@types/express@4'],
    adapter: 'express',
    esm: "import express from 'express';\nimport { createExpressAuth, getAuth } from '@keywarden/express';",
    cjs: "const express = require('express');\nconst { createExpressAuth, getAuth } = require('@keywarden/express');",
    start: `const app = express();
app.use(createExpressAuth(keywarden).authenticate());
app.get('/x', (req, res) => { res.json({ id: getAuth(req).keyId }); });
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const port = (server.address() as AddressInfo).port;
const stop = () => server.close();`,
  },
  koa: {
    deps: ['koa@3', '@types/koa@3'],
    adapter: 'koa',
    esm: "import Koa from 'koa';\nimport { createKoaAuth, getAuth } from '@keywarden/koa';",
    cjs: "const Koa = require('koa');\nconst { createKoaAuth, getAuth } = require('@keywarden/koa');",
    start: `const app = new Koa();
app.use(createKoaAuth(keywarden).authenticate());
app.use((ctx) => { ctx.body = { id: getAuth(ctx).keyId }; });
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const port = (server.address() as AddressInfo).port;
const stop = () => server.close();`,
  },
  fastify: {
    deps: ['fastify@5'],
    adapter: 'fastify',
    esm: "import Fastify from 'fastify';\nimport { getAuth, keywardenFastify } from '@keywarden/fastify';",
    // The module is the plugin, as Fastify plugins ship in CommonJS.
    cjs: "const Fastify = require('fastify');\nconst keywardenFastify = require('@keywarden/fastify');\nconst { getAuth } = keywardenFastify;",
    start: `const app = Fastify();
await app.register(keywardenFastify, { keywarden });
app.get('/x', async (request) => ({ id: getAuth(request).keyId }));
await app.listen({ port: 0, host: '127.0.0.1' });
const port = (app.server.address() as AddressInfo).port;
const stop = () => app.close();`,
  },
  node: {
    deps: [],
    adapter: 'node',
    esm: "import { createServer } from 'node:http';\nimport { createNodeAuth, getAuth } from '@keywarden/node';",
    cjs: "const { createServer } = require('node:http');\nconst { createNodeAuth, getAuth } = require('@keywarden/node');",
    start: `const guard = createNodeAuth(keywarden).authenticate();
const server = createServer(async (req, res) => {
  if (await guard(req, res)) res.end(JSON.stringify({ id: getAuth(req).keyId }));
}).listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const port = (server.address() as AddressInfo).port;
const stop = () => server.close();`,
  },
};
FRAMEWORKS.express5 = { ...FRAMEWORKS.express4, deps: ['express@5', '@types/express@5'] };
// Whose quick start runs in each project (Express's on Express 5, which its README installs).
FRAMEWORKS.express4.readmes = [];
FRAMEWORKS.express5.readmes = ['packages/express/README.md'];
FRAMEWORKS.koa.readmes = ['packages/koa/README.md'];
FRAMEWORKS.fastify.readmes = ['packages/fastify/README.md', 'README.md'];
FRAMEWORKS.node.readmes = ['packages/node/README.md'];

/** The JavaScript block of a README's "Quick start" section. */
function quickStartOf(readme) {
  const match = /## Quick start[^\n]*\n[\s\S]*?```js\n([\s\S]*?)```/.exec(
    readFileSync(join(root, readme), 'utf8'),
  );
  if (!match) throw new Error(`no quick start in ${readme}`);
  return match[1];
}

/**
 * Starts quickstart.mjs on a free port and asks it what a new user would: the key it printed, at
 * the port its curl line names; a CORS preflight (answered, never left hanging or a 500); a mistyped
 * key (401); a token minted with the key (200 on its path). Prints OK, or what went wrong.
 */
const DRIVE_QUICK_START = `import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
const port = await new Promise((resolve) => {
  const probe = createServer().listen(0, '127.0.0.1', () => { const { port } = probe.address(); probe.close(() => resolve(port)); });
});
const child = spawn(process.execPath, ['quickstart.mjs'], { env: { ...process.env, PORT: String(port) } });
let out = '';
const printed = await new Promise((resolve, reject) => {
  child.stdout.on('data', (d) => { out += d; const m = /curl -H "X-Api-Key: (kw_live_\\w{50})" localhost:(\\d+)(\\S+)/.exec(out); if (m) resolve(m); });
  child.stderr.on('data', (d) => { out += d; });
  child.on('exit', (code) => reject(new Error('exited ' + code + ': ' + out)));
  setTimeout(() => reject(new Error('no curl line in 60 s: ' + out)), 60000).unref();
});
const [, key, printedPort, path] = printed;
const base = 'http://127.0.0.1:' + port;
const problems = [];
if (Number(printedPort) !== port) problems.push('the curl line names port ' + printedPort + ', not ' + port);
const hello = await fetch(base + path, { headers: { 'x-api-key': key } });
if (hello.status !== 200 || !/^application\\/json/.test(hello.headers.get('content-type') ?? '')) problems.push('key: ' + hello.status + ' ' + hello.headers.get('content-type'));
const preflight = await fetch(base + path, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' }, signal: AbortSignal.timeout(5000) }).catch((e) => ({ status: String(e) }));
if (!(preflight.status < 500)) problems.push('preflight: ' + preflight.status);
const typo = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
const wrong = await fetch(base + path, { headers: { 'x-api-key': typo } });
if (wrong.status !== 401) problems.push('wrong key: ' + wrong.status);
const minted = await fetch(base + '/v3/auth/access-token/', { method: 'POST', headers: { authorization: 'Token ' + key, 'content-type': 'application/json' }, body: JSON.stringify({ paths: [path], expires_in: 60 }) });
const token = minted.status === 200 ? (await minted.json()).access_token : null;
const withToken = token ? await fetch(base + path, { headers: { authorization: 'AccessToken ' + token } }) : minted;
if (withToken.status !== 200) problems.push('token: ' + withToken.status);
child.kill();
console.log(problems.length ? problems.join('; ') : 'OK');
process.exit(0);
`;

const body = (
  start,
) => `const keys = createKeyManager({ store: createMemoryKeyStore(), hasher: createHmacHasher({ pepper: 'p'.repeat(32) }) });
const keywarden = createKeywarden({ keys, requireHttps: false });
const { key, record } = await keys.create({ name: 'install test' });
${start}
const ask = (k: string) => fetch(\`http://127.0.0.1:\${port}/x\`, { headers: { 'x-api-key': k } });
const ok = await ask(key);
const bad = await ask(key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A'));
const seen = ok.status === 200 ? ((await ok.json()) as { id: string }).id : null;
await stop();
if (seen !== record.id || bad.status !== 401) {
  console.error('FAIL', ok.status, seen, bad.status);
  process.exit(1);
}
console.log('OK');`;
const stripTypes = (code) =>
  code
    // A JSDoc cast instead, so that the CommonJS entry type-checks as JavaScript (checkJs).
    .replace(/\(([\w.]+\(\)) as AddressInfo\)/g, "(/** @type {import('node:net').AddressInfo} */ ($1))")
    .replace(/\(k: string\)/g, '(k)')
    .replace(/ as Promise<\{ id: string \}>| as \{ id: string \}/g, '');
const coreEsm =
  "import { createHmacHasher, createKeyManager, createKeywarden, createMemoryKeyStore } from '@keywarden/core';";
const coreCjs =
  "const { createHmacHasher, createKeyManager, createKeywarden, createMemoryKeyStore } = require('@keywarden/core');";

let failures = 0;
/** Runs one check; it passes when it prints exactly OK. */
const check = (label, step) => {
  try {
    const out = step().trim();
    console.log(`${label}: ${out}`);
    if (out !== 'OK') failures++;
  } catch (error) {
    failures++;
    console.error(`${label}: FAILED\n${error.stdout ?? ''}${error.stderr ?? error.message}`);
  }
};
for (const [name, fw] of Object.entries(FRAMEWORKS)) {
  const dir = join(work, name);
  mkdirSync(dir);
  // As the quick starts say: npm init (which writes "type": "commonjs" since npm 11), then ES modules.
  run('npm', ['init', '-y'], dir);
  run('npm', ['pkg', 'set', 'type=module'], dir);
  run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      tgz('core'),
      tgz(fw.adapter),
      ...fw.deps,
      'typescript@5',
      '@types/node@20',
    ],
    dir,
  );
  writeFileSync(join(dir, 'app.mjs'), `${coreEsm}\n${fw.esm}\n${stripTypes(body(fw.start))}\n`);
  writeFileSync(
    join(dir, 'app.cjs'),
    `${coreCjs}\n${fw.cjs}\n(async () => {\n${stripTypes(body(fw.start))}\n})();\n`,
  );
  writeFileSync(
    join(dir, 'app.ts'),
    `import type { AddressInfo } from 'node:net';\n${coreEsm}\n${fw.esm}\n${body(fw.start)}\n`,
  );
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        target: 'es2022',
        strict: true,
        outDir: 'out',
        skipLibCheck: false,
        types: ['node'],
      },
      files: ['app.ts'],
    }),
  );
  check(`${name} ESM`, () => run('node', ['app.mjs'], dir));
  check(`${name} CommonJS`, () => run('node', ['app.cjs'], dir));
  // The CommonJS entry type-checks as written too (JSDoc-checked JavaScript): Fastify's module is
  // the plugin, which its declaration file must say with `export =` (TS2769 before it did).
  check(`${name} CommonJS types`, () => {
    // Silent on success; a type error makes it exit non-zero (and the check print it).
    run(
      'npx',
      ['tsc', '--noEmit', '--allowJs', '--checkJs', '--module', 'nodenext', '--types', 'node', 'app.cjs'],
      dir,
    );
    return 'OK';
  });
  check(`${name} TypeScript`, () => {
    run('npx', ['tsc', '-p', '.'], dir);
    return run('node', ['out/app.js'], dir);
  });
  // The README's quick start, as printed, against the packed packages.
  for (const readme of fw.readmes) {
    writeFileSync(join(dir, 'quickstart.mjs'), quickStartOf(readme));
    writeFileSync(join(dir, 'drive.mjs'), DRIVE_QUICK_START);
    check(`${name} quick start of ${readme}`, () => run('node', ['drive.mjs'], dir));
  }
}
// Fastify's CommonJS form in TypeScript: `import x = require(...)`, the module being the plugin.
{
  const dir = join(work, 'fastify');
  writeFileSync(
    join(dir, 'require.cts'),
    `import Fastify = require('fastify');
import keywardenFastify = require('@keywarden/fastify');
import core = require('@keywarden/core');
const keys = core.createKeyManager({ store: core.createMemoryKeyStore() });
const options: keywardenFastify.FastifyAuthOptions = { keywarden: core.createKeywarden({ keys }) };
const app = Fastify();
app.register(keywardenFastify, options);
app.register(keywardenFastify.default, options);
app.get('/x', async (request) => keywardenFastify.getAuth(request).keyId);
`,
  );
  check('fastify TypeScript import = require()', () => {
    run(
      'npx',
      ['tsc', '--noEmit', '--strict', '--module', 'nodenext', '--types', 'node', 'require.cts'],
      dir,
    );
    return 'OK';
  });
}
// The core README's quick start (keys alone, no server).
{
  const dir = join(work, 'fastify');
  writeFileSync(join(dir, 'keys.mjs'), quickStartOf('packages/core/README.md'));
  check('quick start of packages/core/README.md', () => {
    const out = run('node', ['keys.mjs'], join(dir));
    return /accepted \w{12} images:write/.test(out) && out.includes('refused: bad_checksum') ? 'OK' : out;
  });
}
// The store packages and the CLI, beside an existing server: both module systems resolve them,
// their types check, and the installed `keywarden` command creates and lists a key in a file store.
{
  const dir = join(work, 'fastify');
  run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--loglevel=error', tgz('redis'), tgz('postgres'), tgz('cli')],
    dir,
  );
  const checks = [
    [
      'stores ESM',
      () =>
        run(
          'node',
          [
            '--input-type=module',
            '-e',
            "import { createRedisLimitStore } from '@keywarden/redis'; import { createPostgresKeyStore, migrate } from '@keywarden/postgres'; console.log([createRedisLimitStore, createPostgresKeyStore, migrate].every((f) => typeof f === 'function') ? 'OK' : 'missing');",
          ],
          dir,
        ),
    ],
    [
      'stores CommonJS',
      () =>
        run(
          'node',
          [
            '-e',
            "const r = require('@keywarden/redis'); const p = require('@keywarden/postgres'); console.log(typeof r.createRedisLimitStore === 'function' && typeof p.createPostgresKeyStore === 'function' ? 'OK' : 'missing');",
          ],
          dir,
        ),
    ],
    [
      'stores TypeScript',
      () => {
        writeFileSync(
          join(dir, 'stores.ts'),
          "import type { RedisLimitStoreOptions } from '@keywarden/redis';\nimport type { PostgresKeyStoreOptions } from '@keywarden/postgres';\nexport type Both = [RedisLimitStoreOptions, PostgresKeyStoreOptions];\n",
        );
        run(
          'npx',
          ['tsc', '--noEmit', '--module', 'nodenext', '--strict', '--types', 'node', 'stores.ts'],
          dir,
        );
        return 'OK';
      },
    ],
    [
      'CLI',
      () => {
        const store = join(dir, 'cli-keys.json');
        const created = JSON.parse(
          run('npx', ['keywarden', 'keys', 'create', '--name', 'cli', '--store', store, '--json'], dir),
        );
        const listed = JSON.parse(run('npx', ['keywarden', 'keys', 'list', '--store', store, '--json'], dir));
        return typeof created.key === 'string' && listed.some((r) => r.id === created.record.id)
          ? 'OK'
          : `unexpected: ${JSON.stringify(listed)}`;
      },
    ],
  ];
  for (const [label, step] of checks) check(label, step);
}
// The CLI alone (PostgreSQL is an optional peer): the file store works, a postgres:// store says
// what to install, with exit code 1 and no stack trace.
{
  const dir = join(work, 'koa');
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tgz('cli')], dir);
  check('CLI without PostgreSQL', () => {
    const store = join(dir, 'keys.json');
    const created = JSON.parse(
      run('npx', ['keywarden', '--store', store, 'keys', 'create', '--name', 'alone', '--json'], dir),
    );
    let failure;
    try {
      run('npx', ['keywarden', '--store', 'postgres://u@127.0.0.1:1/db', 'migrate'], dir);
    } catch (error) {
      failure = error;
    }
    const said = failure?.stderr ?? '';
    return typeof created.key === 'string' &&
      failure?.status === 1 &&
      said.includes('npm install @keywarden/postgres') &&
      !/\n\s+at /.test(said)
      ? 'OK'
      : `unexpected: ${failure?.status} ${said}`;
  });
}
rmSync(work, { recursive: true, force: true });
if (failures) {
  console.error(`${failures} install check(s) failed`);
  process.exit(1);
}
console.log('Every package installs and works from its tarball.');
