// One suite for the three example apps: each example's test passes a function that builds its
// app (through `buildApp()`) and listens on 127.0.0.1.
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Example,
  type ExampleConfig,
  namespaceOf,
  PAGE_TOKENS_PER_MINUTE,
  VISITOR_LIMITS,
} from '../src/index.js';
import { QUEUED, RUNNING } from '../src/keying.js';
import { pngBomb } from './bombs.js';

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
  return rawSend(base, 'GET', path, headers);
}

/** A request sent byte for byte (optionally from another loopback address), answered as a fetch Response. */
function rawSend(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
  from?: string,
): Promise<Response> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const options = {
      host: hostname,
      port: Number(port),
      path,
      method,
      headers,
      ...(from ? { localAddress: from } : {}),
    };
    const req = request(options, (res) => {
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
    req.end(body);
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
      fetch(url(`/v3/tools/ai/${tool}/process/`), {
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
    // Closing waits for the server's connections and the example's last writes (usage, lastUsedAt
    // under the keys file's lock): give it room on a busy machine (once over 10 s in a CI run).
    afterAll(async () => {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    }, 60_000);

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
        paths: ['/v3/file-ops/upload/', '/v3/tools/ai/remove-bg/process/', '/v3/files/*'],
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

    describe('hardening', () => {
      const remaining = (response: Response) =>
        Number(/"quota";r=(\d+)/.exec(response.headers.get('ratelimit') ?? '')?.[1]);

      it.each([
        [16_383, 16_383],
        [8_000, 8_000],
      ])(
        'refuses a %i x %i decompression bomb at upload, from its header, in well under a second',
        async (w, h) => {
          const bomb = pngBomb(w, h);
          expect(bomb.length).toBeLessThan(40_000);
          const rssBefore = process.memoryUsage().rss;
          const started = performance.now();
          const response = await upload([new Blob([new Uint8Array(bomb)], { type: 'image/png' })]);
          expect(response.status).toBe(413);
          expect(((await response.json()) as { code: string }).code).toBe('image_too_large');
          expect(performance.now() - started).toBeLessThan(1000);
          expect(process.memoryUsage().rss - rssBefore).toBeLessThan(100 * 1024 * 1024);
        },
      );

      it('refuses every imageUrl of /v1/enhance but its own storage on this API, with a detail, charging nothing', async () => {
        const uploaded = await upload([png()], auth(), 'enh');
        const [stored] = ((await uploaded.json()) as { file_paths: string[] }).file_paths;
        const host = new URL(app.base).host;
        const enhance = (body: unknown, headers: Record<string, string> = {}) =>
          fetch(url('/v1/enhance'), {
            method: 'POST',
            headers: { 'x-api-key': key, 'content-type': 'application/json', ...headers },
            body: JSON.stringify(body),
          });
        const own = `${app.base}/v3/files/${stored}`;
        const before = await enhance({ imageUrl: own });
        expect(before.status).toBe(200);
        const quotaBefore = remaining(before);
        const refused: [unknown, RegExp][] = [
          [{}, /imageUrl is required/],
          [{ imageUrl: 42 }, /imageUrl is required/],
          [{ imageUrl: 'not a url' }, /not a URL/],
          [{ imageUrl: `http://169.254.169.254/v3/files/${stored}` }, /fetches no other URL/],
          [
            { imageUrl: `http://localhost:${new URL(app.base).port}/v3/files/${stored}` },
            /fetches no other URL/,
          ],
          [{ imageUrl: `file:///etc/passwd` }, /fetches no other URL/],
          [{ imageUrl: `ftp://${host}/v3/files/${stored}` }, /fetches no other URL/],
          [{ imageUrl: `http://user:pw@${host}/v3/files/${stored}` }, /plain path/],
          [{ imageUrl: `${own}?x=1` }, /plain path/],
          [
            { imageUrl: `${app.base}/v3/files/enh/%2e%2e/%2e%2e/keys.json` },
            /names no file of yours|must name/,
          ],
          [{ imageUrl: `${app.base}/v3/files/a%2Fb.png` }, /must name/],
          [{ imageUrl: `${app.base}/etc/passwd` }, /must name/],
          [{ imageUrl: `${app.base}/v3/files/enh/missing.png` }, /names no file of yours/],
          [{ imageUrl: own, enhancementType: 'hdr' }, /enhancementType must be/],
          [{ imageUrl: own, enhancementType: 'constructor' }, /enhancementType must be/],
          [{ imageUrl: own, outputFormat: 'gif' }, /outputFormat must be/],
          [{ imageUrl: own, callbackUrl: 'http://x' }, /Unknown fields/],
          [[own], /JSON object/],
        ];
        for (const [body, detail] of refused) {
          const response = await enhance(body);
          const problem = (await response.json()) as { detail: string };
          expect([response.status, problem.detail]).toEqual([400, expect.stringMatching(detail)]);
        }
        // A Host header naming another server gains nothing: the URL must match the Host, and
        // the file still comes from the caller's own storage (nothing is fetched).
        const spoofedHeaders = { host: 'evil.example', 'x-api-key': key, 'content-type': 'application/json' };
        const spoofedBody = JSON.stringify({ imageUrl: `http://evil.example/v3/files/${stored}` });
        const spoofed = await rawSend(app.base, 'POST', '/v1/enhance', spoofedHeaders, spoofedBody);
        expect(spoofed.status).toBe(200);
        const after = await enhance({ imageUrl: own });
        expect(remaining(after)).toBe(quotaBefore - 2 * 2); // the spoofed call and this one; no refusal charged
      });

      it('refuses bad /v1/remove-background bodies with a clear 4xx, charging nothing', async () => {
        const send = (form: FormData | string, type?: string) =>
          fetch(url('/v1/remove-background'), {
            method: 'POST',
            headers: { 'x-api-key': key, ...(type ? { 'content-type': type } : {}) },
            body: form,
          });
        const one = (field: string, blob: Blob) => {
          const form = new FormData();
          form.append(field, blob, 'photo.png');
          return form;
        };
        const two = one('image_file', png());
        two.append('image_file', png(), 'second.png');
        const cases: [Promise<Response>, number, string][] = [
          [send(one('files', png())), 400, 'invalid_field'],
          [send(new FormData()), 400, 'no_files'],
          [send(two), 413, 'too_many_files'],
          [send(one('image_file', new Blob(['not an image']))), 415, 'unsupported_image'],
          [send('{}', 'application/json'), 415, 'unsupported_media_type'],
        ];
        for (const [response, status, code] of cases) {
          const answered = await response;
          expect([answered.status, ((await answered.json()) as { code: string }).code]).toEqual([
            status,
            code,
          ]);
        }
        const ok = await send(one('image_file', png()));
        expect([ok.status, ok.headers.get('content-type')]).toEqual([200, 'image/png']);
      });

      it('refuses a bomb already in storage before decoding it, and charges nothing', async () => {
        const demo = await app.example.keys.verify(key);
        if (!demo.ok) throw new Error('the demo key does not verify');
        const folder = join(dir, 'storage', namespaceOf(demo.key), 'planted');
        await mkdir(folder, { recursive: true, mode: 0o700 });
        await writeFile(join(folder, 'bomb.png'), pngBomb(16_383, 16_383), { mode: 0o600 });
        const before = await processWith('resize', {
          input_file_path: 'my-project/photo.png',
          output_variants: [{ output_file_path: 'x/quota.png', scale: 1 }],
        });
        const started = performance.now();
        const response = await processWith('remove-bg', {
          input_file_path: 'planted/bomb.png',
          output_variants: Array.from({ length: 5 }, (_, i) => ({ output_file_path: `planted/out${i}.png` })),
        });
        expect(response.status).toBe(413);
        expect(performance.now() - started).toBeLessThan(1000);
        const after = await processWith('resize', {
          input_file_path: 'my-project/photo.png',
          output_variants: [{ output_file_path: 'x/quota.png', scale: 1 }],
        });
        expect(remaining(before) - remaining(after)).toBe(1); // only the second resize
      });

      it('removes the background of a 25-megapixel image without blocking the event loop', async () => {
        const big = await sharp({ create: { width: 5000, height: 5000, channels: 3, background: '#ffffff' } })
          .composite([
            {
              input: { create: { width: 100, height: 100, channels: 3, background: '#ff0000' } },
              left: 2450,
              top: 2450,
            },
          ])
          .png()
          .toBuffer();
        const uploaded = await upload(
          [new Blob([new Uint8Array(big)], { type: 'image/png' })],
          auth(),
          'big',
        );
        expect(uploaded.status).toBe(200);
        const [input] = ((await uploaded.json()) as { file_paths: string[] }).file_paths;
        // Time the main thread spent busy during the call (its event loop utilization): what
        // libvips and the worker thread do is not in it. Keying on the main thread kept it busy
        // for about a second, and handing raw pixels to a worker for 300 ms (a copy). Busy time,
        // not the longest delay, so that a loaded machine's scheduling does not decide the test.
        const before = performance.eventLoopUtilization();
        const cut = await processWith('remove-bg', {
          input_file_path: input,
          output_variants: [{ output_file_path: 'big/cut.png' }],
        });
        const busy = performance.eventLoopUtilization(before);
        expect(cut.status).toBe(200);
        expect(busy.active).toBeLessThan(200); // measured: about 4 ms
      }, 60_000);

      it('charges a tool per output variant, and refuses the whole call when the quota cannot cover it', async () => {
        const limited = await app.example.keys.create({
          name: 'limited',
          scopes: ['images:read', 'images:write'],
          quota: { limit: 10, period: 'month' },
        });
        const up = await upload([png()], auth(limited.key), 'v');
        const [input] = ((await up.json()) as { file_paths: string[] }).file_paths;
        const variants = (n: number, stem: string) =>
          Array.from({ length: n }, (_, i) => ({ output_file_path: `v/${stem}${i}.png` }));
        const five = await processWith(
          'remove-bg',
          { input_file_path: input, output_variants: variants(5, 'a') },
          auth(limited.key),
        );
        expect(five.status).toBe(429);
        expect(((await five.json()) as { code: string }).code).toBe('quota_exceeded');
        const three = await processWith(
          'remove-bg',
          { input_file_path: input, output_variants: variants(3, 'b') },
          auth(limited.key),
        );
        expect(three.status).toBe(200);
        expect(remaining(three)).toBe(1); // 3 variants x 3 units
        const written = await fetch(url('/v3/files/v/a0.png'), { headers: auth(limited.key) });
        expect(written.status).toBe(404); // the refused call did no work
      });

      it('charges a retried call with the same Idempotency-Key once', async () => {
        const limited = await app.example.keys.create({
          name: 'retried',
          scopes: ['images:read', 'images:write'],
          quota: { limit: 10, period: 'month' },
        });
        const up = await upload([png()], auth(limited.key), 'r');
        const [input] = ((await up.json()) as { file_paths: string[] }).file_paths;
        const call = (idempotencyKey: string) =>
          processWith(
            'remove-bg',
            { input_file_path: input, output_variants: [{ output_file_path: 'r/out.png' }] },
            { ...auth(limited.key), 'idempotency-key': idempotencyKey },
          );
        const used = async () => (await app.example.keywarden.peekLimits(limited.record.id))?.quota?.used;
        expect((await call('job-1')).status).toBe(200);
        expect((await call('job-1')).status).toBe(200); // the retry
        expect(await used()).toBe(3);
        expect((await call('job-2')).status).toBe(200);
        expect(await used()).toBe(6);
        const malformed = await call('two words');
        expect([malformed.status, ((await malformed.json()) as { code: string }).code]).toEqual([
          400,
          'invalid_request',
        ]);
        expect(await used()).toBe(6);
      });

      it('gives each owner its own folder, however alike their ids, and a key without owner its own', async () => {
        const make = (ownerId?: string) =>
          app.example.keys.create({
            name: 'o',
            scopes: ['images:read', 'images:write'],
            ...(ownerId ? { ownerId } : {}),
          });
        const a = await make('alice@corp.com');
        const b = await make('alice.corp.com');
        const ownerless = await make();
        const c = await make(`key-${ownerless.record.id}`);
        const blobOf = async (color: string) =>
          new Blob(
            [
              new Uint8Array(
                await sharp({ create: { width: 8, height: 8, channels: 3, background: color } })
                  .png()
                  .toBuffer(),
              ),
            ],
            { type: 'image/png' },
          );
        for (const [k, color] of [
          [a, '#ff0000'],
          [b, '#00ff00'],
          [ownerless, '#0000ff'],
          [c, '#ffff00'],
        ] as const) {
          const form = new FormData();
          form.append('files', await blobOf(color), 'same.png');
          form.append('upload_path', 'shared');
          const response = await fetch(url('/v3/file-ops/upload/'), {
            method: 'POST',
            headers: auth(k.key),
            body: form,
          });
          expect(((await response.json()) as { file_paths: string[] }).file_paths).toEqual([
            'shared/same.png',
          ]);
        }
        const colourOf = async (k: string) => {
          const file = await fetch(url('/v3/files/shared/same.png'), { headers: auth(k) });
          const { data } = await sharp(Buffer.from(await file.arrayBuffer()))
            .raw()
            .toBuffer({ resolveWithObject: true });
          return [...data.subarray(0, 3)];
        };
        expect(await colourOf(a.key)).toEqual([255, 0, 0]);
        expect(await colourOf(b.key)).toEqual([0, 255, 0]);
        expect(await colourOf(ownerless.key)).toEqual([0, 0, 255]);
        expect(await colourOf(c.key)).toEqual([255, 255, 0]);
      });

      it('keeps the files of a key without owner after it is rotated', async () => {
        const old = await app.example.keys.create({ name: 'r', scopes: ['images:read', 'images:write'] });
        const up = await upload([png()], auth(old.key), 'mine');
        const [path] = ((await up.json()) as { file_paths: string[] }).file_paths;
        const rotated = (await app.example.keys.rotate(old.record.id))!;
        expect((await fetch(url(`/v3/files/${path}`), { headers: auth(rotated.key) })).status).toBe(200);
      });

      it('gives eight parallel uploads of one name eight files, never a 500', async () => {
        const responses = await Promise.all(Array.from({ length: 8 }, () => upload([png()], auth(), 'race')));
        expect(responses.map((r) => r.status)).toEqual(Array(8).fill(200));
        const paths = await Promise.all(
          responses.map(async (r) => ((await r.json()) as { file_paths: string[] }).file_paths[0]),
        );
        expect(new Set(paths).size).toBe(8);
      });

      it('stores files 0600 in folders 0700', async () => {
        const storage = join(dir, 'storage');
        const modes: string[] = [];
        const walk = async (folder: string) => {
          for (const entry of await readdir(folder, { withFileTypes: true })) {
            const full = join(folder, entry.name);
            modes.push(`${entry.isDirectory() ? 'd' : 'f'}${((await stat(full)).mode & 0o777).toString(8)}`);
            if (entry.isDirectory()) await walk(full);
          }
        };
        await walk(storage);
        expect(modes.length).toBeGreaterThan(5);
        expect(new Set(modes)).toEqual(new Set(['d700', 'f600']));
      });

      it(`rate-limits "your server"'s public token route per client address (${PAGE_TOKENS_PER_MINUTE} a minute)`, async () => {
        const mint = (from: string) =>
          rawSend(
            app.base,
            'POST',
            '/your-server/token',
            { 'content-type': 'application/json' },
            '{"tool":"resize"}',
            from,
          );
        const statuses = [];
        for (let i = 0; i <= PAGE_TOKENS_PER_MINUTE; i++) statuses.push((await mint('127.0.0.31')).status);
        expect(statuses.slice(0, -1)).toEqual(Array(PAGE_TOKENS_PER_MINUTE).fill(200));
        const refused = await mint('127.0.0.31');
        expect(refused.status).toBe(429);
        expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
        expect((await mint('127.0.0.32')).status).toBe(200);
      });
    });

    describe('hardening, round 3', () => {
      const remaining = (response: Response) =>
        Number(/"quota";r=(\d+)/.exec(response.headers.get('ratelimit') ?? '')?.[1]);
      /** A demo visitor's token, minted by "your server" for a client at `from`. */
      const visitor = async (from: string, tool = 'remove-bg') => {
        const minted = await rawSend(
          app.base,
          'POST',
          '/your-server/token',
          { 'content-type': 'application/json' },
          JSON.stringify({ tool }),
          from,
        );
        expect(minted.status).toBe(200);
        return {
          authorization: `AccessToken ${((await minted.json()) as { accessToken: string }).accessToken}`,
        };
      };
      const problem = async (response: Response) => [
        response.status,
        ((await response.json()) as { code: string }).code,
      ];

      it("holds every storage path in a body or URL parameter to the credential's paths", async () => {
        const owner = `acme-${Date.now()}`;
        const full = await app.example.keys.create({
          name: 'full',
          ownerId: owner,
          scopes: ['images:read', 'images:write'],
        });
        const limited = await app.example.keys.create({
          name: 'public only',
          ownerId: owner,
          scopes: ['images:read', 'images:write'],
          paths: ['/v3/files/public/*', '/v3/file-ops/upload/', '/v3/tools/*', '/v1/*'],
        });
        await upload([png()], auth(full.key), 'private');
        await upload([png()], auth(full.key), 'public');
        const host = new URL(app.base).host;
        const enhance = (headers: Record<string, string>, path: string) =>
          fetch(url('/v1/enhance'), {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json' },
            body: JSON.stringify({ imageUrl: `http://${host}/v3/files/${path}` }),
          });
        const resize = (headers: Record<string, string>, input: string, output: string) =>
          processWith(
            'resize',
            { input_file_path: input, output_variants: [{ output_file_path: output, scale: 1 }] },
            headers,
          );
        const before = await resize(auth(limited.key), 'public/photo.png', 'public/copy.png');
        expect(before.status).toBe(200);
        const quota = remaining(before);
        expect(await problem(await enhance(auth(limited.key), 'private/photo.png'))).toEqual([
          403,
          'path_not_allowed',
        ]);
        expect(
          await problem(await resize(auth(limited.key), 'private/photo.png', 'public/leak.png')),
        ).toEqual([403, 'path_not_allowed']);
        expect(
          await problem(await resize(auth(limited.key), 'public/photo.png', 'private/photo.png')),
        ).toEqual([403, 'path_not_allowed']);
        expect(await problem(await upload([png()], auth(limited.key), 'private'))).toEqual([
          403,
          'path_not_allowed',
        ]);
        expect((await fetch(url('/v3/files/private/photo.png'), { headers: auth(limited.key) })).status).toBe(
          401,
        );
        expect((await fetch(url('/v3/files/public/leak.png'), { headers: auth(full.key) })).status).toBe(404);
        // A token minted for /v1/enhance alone reads no file through it.
        const minted = await app.example.keywarden.mintAccessToken(full.record.id, {
          paths: ['/v1/enhance'],
        });
        expect(
          await problem(await enhance({ authorization: `AccessToken ${minted.token}` }, 'public/photo.png')),
        ).toEqual([403, 'path_not_allowed']);
        const after = await resize(auth(limited.key), 'public/photo.png', 'public/copy.png');
        expect(remaining(after)).toBe(quota - 1); // the refusals charged nothing
      });

      it('gives each demo visitor a folder of its own: another visitor neither reads nor overwrites it', async () => {
        const a = await visitor('127.0.0.41');
        const b = await visitor('127.0.0.42');
        const uploaded = await upload([png()], a, 'browser');
        const [path] = ((await uploaded.json()) as { file_paths: string[] }).file_paths;
        expect((await fetch(url(`/v3/files/${path}`), { headers: a })).status).toBe(200);
        expect((await fetch(url(`/v3/files/${path}`), { headers: b })).status).toBe(404);
        const theirs = await upload([png()], b, 'browser');
        expect(((await theirs.json()) as { file_paths: string[] }).file_paths).toEqual([path]); // the same name, its own file
        const cut = await processWith(
          'remove-bg',
          { input_file_path: path, output_variants: [{ output_file_path: path }] },
          b,
        );
        expect(cut.status).toBe(200);
        const mine = await fetch(url(`/v3/files/${path}`), { headers: a });
        expect(Buffer.from(await mine.arrayBuffer()).equals(Buffer.from(image))).toBe(true); // A's file untouched
        expect((await fetch(url(`/v3/files/${path}`), { headers: auth() })).status).toBe(404); // nor the demo key's folder
      });

      it('bounds what one demo visitor may do, per token and per address, far below the demo key', async () => {
        const demo = await app.example.keys.verify(app.example.pageKey); // the key visitors' tokens come from
        if (!demo.ok) throw new Error('the page key does not verify');
        const { requestsPerToken, unitsPerToken, requestsPerAddressPerMinute, unitsPerAddressPerDay } =
          VISITOR_LIMITS;
        expect(unitsPerAddressPerDay * 31).toBeLessThan(demo.key.quota!.limit);
        expect(requestsPerAddressPerMinute).toBeLessThan(demo.key.rateLimit!.limit);
        // Per token: its requests, then its units.
        const token = await visitor('127.0.0.43');
        const statuses = [];
        for (let i = 0; i <= requestsPerToken; i++)
          statuses.push((await fetch(url('/v3/files/nothing.png'), { headers: token })).status);
        expect(statuses.slice(0, -1)).toEqual(Array(requestsPerToken).fill(404));
        const refused = await fetch(url('/v3/files/nothing.png'), { headers: token });
        expect([refused.status, Number(refused.headers.get('retry-after')) > 0]).toEqual([429, true]);
        const units = await visitor('127.0.0.44');
        const [input] = ((await (await upload([png()], units, 'u')).json()) as { file_paths: string[] })
          .file_paths;
        const variants = (n: number) =>
          Array.from({ length: n }, (_, i) => ({ output_file_path: `u/o${i}.png` }));
        const spent = await processWith(
          'remove-bg',
          { input_file_path: input, output_variants: variants(unitsPerToken / 3) },
          units,
        );
        expect(spent.status).toBe(200);
        const more = { input_file_path: input, output_variants: variants(1) };
        expect(await problem(await processWith('remove-bg', more, units))).toEqual([429, 'rate_limited']);
        // Per address, across its tokens.
        let answered = 0;
        while (answered < requestsPerAddressPerMinute) {
          const next = await visitor('127.0.0.45');
          for (let i = 0; i < requestsPerToken - 1 && answered < requestsPerAddressPerMinute; i++, answered++)
            expect(
              (await rawSend(app.base, 'GET', '/v3/files/none.png', next, undefined, '127.0.0.45')).status,
            ).toBe(404);
        }
        const fresh = await visitor('127.0.0.45');
        expect(
          (await rawSend(app.base, 'GET', '/v3/files/none.png', fresh, undefined, '127.0.0.45')).status,
        ).toBe(429);
        expect(
          (await rawSend(app.base, 'GET', '/v3/files/none.png', fresh, undefined, '127.0.0.46')).status,
        ).toBe(404);
      });

      it('answers 400 for an image that fails to decode after a valid header, and charges nothing', async () => {
        const whole = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#336699' } })
          .png({ compressionLevel: 0 })
          .toBuffer();
        const broken = Buffer.from(whole);
        broken.fill(0xa5, 200, broken.length - 40); // the header stays, the pixel data does not
        const uploaded = await upload(
          [new Blob([new Uint8Array(broken)], { type: 'image/png' })],
          auth(),
          'corrupt',
        );
        expect(uploaded.status).toBe(200); // its header is a valid PNG's
        const [input] = ((await uploaded.json()) as { file_paths: string[] }).file_paths;
        const good = await upload([png()], auth(), 'corrupt-probe');
        const [sound] = ((await good.json()) as { file_paths: string[] }).file_paths;
        const probe = await processWith('resize', {
          input_file_path: sound,
          output_variants: [{ output_file_path: 'corrupt/probe.png', scale: 1 }],
        });
        const quota = remaining(probe);
        for (const tool of ['remove-bg', 'resize'])
          expect(
            await problem(
              await processWith(tool, {
                input_file_path: input,
                output_variants: [
                  { output_file_path: `corrupt/${tool}.png`, ...(tool === 'resize' ? { scale: 2 } : {}) },
                ],
              }),
            ),
          ).toEqual([400, 'invalid_image']);
        const form = new FormData();
        form.append('image_file', new Blob([new Uint8Array(broken)], { type: 'image/png' }), 'x.png');
        const v1 = await fetch(url('/v1/remove-background'), { method: 'POST', headers: auth(), body: form });
        expect(await problem(v1)).toEqual([400, 'invalid_image']);
        const again = await processWith('resize', {
          input_file_path: sound,
          output_variants: [{ output_file_path: 'corrupt/probe.png', scale: 1 }],
        });
        expect(remaining(again)).toBe(quota - 1);
      });

      it('refuses an upload over the total size before reading it to the end', async () => {
        const { hostname, port } = new URL(app.base);
        // Announced: refused from Content-Length, with only its first bytes ever sent.
        const announced = await new Promise<string>((resolve, reject) => {
          const socket = connect(Number(port), hostname, () => {
            socket.write(
              `POST /v3/file-ops/upload/ HTTP/1.1\r\nhost: x\r\nx-api-key: ${key}\r\n` +
                `content-type: multipart/form-data; boundary=b\r\ncontent-length: ${500 * 1024 * 1024}\r\n\r\n--b\r\n`,
            );
          });
          let text = '';
          socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
          socket.on('close', () => resolve(text));
          socket.on('error', reject);
        });
        expect(announced).toMatch(/^HTTP\/1\.1 413 /);
        expect(announced).toMatch(/body_too_large/);
        // Streamed without a length: refused once past the total, the connection closed.
        let sent = 0;
        const chunk = new Uint8Array(1024 * 1024);
        const body = new ReadableStream({
          pull(controller) {
            if (sent >= 200 * chunk.length) return controller.close();
            sent += chunk.length;
            controller.enqueue(chunk);
          },
        });
        const streamed = await fetch(url('/v3/file-ops/upload/'), {
          method: 'POST',
          headers: { ...auth(), 'content-type': 'multipart/form-data; boundary=b' },
          body,
          duplex: 'half',
        } as RequestInit).catch(() => null);
        if (streamed) expect(await problem(streamed)).toEqual([413, 'body_too_large']);
        expect(sent).toBeLessThan(200 * chunk.length); // never read to its end
      });

      it('queues background removal (one job at a time) and refuses past the queue with 503 and Retry-After', async () => {
        const big = await sharp({ create: { width: 2000, height: 2000, channels: 3, background: '#ffffff' } })
          .png()
          .toBuffer();
        const one = () => {
          const form = new FormData();
          form.append('image_file', new Blob([new Uint8Array(big)], { type: 'image/png' }), 'big.png');
          return fetch(url('/v1/remove-background'), { method: 'POST', headers: auth(), body: form });
        };
        const responses = await Promise.all(Array.from({ length: 16 }, one));
        const statuses = responses.map((r) => r.status);
        expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(RUNNING + 1);
        expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(RUNNING + QUEUED);
        const busy = responses.filter((r) => r.status === 503);
        expect(busy.length).toBeGreaterThanOrEqual(16 - RUNNING - QUEUED);
        expect(busy.every((r) => Number(r.headers.get('retry-after')) > 0)).toBe(true);
        expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
      }, 60_000);

      it('starts a new demo session at every sign-in and ends it at sign-out; sign-in takes JSON only', async () => {
        const signIn = async () => {
          const response = await fetch(url('/your-server/session'), {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{"owner":"bob"}',
          });
          return response.headers.get('set-cookie')!.split(';', 1)[0]!;
        };
        const keysOf = (cookie: string) =>
          fetch(url('/account/api-keys/keys'), { headers: { cookie, 'x-keywarden-portal': '1' } });
        const first = await signIn();
        const second = await signIn();
        expect(first).not.toBe(second);
        expect((await keysOf(first)).status).toBe(200);
        const out = await fetch(url('/your-server/session'), {
          method: 'DELETE',
          headers: { cookie: first },
        });
        expect(out.status).toBe(204);
        expect((await keysOf(first)).status).toBe(401); // a copy of the cookie dies with the session
        expect((await keysOf(second)).status).toBe(200);
        // A cross-site form can send text/plain without a preflight: never a sign-in.
        const form = await fetch(url('/your-server/session'), {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: '{"owner":"bob"}',
        });
        expect([form.status, form.headers.get('set-cookie')]).toEqual([415, null]);
      });
    });

    /** Signs a demo owner in: the session cookie (`name=value`). */
    const signIn = async (owner: string) => {
      const response = await fetch(url('/your-server/session'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ owner }),
      });
      expect(response.status).toBe(200);
      const cookie = response.headers.get('set-cookie')!;
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Lax/);
      return cookie.split(';', 1)[0]!;
    };
    /** A portal API call as the page makes it. */
    const portal = (cookie: string, method: string, path: string, body?: unknown) =>
      fetch(url(`/account/api-keys/${path}`), {
        method,
        headers: {
          cookie,
          'x-keywarden-portal': '1',
          'content-type': 'application/json',
          origin: app.base,
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });

    it('signs alice in (demo session) and serves her the key portal; bob gets 404 for her key', async () => {
      const page = await fetch(url('/account/api-keys/'));
      expect([page.status, page.headers.get('content-security-policy')]).toEqual([
        200,
        expect.stringContaining("frame-ancestors 'none'"),
      ]);
      expect((await portal('demo_session=alice.forged', 'GET', 'keys')).status).toBe(401);
      const badOwner = await fetch(url('/your-server/session'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ owner: 'mallory' }),
      });
      expect(badOwner.status).toBe(400);
      const alice = await signIn('alice');
      const created = await portal(alice, 'POST', 'keys', { name: 'from the portal' });
      expect(created.status).toBe(201);
      const { key, record } = (await created.json()) as {
        key: string;
        record: { id: string; quota: unknown };
      };
      expect(record.quota).toEqual({ limit: 1000, period: 'month' });
      expect((await fetch(url('/v3/files/none.png'), { headers: { 'x-api-key': key } })).status).toBe(404); // a valid key, no such file
      const bob = await signIn('bob');
      expect((await portal(bob, 'POST', `keys/${record.id}/revoke`, {})).status).toBe(404);
      expect((await portal(alice, 'POST', `keys/${record.id}/revoke`, {})).status).toBe(200);
      expect((await fetch(url('/v3/files/none.png'), { headers: { 'x-api-key': key } })).status).toBe(401);
      const signedOut = await fetch(url('/your-server/session'), { method: 'DELETE' });
      expect([signedOut.status, signedOut.headers.get('set-cookie')]).toEqual([
        204,
        expect.stringMatching(/Max-Age=0/),
      ]);
    });

    it("puts alice on free and bob on pro: an account's limits count all its keys, and the portal shows them", async () => {
      const alice = await signIn('alice');
      const made: string[] = [];
      for (const name of ['one', 'two']) {
        const created = await portal(alice, 'POST', 'keys', { name });
        expect(created.status).toBe(201);
        made.push(((await created.json()) as { key: string }).key);
      }
      const third = await portal(alice, 'POST', 'keys', { name: 'three' });
      expect([third.status, ((await third.json()) as { code: string }).code]).toEqual([409, 'too_many_keys']);
      const before = (await (await portal(alice, 'GET', 'account')).json()) as {
        account: {
          plan: string;
          maxKeys: number;
          activeKeys: number;
          usage: { quota: { remaining: number } };
        };
      };
      expect(before.account).toMatchObject({ plan: 'free', maxKeys: 2, activeKeys: 2 });
      const left = before.account.usage.quota.remaining;
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThanOrEqual(50);
      // Spend what is left of alice's account over both keys: a resize costs a unit a variant.
      const uploaded = (await (await upload([png()], auth(made[0]), 'alice')).json()) as {
        file_paths: string[];
      };
      const resize = (k: string, i: number) =>
        processWith(
          'resize',
          {
            input_file_path: uploaded.file_paths[0],
            output_variants: [{ output_file_path: `alice/${i}.png`, scale: 1 }],
          },
          auth(k),
        );
      for (let i = 0; i < left; i++) expect((await resize(made[i % 2]!, i)).status).toBe(200);
      const over = await resize(made[1]!, left);
      expect(over.status).toBe(429);
      expect(await over.json()).toMatchObject({ code: 'quota_exceeded' });
      const after = (await (await portal(alice, 'GET', 'account')).json()) as {
        account: { usage: { quota: { used: number; remaining: number } } };
      };
      expect(after.account.usage.quota).toMatchObject({ used: 50, remaining: 0 });
      // bob, on pro, is not touched by alice's spending.
      const bob = await signIn('bob');
      const bobs = (await (await portal(bob, 'POST', 'keys', { name: 'bob one' })).json()) as { key: string };
      expect((await fetch(url('/v3/files/none.png'), { headers: { 'x-api-key': bobs.key } })).status).toBe(
        404,
      );
      expect(
        ((await (await portal(bob, 'GET', 'account')).json()) as { account: { plan: string } }).account.plan,
      ).toBe('pro');
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
