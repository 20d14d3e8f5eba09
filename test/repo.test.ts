// Guards for the repository's own promises: README's set-up commands and .ci/run stay in step.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const readme = read('README.md');
const setUp = readme.slice(
  readme.indexOf('## Set up a fresh machine'),
  readme.indexOf('\n## ', readme.indexOf('## Set up') + 5),
);
const commands = [...setUp.matchAll(/```sh\n(.+)\n```/g)].map((m) => m[1]!);

describe('README set-up', () => {
  it('gives two commands, one for the demo and one for the tests', () => {
    expect(commands).toHaveLength(2);
    expect(commands[0]).toMatch(/pnpm demo$/);
    expect(commands[1]).toMatch(/pnpm test$/);
  });

  it('.ci/run runs the README test command verbatim', () => {
    const ciLines = read('.ci/run').split('\n');
    expect(ciLines).toContain(commands[1]);
  });

  it('installs the pnpm version pinned in packageManager', () => {
    const pinned = JSON.parse(read('package.json')).packageManager as string;
    for (const command of commands) expect(command).toContain(`npm install -g ${pinned} `);
  });
});

describe('changesets', () => {
  it('every changeset has front matter naming published packages and a bump', async () => {
    const { readdirSync } = await import('node:fs');
    const files = readdirSync(join(root, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md');
    for (const file of files) {
      const text = read(join('.changeset', file));
      const front = /^---\n((?:'@keywarden\/[a-z]+': (?:major|minor|patch)\n)+)---\n\n\S/.exec(text);
      expect(front, file).not.toBeNull();
    }
  });
});

describe('package READMEs', () => {
  const PUBLISHED = ['cli', 'core', 'express', 'fastify', 'koa', 'node', 'postgres', 'redis'];
  const SECTIONS = ['Install', 'Quick start', 'Options', 'Errors', 'TypeScript', 'Compatibility'];

  it.each(PUBLISHED)(
    '@keywarden/%s has every section users look for, and links its API reference',
    (name) => {
      const text = read(join('packages', name, 'README.md'));
      const headings = [...text.matchAll(/^## (.+)$/gm)].map((m) => m[1]!);
      for (const section of SECTIONS)
        expect(
          headings.some((h) => h.startsWith(section) || h.includes(` ${section.toLowerCase()}`)),
          `${name}: ## ${section}`,
        ).toBe(true);
      // The core has two entry points, so its reference is a folder.
      expect(text).toContain(
        name === 'core' ? 'docs/api/@keywarden/core/README.md' : `docs/api/@keywarden/${name}.md`,
      );
      expect(text).toMatch(/```sh\nnpm install /);
    },
  );

  it('the root README links every package, the API reference, the benchmarks and the migration guide', () => {
    for (const name of PUBLISHED) expect(readme).toContain(`(packages/${name})`);
    for (const doc of [
      'docs/api/README.md',
      'docs/benchmarks.md',
      'docs/migrating.md',
      'SECURITY.md',
      'RELEASING.md',
    ])
      expect(readme).toContain(`(${doc})`);
  });
});

describe('the README commands in either order', () => {
  // `pnpm demo` writes the demo's keys beside the example (git-ignored); `pnpm test` lints after
  // it. Biome must lint what git tracks only, or the second command fails after the first.
  const example = join(root, 'examples', 'fastify-image-api');
  const made = join(example, '.keywarden');
  let createdHere = false;
  afterAll(() => {
    if (createdHere) rmSync(made, { recursive: true, force: true });
  });

  it('the demo starts with its default keys file, and Biome passes afterwards', async () => {
    createdHere = !existsSync(made);
    const tsx = join(example, 'node_modules', '.bin', 'tsx');
    const child = spawn(tsx, ['src/index.ts'], { cwd: example, env: { ...process.env, PORT: '0' } });
    let output = '';
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('AccessToken')) resolve();
        });
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.on('exit', (code) => reject(new Error(`the demo exited ${code}: ${output}`)));
      });
    } finally {
      child.kill();
    }
    expect(existsSync(join(made, 'keys.json'))).toBe(true);
    const biome = spawnSync(
      process.execPath,
      [join(root, 'node_modules', '@biomejs', 'biome', 'bin', 'biome'), 'check', '.'],
      {
        cwd: root,
        encoding: 'utf8',
      },
    );
    expect(biome.status, `${biome.stdout}${biome.stderr}`).toBe(0);
  }, 120_000);
});
