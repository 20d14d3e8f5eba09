// Each adapter README's quick start, and the repository README's, run as written: extracted,
// started as a real Node process in an empty folder (its keys file lands there), and exercised
// over HTTP.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const here = join(import.meta.dirname, '..');
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A README's quick start, and the sentence before it (the set-up it asks for). */
async function quickStart(adapter: string): Promise<string> {
  const path =
    adapter === 'root' ? join(here, '..', '..', 'README.md') : join(here, '..', adapter, 'README.md');
  const readme = await readFile(path, 'utf8');
  const match = /## Quick start[^\n]*\n([\s\S]*?)```js\n([\s\S]*?)```/.exec(readme);
  if (!match) throw new Error(`no quick start in ${adapter}/README.md`);
  // `npm init -y` writes "type": "commonjs" (npm 11): an ES module quick start must say to change it.
  expect(match[1], `${adapter}/README.md`).toContain('npm pkg set type=module');
  return match[2]!;
}

/** A CORS preflight as a browser sends it: it must be answered, never left hanging or a 500. */
async function preflight(base: string): Promise<Response> {
  return fetch(`${base}/v3/hello`, {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
    signal: AbortSignal.timeout(5000),
  });
}

/** Runs a snippet as a Node process in an empty folder; resolves to its base URL and stdout so far once it printed a key. */
async function start(name: string, code: string): Promise<{ base: string; output: string; key: string }> {
  // Written beside this package so that its imports resolve; run from an empty folder.
  const file = join(here, `.quickstart-${name}.tmp.mjs`);
  await writeFile(file, code);
  const cwd = await mkdtemp(join(tmpdir(), 'keywarden-quickstart-'));
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [file], {
    cwd,
    env: { ...process.env, PORT: String(port) },
  });
  cleanups.push(async () => {
    child.kill();
    await rm(file, { force: true });
    await rm(cwd, { recursive: true, force: true });
  });
  let output = '';
  const key = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const found = /kw_live_[0-9A-Za-z]{50}/.exec(output);
      if (found) resolve(found[0]);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('exit', (status) => reject(new Error(`exited ${status}: ${output}`)));
  });
  return { base: `http://127.0.0.1:${port}`, output, key };
}

// 'root' is the repository README's 60-second quick start.
describe.each(['express', 'koa', 'fastify', 'node', 'root'])('%s README quick start', (adapter) => {
  it('is at most 15 lines and works as written: the printed curl, a preflight, a wrong key, a token', async () => {
    const code = await quickStart(adapter);
    expect(code.trimEnd().split('\n').length).toBeLessThanOrEqual(15);
    const { base, key, output } = await start(adapter, code);
    // The curl it prints names the port it listens on.
    const printed = /curl -H "X-Api-Key: (kw_live_\w+)" (localhost:\d+\/v3\/hello)/.exec(output);
    expect(printed?.[2]).toBe(`${base.replace('127.0.0.1', 'localhost').slice('http://'.length)}/v3/hello`);
    const hello = await fetch(`${base}/v3/hello`, { headers: { 'x-api-key': key } });
    expect(hello.status).toBe(200);
    expect(hello.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await hello.json()).toEqual({ key: key.slice(8, 20) });
    const answered = await preflight(base);
    expect(answered.status).toBeLessThan(500);
    const refused = await fetch(`${base}/v3/hello`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    const typo = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    expect((await fetch(`${base}/v3/hello`, { headers: { 'x-api-key': typo } })).status).toBe(401);
    const minted = await fetch(`${base}/v3/auth/access-token/`, {
      method: 'POST',
      headers: { authorization: `Token ${key}`, 'content-type': 'application/json' },
      body: '{"paths":["/v3/hello"],"expires_in":30}',
    });
    expect(minted.status).toBe(200);
    const { access_token: token } = (await minted.json()) as { access_token: string };
    const withToken = await fetch(`${base}/v3/hello`, { headers: { authorization: `AccessToken ${token}` } });
    expect(withToken.status).toBe(200);
  });
});

describe('the core README quick start', () => {
  it('runs as written: a key is accepted, a mistyped one refused for its checksum', async () => {
    const readme = await readFile(join(here, '..', 'core', 'README.md'), 'utf8');
    const match = /## Quick start[^\n]*\n([\s\S]*?)```js\n([\s\S]*?)```/.exec(readme);
    expect(match?.[1]).toContain('npm pkg set type=module');
    const file = join(here, '.quickstart-core.tmp.mjs');
    await writeFile(file, match![2]!);
    const cwd = await mkdtemp(join(tmpdir(), 'keywarden-quickstart-'));
    cleanups.push(async () => {
      await rm(file, { force: true });
      await rm(cwd, { recursive: true, force: true });
    });
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [file], { cwd });
      let text = '';
      child.stdout!.on('data', (chunk: Buffer) => (text += chunk));
      child.stderr!.on('data', (chunk: Buffer) => (text += chunk));
      child.on('exit', (status) =>
        status === 0 ? resolve(text) : reject(new Error(`exited ${status}: ${text}`)),
      );
    });
    const id = /kw_live_([0-9A-Za-z]{12})[0-9A-Za-z]{38} \1/.exec(output)?.[1];
    expect(id).toBeDefined();
    expect(output).toContain(`accepted ${id} images:write`);
    expect(output).toContain('refused: bad_checksum');
  }, 30_000);
});

describe('docs/migrating.md', () => {
  it.each([
    ['@fastify/bearer-auth', 0, 'x-api-key'],
    ['passport-headerapikey', 1, 'authorization'],
  ])(
    'the "After" program for %s serves the old header form, keeps /health public, refuses others',
    async (peer, index, otherHeader) => {
      const doc = await readFile(join(here, '..', '..', 'docs', 'migrating.md'), 'utf8');
      const blocks = [...doc.matchAll(/### After\s+```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
      expect(blocks).toHaveLength(2);
      const { base, output, key } = await start(`migrating-${index}`, blocks[index]!);
      // The printed curl line names the client's header and the protected path.
      const curl = /curl -H "([\w-]+): (?:(\w+) )?kw_live_\w+" localhost:\d+(\S+)/.exec(output);
      expect(curl, peer).not.toBeNull();
      const [, header, scheme, path] = curl!;
      const value = scheme ? `${scheme} ${key}` : key;
      const ok = await fetch(`${base}${path}`, { headers: { [header!]: value } });
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { owner: string }).owner).toBeTruthy();
      expect((await fetch(`${base}/health`)).status).toBe(200);
      const none = await fetch(`${base}${path}`);
      expect(none.status).toBe(401);
      expect(none.headers.get('content-type')).toBe('application/problem+json');
      // Fastify: X-Api-Key is turned off, so a key there is no credential. Express: a damaged key.
      const other = await fetch(`${base}${path}`, {
        headers: {
          [otherHeader!]:
            otherHeader === 'x-api-key' ? key : `Bearer ${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`,
        },
      });
      expect(other.status).toBe(401);
    },
  );
});
