// The client code of the public docs the examples are shaped like (./clients), run against each
// example as written: only the base URL, the key and the image file are changed, by replacing
// those literal values in the text. Python runs with `requests`, JavaScript with Node.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Start, Started } from './example-suite.js';

const CLIENTS = join(import.meta.dirname, 'clients');

/** The key with its last character changed. */
const damaged = (key: string) => key.slice(0, -1) + (key.endsWith('x') ? 'y' : 'x');
const CLI = join(import.meta.dirname, '..', '..', '..', 'packages', 'cli', 'dist', 'bin.js');
const NODE_MODULES = join(import.meta.dirname, '..', 'node_modules');

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command` in `cwd`; resolves with its exit code and output (never rejects on a non-zero exit). */
function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, env: { ...process.env, ...options.env }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error.code as number) ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A client's text with literal values replaced (each must occur, or the client changed). */
async function client(file: string, replace: Record<string, string>): Promise<string> {
  let text = await readFile(join(CLIENTS, file), 'utf8');
  for (const [from, to] of Object.entries(replace)) {
    if (!text.includes(from)) throw new Error(`${file} no longer contains ${from}`);
    text = text.replaceAll(from, to);
  }
  return text;
}

/** A 64x48 JPEG photo: a flat white background with a red square, what colour keying removes. */
function photo(): Promise<Buffer> {
  return sharp({ create: { width: 64, height: 48, channels: 3, background: '#ffffff' } })
    .composite([
      { input: { create: { width: 16, height: 16, channels: 3, background: '#d01010' } }, left: 24, top: 16 },
    ])
    .jpeg({ quality: 95 })
    .toBuffer();
}

/** A PNG whose corner is transparent and whose centre is not: the background was removed. */
async function expectCutOut(png: Buffer): Promise<void> {
  const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  expect(info.channels).toBe(4);
  const alphaAt = (x: number, y: number) => data[(y * info.width + x) * 4 + 3];
  expect([(await sharp(png).metadata()).format, alphaAt(0, 0), alphaAt(32, 24)]).toEqual(['png', 0, 255]);
}

export function runSeedClientSuite(name: string, start: Start): void {
  describe(`${name} example: other image APIs' documented clients, unchanged`, () => {
    let app: Started;
    let dir: string;
    let key: string;
    let image: Buffer;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), `keywarden-seeds-${name}-`));
      app = await start({ keysFile: join(dir, 'keys.json'), storageDir: join(dir, 'storage'), port: 0 });
      key = app.example.demoKey;
      image = await photo();
      await writeFile(join(dir, 'photo.jpg'), image);
    }, 30_000);
    afterAll(async () => {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    }, 60_000); // the close waits for the example's last writes: room on a busy machine

    /** Uploads the photo with the key; its stored path. */
    async function uploaded(): Promise<string> {
      const form = new FormData();
      form.append('files', new Blob([new Uint8Array(image)], { type: 'image/jpeg' }), 'photo.jpg');
      form.append('upload_path', 'enhance');
      const response = await fetch(`${app.base}/v3/file-ops/upload/`, {
        method: 'POST',
        headers: { 'x-api-key': key },
        body: form,
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { file_paths: string[] }).file_paths[0]!;
    }

    it('ObjectCut (Python): POST /v1/remove-background with image_file saves the PNG it gets back', async () => {
      const script = await client('objectcut.py', {
        YOUR_API_KEY: key,
        'PATH_TO_IMAGE.jpg': join(dir, 'photo.jpg'),
        'https://api.objectcut.com': app.base,
      });
      const ran = await run('python3', ['-c', script], { cwd: dir });
      expect([ran.code, ran.stdout.trim()]).toEqual([0, 'Image processed successfully!']);
      await expectCutOut(await readFile(join(dir, 'output_image.png')));
    });

    it('Smart Image Enhancement (Python): enhances a file of its own storage, and prints the detail of a 400', async () => {
      const path = await uploaded();
      const script = await client('enhance.py', {
        'https://api.smartimageenhancement.com': app.base,
        'https://example.com/your_image_url.jpg': `${app.base}/v3/files/${path}`,
      });
      const env = { SMART_IMAGE_ENHANCEMENT_API_KEY: key };
      const ran = await run('python3', ['-c', script], { cwd: dir, env });
      expect(ran.stdout).toContain('Enhanced image saved as enhanced_image.png');
      const enhanced = await sharp(await readFile(join(dir, 'enhanced_image.png'))).metadata();
      expect([enhanced.format, enhanced.width, enhanced.height]).toEqual(['png', 64, 48]);
      // As written (an image on another host): refused, and the client prints why.
      const elsewhere = await client('enhance.py', { 'https://api.smartimageenhancement.com': app.base });
      const refused = await run('python3', ['-c', elsewhere], { cwd: dir, env });
      expect(refused.stdout).toMatch(/Bad request: imageUrl must name this API's own storage/);
    });

    it('Smart Image Enhancement (Node, node-fetch): the same, every enhancement type a real sharp pipeline', async () => {
      const path = await uploaded();
      const outputs: Buffer[] = [];
      for (const type of ['general', 'portrait', 'landscape']) {
        const script = await client('enhance.cjs', {
          'https://api.smartimageenhancement.com': app.base,
          'https://example.com/your_image_url.jpg': `${app.base}/v3/files/${path}`,
          'enhancementType: "general"': `enhancementType: "${type}"`,
        });
        const file = join(dir, 'enhance.cjs');
        await writeFile(file, script);
        const env = { SMART_IMAGE_ENHANCEMENT_API_KEY: key, NODE_PATH: NODE_MODULES };
        const ran = await run(process.execPath, [file], { cwd: dir, env });
        expect(ran.stdout).toContain('Image enhancement successful!');
        outputs.push(await readFile(join(dir, 'enhanced_image.png')));
      }
      // Three types, three different results.
      expect(new Set(outputs.map((output) => output.toString('base64'))).size).toBe(3);
    });

    it('BackgroundCut v3, option 1 (Python): upload, then /v3/tools/ai/remove-bg/process/ with its defaults', async () => {
      const script = await client('bgcut_option1.py', {
        YOUR_API_KEY: key,
        'https://api.backgroundcut.co': app.base,
      });
      const ran = await run('python3', ['-c', script], { cwd: dir });
      expect([ran.code, ran.stdout.trim()]).toEqual([0, 'my-project/result.png']);
      const result = await fetch(`${app.base}/v3/files/my-project/result.png`, {
        headers: { 'x-api-key': key },
      });
      await expectCutOut(Buffer.from(await result.arrayBuffer()));
    });

    it('BackgroundCut v3, option 2 (Python): the minted token works on its paths and nowhere else', async () => {
      const script = await client('bgcut_option2.py', {
        YOUR_API_KEY: key,
        'https://api.backgroundcut.co': app.base,
      });
      const ran = await run('python3', ['-c', script], { cwd: dir });
      expect(ran.code).toBe(0);
      const auth = { authorization: `AccessToken ${ran.stdout.trim()}` };
      const form = new FormData();
      form.append('files', new Blob([new Uint8Array(image)], { type: 'image/jpeg' }), 'photo.jpg');
      form.append('upload_path', 'tokens');
      const upload = await fetch(`${app.base}/v3/file-ops/upload/`, {
        method: 'POST',
        headers: auth,
        body: form,
      });
      expect(upload.status).toBe(200);
      const input = ((await upload.json()) as { file_paths: string[] }).file_paths[0];
      const body = JSON.stringify({
        input_file_path: input,
        output_variants: [{ output_file_path: 'tokens/cut.png' }],
      });
      const headers = { ...auth, 'content-type': 'application/json' };
      const processed = await fetch(`${app.base}/v3/tools/ai/remove-bg/process/`, {
        method: 'POST',
        headers,
        body,
      });
      expect(processed.status).toBe(200);
      // Not one of its paths: the older alias of the same tool, and another tool.
      for (const path of ['/v3/tools/remove-bg/process/', '/v3/tools/ai/resize/process/']) {
        const refused = await fetch(`${app.base}${path}`, { method: 'POST', headers, body });
        expect([refused.status, ((await refused.json()) as { code: string }).code]).toEqual([
          401,
          'path_not_allowed',
        ]);
      }
    });

    it('BackgroundCut v3 browser code (Node): token from /your-api/get-bgcut-token, upload, remove-bg', async () => {
      const snippet = await client('bgcut-client.js', { 'https://api.backgroundcut.co': app.base });
      // What the page provides: its <input type="file"> and an origin for the relative URL.
      const file = join(dir, 'bgcut-client.mjs');
      await writeFile(
        file,
        [
          `const photo = await (await import('node:fs/promises')).readFile(${JSON.stringify(join(dir, 'photo.jpg'))});`,
          `const fileInput = { files: [new File([photo], 'photo.jpg', { type: 'image/jpeg' })] };`,
          `const fetch = (url, init) => globalThis.fetch(new URL(url, ${JSON.stringify(app.base)}), init);`,
          snippet,
          'console.log(JSON.stringify(result));',
        ].join('\n'),
      );
      const ran = await run(process.execPath, [file], { cwd: dir });
      expect(JSON.parse(ran.stdout)).toEqual({ output_file_paths: ['my-project/result.png'] });
    });

    it('Crop.photo and photo-edit header forms (curl) with an api_ key the CLI made', async () => {
      const env = { KEYWARDEN_ENVIRONMENTS: 'api=api' };
      const created = await run(
        process.execPath,
        [
          CLI,
          'keys',
          'create',
          '--name',
          'crop',
          '--env',
          'api',
          '--scope',
          'images:read',
          '--scope',
          'images:write',
        ],
        { cwd: dir, env: { ...env, KEYWARDEN_STORE: join(dir, 'keys.json') } },
      );
      expect(created.code).toBe(0);
      const apiKey = /^\s+(api_\S+)$/m.exec(created.stdout)![1]!;
      const curl = (header: string, ...args: string[]) =>
        run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', header, ...args], { cwd: dir });
      // The server's file store picks up the new key when it sees the file change.
      let status = '';
      for (let i = 0; i < 50 && status !== '200'; i++) {
        const uploaded = await curl(
          `Authorization: Bearer ${apiKey}`,
          '-F',
          'files=@photo.jpg',
          '-F',
          'upload_path=crop',
          `${app.base}/v3/file-ops/upload/`,
        );
        status = uploaded.stdout;
        if (status !== '200') await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(status).toBe('200');
      expect((await curl(`x-api-key: ${apiKey}`, `${app.base}/v3/files/crop/photo.jpg`)).stdout).toBe('200');
      expect(
        // The last character changed (never to itself: a key that ends in "x" gets "y").
        (await curl(`x-api-key: ${damaged(apiKey)}`, `${app.base}/v3/files/crop/photo.jpg`)).stdout,
      ).toBe('401');
    });
  });
}
