// `pnpm demo` runs src/index.ts: it must start, create a demo key in the file store, and print
// curl commands that work as printed.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

let child: ChildProcess | undefined;
let dir: string;
afterAll(async () => {
  child?.kill();
  await rm(dir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

it('starts, creates a demo key, and prints working curl commands for each credential form', async () => {
  dir = await mkdtemp(join(tmpdir(), 'keywarden-demo-'));
  const port = await freePort();
  const tsx = join(import.meta.dirname, '..', 'node_modules', '.bin', 'tsx');
  child = spawn(tsx, ['src/index.ts'], {
    cwd: join(import.meta.dirname, '..'),
    env: { ...process.env, PORT: String(port), KEYWARDEN_KEYS_FILE: join(dir, 'keys.json') },
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child!.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('AccessToken')) resolve();
    });
    child!.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child!.on('exit', (code) => reject(new Error(`demo exited ${code}: ${output}`)));
  });
  const key = /kw_live_[0-9A-Za-z]{50}/.exec(output)![0];
  expect(output).toContain(`http://127.0.0.1:${port}`);
  for (const form of [
    `X-Api-Key: ${key}`,
    `Authorization: Token ${key}`,
    `Authorization: Bearer ${key}`,
    'AccessToken',
  ]) {
    expect(output).toContain(form);
  }
  // The key is in the file store as a hash only, and kept for "your server" in demo-key (0600).
  const keysFile = await readFile(join(dir, 'keys.json'), 'utf8');
  expect(keysFile).not.toContain(key);
  expect((await readFile(join(dir, 'demo-key'), 'utf8')).trim()).toBe(key);
  // The printed mint command works as printed.
  const mint = /curl (.*) http:\/\/127\.0\.0\.1:\d+\/v3\/auth\/access-token\//.exec(output)![1]!;
  const headers = Object.fromEntries([...mint.matchAll(/-H "([^:]+): ([^"]+)"/g)].map((m) => [m[1]!, m[2]!]));
  const body = /-d '([^']+)'/.exec(mint)![1]!;
  const minted = await fetch(`http://127.0.0.1:${port}/v3/auth/access-token/`, {
    method: 'POST',
    headers,
    body,
  });
  expect(minted.status).toBe(200);
  // The printed key portal URL serves the portal's page.
  const portalUrl = /(http:\/\/127\.0\.0\.1:\d+\/account\/api-keys\/)/.exec(output)![1]!;
  const portal = await fetch(portalUrl);
  expect([portal.status, portal.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
});
