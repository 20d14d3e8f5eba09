// `pnpm demo` runs src/index.ts: it must start, create a demo key in the file store, and print
// curl commands that work as printed.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

let child: ChildProcess | undefined;
let dir: string;
afterAll(async () => {
  child?.kill();
  await rm(dir, { recursive: true, force: true });
});

/** Runs a printed curl command with fetch: its -H, -F (files with @path), -d and -o, URL last. */
async function curl(line: string): Promise<number> {
  const headers: Record<string, string> = {};
  for (const [, name, value] of line.matchAll(/-H "([^:]+): ([^"]+)"/g)) headers[name!] = value!;
  const fields = [...line.matchAll(/-F (\w+)=(@?)(\S+)/g)];
  let body: BodyInit | undefined = /-d '([^']+)'/.exec(line)?.[1];
  if (fields.length > 0) {
    const form = new FormData();
    for (const [, name, file, value] of fields) {
      if (file) form.append(name!, new Blob([new Uint8Array(await readFile(value!))]), basename(value!));
      else form.append(name!, value!);
    }
    body = form;
  }
  const url = line.slice(line.lastIndexOf(' ') + 1);
  const response = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    headers,
    ...(body ? { body } : {}),
  });
  await response.arrayBuffer();
  return response.status;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

it('starts, creates a demo key, and prints curl commands for each credential form that work as pasted', async () => {
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
      if ((output.match(/^curl /gm) ?? []).length >= 5) resolve();
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
  // Every printed curl command works as pasted, in order: upload the sample photo it wrote, enlarge
  // it, download it with the key, mint a token, download it with the token it minted at start.
  const statuses = [];
  for (const line of output.match(/^curl .*$/gm)!) statuses.push(await curl(line));
  expect(statuses).toEqual([200, 200, 200, 200, 200]);
  // A browser asks for /favicon.ico: no 401 in its console.
  expect((await fetch(`http://127.0.0.1:${port}/favicon.ico`)).status).toBe(204);
  // The printed key portal URL serves the portal's page.
  const portalUrl = /(http:\/\/127\.0\.0\.1:\d+\/account\/api-keys\/)/.exec(output)![1]!;
  const portal = await fetch(portalUrl);
  expect([portal.status, portal.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
});
