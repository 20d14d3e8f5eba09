// The release path, as a maintainer and then a user meet it: changesets version every published
// package in lockstep, `pnpm publish --dry-run` ships exactly the built files, and the packed
// tarballs install and run in fresh projects outside the workspace (scripts/install-test.mjs).
// Runs after `turbo run build` (pnpm test and pnpm test:release both build first).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const PUBLISHED = ['cli', 'core', 'express', 'fastify', 'koa', 'node', 'postgres', 'redis'];
const temps: string[] = [];
const temp = (name: string) => {
  const dir = mkdtempSync(join(tmpdir(), `keywarden-${name}-`));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});
const env = { ...process.env, npm_config_loglevel: 'notice', CI: 'true' };
const run = (cmd: string, args: string[], cwd: string) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env });
/** stdout and stderr together (npm prints its notices on stderr); throws on a non-zero exit. */
const runAll = (cmd: string, args: string[], cwd: string) => {
  const result = spawnSync(cmd, args, { cwd, encoding: 'utf8', env });
  if (result.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')}: exit ${result.status}\n${result.stderr}`);
  return `${result.stdout}${result.stderr}`;
};
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

describe('changesets', () => {
  it('the workspace marks exactly the eight packages as published and the rest private', () => {
    const dirs = ['packages', 'examples'].flatMap((top) =>
      readdirSync(join(root, top)).map((name) => ({
        top,
        name,
        manifest: join(root, top, name, 'package.json'),
      })),
    );
    const published = dirs
      .filter((d) => existsSync(d.manifest) && !json(d.manifest).private)
      .map((d) => d.name)
      .sort();
    expect(published).toEqual(PUBLISHED);
  });

  it('`changeset version` bumps every published package to one version, writes changelogs, leaves examples alone', () => {
    // A copy of the workspace's manifests and changesets: versioning rewrites files in place.
    const dir = temp('changesets');
    for (const file of ['package.json', 'pnpm-workspace.yaml']) cpSync(join(root, file), join(dir, file));
    cpSync(join(root, '.changeset'), join(dir, '.changeset'), { recursive: true });
    for (const top of ['packages', 'examples'])
      for (const name of readdirSync(join(root, top))) {
        const manifest = join(root, top, name, 'package.json');
        if (!existsSync(manifest)) continue;
        mkdirSync(join(dir, top, name), { recursive: true });
        cpSync(manifest, join(dir, top, name, 'package.json'));
      }
    // `pnpm changeset` runs in this workspace (`--empty`: its prompts need a terminal)...
    const changeset = join(root, 'node_modules/@changesets/cli/bin.js');
    const listChangesets = () =>
      readdirSync(join(dir, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md');
    const known = new Set(listChangesets());
    run(process.execPath, [changeset, 'add', '--empty'], dir);
    const added = listChangesets().filter((f) => !known.has(f));
    expect(added).toHaveLength(1);
    expect(readFileSync(join(dir, '.changeset', added[0]!), 'utf8')).toMatch(/^---\n---\n/);
    // ...and this is what it writes after its prompts: one more patch note for a single adapter.
    writeFileSync(
      join(dir, '.changeset', 'release-check.md'),
      "---\n'@keywarden/koa': patch\n---\n\nRelease check: a patch note for one package.\n",
    );
    const before = Object.fromEntries(
      PUBLISHED.map((p) => [p, json(join(dir, 'packages', p, 'package.json'))]),
    );
    expect(listChangesets().length).toBeGreaterThan(2);

    run(process.execPath, [changeset, 'version'], dir);

    const after = Object.fromEntries(
      PUBLISHED.map((p) => [p, json(join(dir, 'packages', p, 'package.json'))]),
    );
    const versions = new Set(Object.values(after).map((m) => m.version as string));
    expect(versions.size).toBe(1); // fixed group: lockstep
    const [version] = [...versions];
    expect(version).not.toBe(before.core.version);
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    for (const p of PUBLISHED) {
      const changelog = readFileSync(join(dir, 'packages', p, 'CHANGELOG.md'), 'utf8');
      expect(changelog, p).toContain(`## ${version}`);
      // Internal ranges stay workspace ranges; pnpm turns them into versions when it packs.
      for (const [dep, range] of Object.entries<string>(after[p].dependencies ?? {}))
        if (dep.startsWith('@keywarden/')) expect(range, `${p} -> ${dep}`).toMatch(/^workspace:/);
    }
    expect(readFileSync(join(dir, 'packages/koa/CHANGELOG.md'), 'utf8')).toContain(
      'Release check: a patch note',
    );
    expect(readFileSync(join(dir, 'packages/core/CHANGELOG.md'), 'utf8')).toContain(
      'First release of `@keywarden/core`',
    );
    // Every changeset was consumed.
    expect(listChangesets()).toEqual([]);
    // Private examples keep their version (privatePackages.version: false).
    for (const name of readdirSync(join(dir, 'examples'))) {
      const manifest = join(dir, 'examples', name, 'package.json');
      if (existsSync(manifest))
        expect(json(manifest).version, name).toBe(json(join(root, 'examples', name, 'package.json')).version);
    }
  });
});

describe('publish dry run', () => {
  // What each package may ship: its README, LICENSE, manifest and the tsup output (ESM, CJS, both
  // declaration files, source maps). Anything else (sources, tests, configs) is a packaging bug.
  const ALLOWED = /^(README\.md|LICENSE|package\.json|dist\/[\w.-]+\.(js|cjs|d\.ts|d\.cts)(\.map)?)$/;

  it.each(PUBLISHED)('@keywarden/%s ships exactly dist, README, LICENSE and its manifest', (name) => {
    const dir = join(root, 'packages', name);
    const out = runAll('pnpm', ['publish', '--dry-run', '--no-git-checks'], dir);
    const listed = [...out.matchAll(/npm notice [\d.]+k?B (\S+)/g)].map((m) => m[1]!);
    expect(listed.length).toBeGreaterThan(4);
    for (const file of listed) expect(file, `${name} ships ${file}`).toMatch(ALLOWED);
    for (const file of [
      'README.md',
      'LICENSE',
      'package.json',
      'dist/index.js',
      'dist/index.cjs',
      'dist/index.d.ts',
      'dist/index.d.cts',
    ])
      expect(listed, name).toContain(file);
    expect(out).toContain(`+ @keywarden/${name}@${json(join(dir, 'package.json')).version}`);
  });

  it('packed manifests name real versions of the other keywarden packages, never workspace:', () => {
    const dir = temp('pack');
    for (const name of PUBLISHED)
      run('pnpm', ['pack', '--pack-destination', dir], join(root, 'packages', name));
    for (const tarball of readdirSync(dir)) {
      const manifest = JSON.parse(run('tar', ['-xzOf', tarball, 'package/package.json'], dir));
      expect(JSON.stringify(manifest), tarball).not.toContain('workspace:');
      for (const [dep, range] of Object.entries<string>(manifest.dependencies ?? {}))
        if (dep.startsWith('@keywarden/')) expect(range, `${tarball} -> ${dep}`).toMatch(/^\^\d+\.\d+\.\d+$/);
      expect(manifest.license).toBe('MIT');
      expect(manifest.engines.node).toBe('>=20');
      // What npm shows on the package page: source, home, issues, and words to find it by.
      const name = manifest.name.replace('@keywarden/', '');
      expect(manifest.repository, tarball).toEqual({
        type: 'git',
        url: 'git+https://github.com/keywarden/keywarden.git',
        directory: `packages/${name}`,
      });
      expect(manifest.homepage).toBe(
        `https://github.com/keywarden/keywarden/tree/main/packages/${name}#readme`,
      );
      expect(manifest.bugs).toEqual({ url: 'https://github.com/keywarden/keywarden/issues' });
      expect(manifest.keywords).toEqual(expect.arrayContaining(['keywarden', 'api-key']));
    }
  });
});

describe('install into fresh projects', () => {
  it('Express 4, Express 5, Koa and Fastify: ESM, CommonJS and TypeScript servers accept a key and refuse a damaged one', () => {
    let out: string;
    try {
      out = run(process.execPath, [join(root, 'scripts/install-test.mjs')], root);
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string };
      throw new Error(`install test failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
    for (const fw of ['express4', 'express5', 'koa', 'fastify'])
      for (const form of ['ESM', 'CommonJS', 'TypeScript']) expect(out).toContain(`${fw} ${form}: OK`);
    for (const label of [
      'stores ESM',
      'stores CommonJS',
      'stores TypeScript',
      'CLI',
      'CLI without PostgreSQL',
    ])
      expect(out).toContain(`${label}: OK`);
    expect(out).toContain('Every package installs and works from its tarball.');
  });
});
