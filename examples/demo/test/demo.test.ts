import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

it('pnpm demo creates, verifies and revokes a key in the file store', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'keywarden-demo-'));
  try {
    const keysFile = join(dir, 'keys.json');
    const { stdout } = await promisify(execFile)('node', ['src/demo.mjs'], {
      cwd: join(import.meta.dirname, '..'),
      env: { ...process.env, KEYWARDEN_KEYS_FILE: keysFile },
    });
    const line = (label: string) => stdout.split('\n').find((l) => l.startsWith(label)) ?? '';
    expect(line('first use')).toMatch(/accepted \(\d/);
    expect(line('second use')).toMatch(/accepted \([\d.]+ µs\)/);
    expect(line('one character changed')).toMatch(/refused: bad_checksum/);
    expect(line('right checksum, wrong secret')).toMatch(/refused: wrong_secret/);
    expect(line('after revoke')).toMatch(/refused: revoked/);
    const key = line('created key').split(/\s+/).pop()!;
    expect(key).toMatch(/^kw_live_[0-9A-Za-z]{50}$/);
    const file = await readFile(keysFile, 'utf8');
    expect(file).not.toContain(key);
    expect(JSON.parse(file).keys[0].revokedAt).not.toBeNull();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
