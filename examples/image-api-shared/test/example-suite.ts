// One suite for the three example apps: each example's test passes a function that builds its
// app (through `buildApp()`) and listens on 127.0.0.1.
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Example, ExampleConfig } from '../src/index.js';

export interface Started {
  base: string;
  example: Example;
  close(): Promise<void>;
}
export type Start = (overrides: Partial<ExampleConfig>) => Promise<Started>;

/** A 40x30 white PNG with a red 10x10 square in the middle: a flat background to remove. */
export function testImage(): Promise<Buffer> {
  return sharp({ create: { width: 40, height: 30, channels: 3, background: '#ffffff' } })
    .composite([
      { input: { create: { width: 10, height: 10, channels: 3, background: '#ff0000' } }, left: 15, top: 10 },
    ])
    .png()
    .toBuffer();
}

/** GET with the path sent byte for byte, answered as a fetch Response. */
function rawGet(base: string, path: string, headers: Record<string, string>): Promise<Response> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port: Number(port), path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers))
          if (typeof value === 'string') responseHeaders.set(name, value);
        resolve(new Response(Buffer.concat(chunks), { status: res.statusCode!, headers: responseHeaders }));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Starts an app whose `listen` returns a Node server (Express, Koa) on a free loopback port. */
export async function listenNode(
  app: { listen(port: number, host: string): import('node:http').Server },
  example: Example,
): Promise<Started> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`,
    example,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      await example.close();
    },
  };
}

export function runExampleSuite(name: string, start: Start): void {
  describe(`${name} example image API`, () => {
    let app: Started;
    let dir: string;
    let image: Buffer;
    let key: string;
    const url = (path: string) => `${app.base}${path}`;
    const auth = (k = key) => ({ authorization: `Token ${k}` });
    const upload = (files: Blob[], headers = auth(), uploadPath = 'my-project') => {
      const form = new FormData();
      for (const file of files) form.append('files', file, 'photo.png');
      form.append('upload_path', uploadPath);
      return fetch(url('/v3/file-ops/upload/'), { method: 'POST', headers, body: form });
    };
    const processWith = (tool: string, body: unknown, headers: Record<string, string> = auth()) =>
      fetch(url(`/v3/tools/${tool}/process/`), {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const png = () => new Blob([new Uint8Array(image)], { type: 'image/png' });

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), `keywarden-${name}-`));
      app = await start({ keysFile: join(dir, 'keys.json'), storageDir: join(dir, 'storage'), port: 0 });
      image = await testImage();
      key = app.example.demoKey;
    });
    afterAll(async () => {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('serves the page without the API key in it', async () => {
      const page = await fetch(url('/'));
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/text\/html/);
      const html = await page.text();
      expect(html).toContain('AccessToken');
      expect(html).not.toContain(key);
    });

    it('uploads, processes with each tool, and downloads real images', async () => {
      const uploaded = await upload([png()]);
      expect(uploaded.status).toBe(200);
      const {
        file_paths: [input],
      } = (await uploaded.json()) as { file_paths: string[] };
      expect(input).toMatch(/^my-project\/photo(-\d+)?\.png$/);

      const resized = await processWith('resize', {
        input_file_path: input,
        output_variants: [{ output_file_path: 'my-project/big.png', scale: 2 }],
      });
      expect(await resized.json()).toEqual({ output_file_paths: ['my-project/big.png'] });
      const big = await fetch(url('/v3/files/my-project/big.png'), { headers: { 'x-api-key': key } });
      expect([big.status, big.headers.get('content-type')]).toEqual([200, 'image/png']);
      expect(await sharp(Buffer.from(await big.arrayBuffer())).metadata()).toMatchObject({
        width: 80,
        height: 60,
      });

      const cropped = await processWith('crop', {
        input_file_path: input,
        output_variants: [
          { output_file_path: 'my-project/crop.webp', left: 15, top: 10, width: 10, height: 10 },
        ],
      });
      expect(cropped.status).toBe(200);
      const crop = Buffer.from(
        await (await fetch(url('/v3/files/my-project/crop.webp'), { headers: auth() })).arrayBuffer(),
      );
      const { data } = await sharp(crop).raw().toBuffer({ resolveWithObject: true });
      expect([data[0]! > 200, data[1]! < 60]).toEqual([true, true]); // all red

      const cut = await processWith('remove-bg', {
        input_file_path: input,
        output_variants: [{ output_file_path: 'my-project/cut.png' }],
      });
      expect(cut.status).toBe(200);
      const result = Buffer.from(
        await (await fetch(url('/v3/files/my-project/cut.png'), { headers: auth() })).arrayBuffer(),
      );
      const raw = await sharp(result).raw().toBuffer({ resolveWithObject: true });
      const alpha = (x: number, y: number) => raw.data[(y * raw.info.width + x) * raw.info.channels + 3];
      expect([alpha(0, 0), alpha(39, 29), alpha(5, 15)]).toEqual([0, 0, 0]); // background gone
      expect(alpha(20, 15)).toBe(255); // the red square stays
    });

    it('charges each tool its cost against the quota', async () => {
      const uploaded = (await (await upload([png()])).json()) as { file_paths: string[] };
      const remaining = (response: Response) =>
        Number(/"quota";r=(\d+)/.exec(response.headers.get('ratelimit') ?? '')?.[1]);
      const one = await processWith('resize', {
        input_file_path: uploaded.file_paths[0],
        output_variants: [{ output_file_path: 'c/a.png', scale: 1 }],
      });
      const three = await processWith('remove-bg', {
        input_file_path: uploaded.file_paths[0],
        output_variants: [{ output_file_path: 'c/b.png' }],
      });
      expect(remaining(one) - remaining(three)).toBe(3);
    });

    it('works with an access token from "your server", only inside its paths', async () => {
      const minted = await fetch(url('/your-server/token'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tool: 'remove-bg' }),
      });
      const body = (await minted.json()) as { accessToken: string; expiresIn: number; paths: string[] };
      expect(body).toMatchObject({
        expiresIn: 120,
        paths: ['/v3/file-ops/upload/', '/v3/tools/remove-bg/process/', '/v3/files/*'],
      });
      expect(JSON.stringify(body)).not.toContain(key);
      const token = { authorization: `AccessToken ${body.accessToken}` };
      const uploaded = await upload([png()], token, 'browser');
      expect(uploaded.status).toBe(200);
      const {
        file_paths: [input],
      } = (await uploaded.json()) as { file_paths: string[] };
      const cut = await processWith(
        'remove-bg',
        { input_file_path: input, output_variants: [{ output_file_path: 'browser/out.png' }] },
        token,
      );
      expect(cut.status).toBe(200);
      expect((await fetch(url('/v3/files/browser/out.png'), { headers: token })).status).toBe(200);
      const outside = await processWith(
        'resize',
        { input_file_path: input, output_variants: [{ output_file_path: 'browser/x.png', scale: 2 }] },
        token,
      );
      expect([outside.status, ((await outside.json()) as { code: string }).code]).toEqual([
        401,
        'path_not_allowed',
      ]);
    });

    it.each([
      ['no files', async () => upload([]), 400, 'no_files'],
      [
        'a text file',
        async () => upload([new Blob(['hello'], { type: 'image/png' })]),
        415,
        'unsupported_image',
      ],
      [
        'a file over 10 MB',
        async () => upload([new Blob([new Uint8Array(10 * 1024 * 1024 + 1)])]),
        413,
        'file_too_large',
      ],
      [
        'six files',
        async () => upload(Array.from({ length: 6 }, () => new Blob([new Uint8Array(10)]))),
        413,
        'too_many_files',
      ],
      [
        'a JSON body',
        async () =>
          fetch(url('/v3/file-ops/upload/'), {
            method: 'POST',
            headers: { ...auth(), 'content-type': 'application/json' },
            body: '{}',
          }),
        415,
        'unsupported_media_type',
      ],
      ['a traversal upload_path', async () => upload([png()], auth(), '../outside'), 400, 'invalid_path'],
      [
        'an absolute output path',
        async () =>
          processWith('resize', {
            input_file_path: 'my-project/photo.png',
            output_variants: [{ output_file_path: '/etc/x.png', scale: 2 }],
          }),
        400,
        'invalid_path',
      ],
      [
        'a traversal output path',
        async () =>
          processWith('resize', {
            input_file_path: 'my-project/photo.png',
            output_variants: [{ output_file_path: 'a/../../x.png', scale: 2 }],
          }),
        400,
        'invalid_path',
      ],
      [
        'a missing input',
        async () =>
          processWith('resize', {
            input_file_path: 'nope/none.png',
            output_variants: [{ output_file_path: 'a.png', scale: 2 }],
          }),
        404,
        'not_found',
      ],
      [
        'a bad parameter',
        async () =>
          processWith('resize', {
            input_file_path: 'my-project/photo.png',
            output_variants: [{ output_file_path: 'a.png', scale: 9 }],
          }),
        400,
        'invalid_parameter',
      ],
      [
        'remove-bg into a JPEG',
        async () =>
          processWith('remove-bg', {
            input_file_path: 'my-project/photo.png',
            output_variants: [{ output_file_path: 'a.jpg' }],
          }),
        400,
        'invalid_parameter',
      ],
      [
        'bad JSON',
        async () =>
          fetch(url('/v3/tools/resize/process/'), {
            method: 'POST',
            headers: { ...auth(), 'content-type': 'application/json' },
            body: '{',
          }),
        400,
        'invalid_json',
      ],
      // fetch() would normalize these paths before sending; node:http sends them as written.
      [
        'an encoded traversal download',
        async () => rawGet(app.base, '/v3/files/%2e%2e/keys.json', auth()),
        400,
        'invalid_path',
      ],
      [
        'a raw traversal download',
        async () => rawGet(app.base, '/v3/files/../keys.json', auth()),
        400,
        'invalid_path',
      ],
      [
        'a missing download',
        async () => fetch(url('/v3/files/none/here.png'), { headers: auth() }),
        404,
        'not_found',
      ],
      ['no credential', async () => fetch(url('/v3/files/my-project/big.png')), 401, 'missing_credentials'],
    ])('refuses %s with a clear 4xx', async (_case, send, status, code) => {
      const response = await send();
      expect(response.status).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await response.json()) as { code: string }).code).toBe(code);
    });

    it('keeps each key owner in its own folder', async () => {
      const other = await app.example.keys.create({ name: 'other', scopes: ['images:read', 'images:write'] });
      const mine = await fetch(url('/v3/files/my-project/big.png'), { headers: auth() });
      expect(mine.status).toBe(200);
      const theirs = await fetch(url('/v3/files/my-project/big.png'), { headers: auth(other.key) });
      expect(theirs.status).toBe(404);
      const reader = await app.example.keys.create({ name: 'reader', scopes: ['images:read'] });
      expect((await upload([png()], auth(reader.key))).status).toBe(403);
    });
  });
}
