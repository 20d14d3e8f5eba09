// Guards for the repository's own promises: README's set-up commands and .ci/run stay in step.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const commands = [...read('README.md').matchAll(/```sh\n(.+)\n```/g)].map((m) => m[1]!);

describe('README set-up', () => {
  it('gives two commands, one for the demo and one for the tests', () => {
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
