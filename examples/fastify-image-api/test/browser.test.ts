// The access-token flow in a real browser: headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core) picks an image, the page gets a token from "your server", uploads,
// processes and downloads with it. Then: the pixels changed as the tool says, and the API key
// appeared in no request, response, page or storage.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testImage } from '../../image-api-shared/test/example-suite.js';
import { buildApp } from '../src/app.js';

const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];
/** Where the screenshot of the finished flow is written (gitignored), to look at by eye. */
export const SCREENSHOT = join(import.meta.dirname, '..', 'test-results', 'browser-flow.png');
/** Client code from other APIs' public docs, kept as written. */
const CLIENTS = join(import.meta.dirname, '..', '..', 'image-api-shared', 'test', 'clients');

let dir: string;
let base: string;
let key: string;
let pageKey: string;
let offset = 0;
let browser: Browser;
let close: () => Promise<void>;
/** The operator's key manager behind the example (keys made outside the portal). */
let operatorKeys: import('@keywarden/core').KeyManager;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keywarden-browser-'));
  const { app, example } = await buildApp({
    keysFile: join(dir, 'keys.json'),
    storageDir: join(dir, 'storage'),
    now: () => Date.now() + offset,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  key = example.demoKey;
  pageKey = example.pageKey;
  operatorKeys = example.keys;
  close = () => app.close();
  await writeFile(join(dir, 'photo.png'), await testImage());
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_FLAGS,
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await close?.();
  await rm(dir, { recursive: true, force: true });
});

/** Everything the browser sent and received, as text, to search for the key. */
function record(page: Page): string[] {
  const seen: string[] = [];
  page.on('request', (request) => {
    seen.push(
      request.url(),
      JSON.stringify(request.headers()),
      request.postDataBuffer()?.toString('latin1') ?? '',
    );
  });
  page.on('response', async (response) => {
    seen.push(JSON.stringify(await response.allHeaders()));
    seen.push(await response.text().catch(() => ''));
  });
  return seen;
}

describe('the browser flow', () => {
  it('uploads, removes the background and shows the result without ever holding the API key', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const traffic = record(page);
    await page.goto(`${base}/`);
    await page.setInputFiles('#file', join(dir, 'photo.png'));
    await page.selectOption('#tool', 'remove-bg');
    await page.click('#go');
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('#result');
      return Boolean(img?.dataset.path && img.complete && img.naturalWidth > 0);
    });
    // Read the pixels the person sees.
    const pixels = await page.evaluate(() => {
      const img = document.querySelector<HTMLImageElement>('#result')!;
      const canvas = document.createElement('canvas');
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      const at = (x: number, y: number) => Array.from(ctx.getImageData(x, y, 1, 1).data);
      return {
        size: [canvas.width, canvas.height],
        corner: at(0, 0),
        farCorner: at(39, 29),
        centre: at(20, 15),
      };
    });
    expect(pixels.size).toEqual([40, 30]);
    expect(pixels.corner[3]).toBe(0); // the white background is now transparent
    expect(pixels.farCorner[3]).toBe(0);
    expect(pixels.centre).toEqual([255, 0, 0, 255]); // the red square stays
    // The token's remaining lifetime is on screen.
    await expect.poll(() => page.textContent('#token')).toMatch(/^valid for \d+ s more$/);
    await mkdir(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    // The key was in no request or response, nor in the page or any storage.
    const storage = await page.evaluate(() =>
      JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie }),
    );
    const cookies = JSON.stringify(await context.cookies());
    for (const text of [...traffic, await page.content(), storage, cookies]) {
      expect(text).not.toContain(key);
      expect(text).not.toContain(pageKey); // the key "your server" minted the page's token with
    }
    expect(traffic.some((t) => t.includes('AccessToken '))).toBe(true);
    await context.close();
  });

  it('a token is refused outside its paths, and once expired', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/`);
    const statuses = await page.evaluate(async () => {
      const { accessToken } = await fetch('/your-server/token', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ tool: 'resize' }),
      }).then((r) => r.json() as Promise<{ accessToken: string }>);
      const headers = { Authorization: `AccessToken ${accessToken}`, 'Content-Type': 'application/json' };
      const outside = await fetch('/v3/tools/remove-bg/process/', { method: 'POST', headers, body: '{}' });
      (window as unknown as { token: string }).token = accessToken;
      return { outside: [outside.status, (await outside.json()).code] };
    });
    expect(statuses.outside).toEqual([401, 'path_not_allowed']);
    offset += 126_000; // 120 s lifetime + 5 s tolerance + 1 s, on the server's clock
    const expired = await page.evaluate(async () => {
      const token = (window as unknown as { token: string }).token;
      const response = await fetch('/v3/files/browser/none.png', {
        headers: { Authorization: `AccessToken ${token}` },
      });
      return [response.status, (await response.json()).code];
    });
    expect(expired).toEqual([401, 'invalid_credentials']);
    await page.close();
  });
});

describe("BackgroundCut v3's browser code, as its guide prints it", () => {
  it('gets a token from /your-api/get-bgcut-token, uploads and removes the background, on the example page', async () => {
    const page = await browser.newPage();
    const traffic = record(page);
    await page.goto(`${base}/`);
    // The guide's `fileInput`: an <input type="file"> holding the user's photo.
    await page.evaluate(() => {
      const input = document.createElement('input');
      input.type = 'file';
      input.id = 'guideFile';
      document.body.append(input);
    });
    await page.setInputFiles('#guideFile', join(dir, 'photo.png'));
    const snippet = (await readFile(join(CLIENTS, 'bgcut-client.js'), 'utf8')).replace(
      'https://api.backgroundcut.co',
      base,
    );
    const result = await page.evaluate(
      `(async () => { const fileInput = document.querySelector('#guideFile'); ${snippet}; return result; })()`,
    );
    expect(result).toEqual({ output_file_paths: ['my-project/result.png'] });
    expect(traffic.join('\n')).not.toContain(key);
    expect(traffic.join('\n')).not.toContain(pageKey);
    await page.close();
  });
});

/** Where the screenshot of the key portal is written (gitignored). */
export const PORTAL_SCREENSHOT = join(import.meta.dirname, '..', 'test-results', 'key-portal.png');

describe('the key portal in the browser', () => {
  const today = () => new Date().toISOString().slice(0, 10);

  async function signedIn(owner: string) {
    const context = await browser.newContext();
    const page = await context.newPage();
    // Rename answers the prompt; rotate and revoke accept their confirmation.
    page.on(
      'dialog',
      (dialog) => void dialog.accept(dialog.type() === 'prompt' ? `${owner} renamed` : undefined),
    );
    await page.goto(`${base}/`);
    await page.click(`button[data-owner="${owner}"]`);
    await page.waitForSelector(`#who:has-text("Signed in as ${owner}")`);
    await page.click('a[href="/account/api-keys/"]');
    await page.waitForSelector('#status:has-text("key(s)")');
    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    return { context, page, cookie };
  }

  it('alice makes a key on the page, uses it, rotates and revokes it; bob sees none of it', async () => {
    const alice = await signedIn('alice');
    const { page } = alice;
    await page.fill('#name', 'alice browser key');
    await page.click('#create button[type=submit]');
    await page.waitForSelector('#once:not([hidden])');
    const key = (await page.textContent('#once-key'))!;
    expect(key).toMatch(/^kw_live_/);
    // Used from Node: an upload and a resize.
    const form = new FormData();
    form.append('files', new Blob([new Uint8Array(await testImage())], { type: 'image/png' }), 'p.png');
    form.append('upload_path', 'portal');
    const upload = await fetch(`${base}/v3/file-ops/upload/`, {
      method: 'POST',
      headers: { 'x-api-key': key },
      body: form,
    });
    expect(upload.status).toBe(200);
    const [input] = ((await upload.json()) as { file_paths: string[] }).file_paths;
    const resize = await fetch(`${base}/v3/tools/ai/resize/process/`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({
        input_file_path: input,
        output_variants: [{ output_file_path: 'portal/big.png', scale: 2 }],
      }),
    });
    expect(resize.status).toBe(200);
    // After a reload: last used today, usage moved, the chart counts the two requests; the key
    // itself is nowhere on the page any more.
    await page.reload();
    const id = key.slice('kw_live_'.length, 'kw_live_'.length + 12);
    const row = page.locator(`tr[data-id="${id}"]`);
    await row.locator('svg').waitFor();
    expect(await row.locator('td').nth(3).textContent()).toBe(today());
    expect(await row.locator('td').nth(5).textContent()).toBe('1 of 1000 this month');
    expect(await row.locator('svg').getAttribute('aria-label')).toBe('Last 30 days: 2 requests, 0 refused');
    // The account's line and its own 30-day chart (every key of alice's account).
    expect(await page.textContent('#account-text')).toMatch(/^Plan: free · \d+ of 50 units used this month/);
    const accountChart = page.locator('#account-chart svg');
    await accountChart.waitFor();
    const total = /^Last 30 days: (\d+) requests/.exec((await accountChart.getAttribute('aria-label'))!);
    expect(Number(total?.[1])).toBeGreaterThanOrEqual(2);
    expect(await page.content()).not.toContain(key);
    // Rotate: both keys work during the grace.
    await row.getByRole('button', { name: /^Rotate/ }).click();
    await page.waitForSelector('#once-title:has-text("New key")');
    const rotated = (await page.textContent('#once-key'))!;
    expect(rotated).not.toBe(key);
    const download = (k: string) => fetch(`${base}/v3/files/portal/big.png`, { headers: { 'x-api-key': k } });
    expect([(await download(key)).status, (await download(rotated)).status]).toEqual([200, 200]);
    // Revoke the new one: refused within a second.
    const rotatedId = rotated.slice('kw_live_'.length, 'kw_live_'.length + 12);
    await page
      .locator(`tr[data-id="${rotatedId}"]`)
      .getByRole('button', { name: /^Revoke/ })
      .click();
    await page.waitForSelector('#status:has-text("Revoked")');
    const started = Date.now();
    let status = (await download(rotated)).status;
    while (status !== 401 && Date.now() - started < 1000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = (await download(rotated)).status;
    }
    expect(status).toBe(401);
    await mkdir(join(PORTAL_SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: PORTAL_SCREENSHOT, fullPage: true });

    // Bob: none of alice's keys, and 404 for her ids on every route.
    const bob = await signedIn('bob');
    expect(await bob.page.locator('tr[data-id]').count()).toBe(0);
    const probes = await bob.page.evaluate(async (aliceId) => {
      const call = (method: string, path: string) =>
        fetch(`/account/api-keys/keys/${aliceId}${path}`, {
          method,
          headers: { 'x-keywarden-portal': '1', 'content-type': 'application/json' },
          ...(method === 'GET' ? {} : { body: '{}' }),
        }).then((r) => r.status);
      return [
        await call('PATCH', ''),
        await call('POST', '/rotate'),
        await call('POST', '/revoke'),
        await call('GET', '/usage'),
      ];
    }, id);
    expect(probes).toEqual([404, 404, 404, 404]);
    // A state-changing call without the custom header, or from another origin, is refused.
    const noHeader = await bob.page.evaluate(() =>
      fetch('/account/api-keys/keys', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"name":"x"}',
      }).then((r) => r.status),
    );
    expect(noHeader).toBe(403);
    const elsewhere = await fetch(`${base}/account/api-keys/keys`, {
      method: 'POST',
      headers: {
        cookie: bob.cookie,
        'x-keywarden-portal': '1',
        origin: 'https://evil.example',
        'content-type': 'application/json',
      },
      body: '{"name":"x"}',
    });
    expect(elsewhere.status).toBe(403);
    expect(await download(key)).toHaveProperty('status', 200); // alice's first key still in its grace
    await alice.context.close();
    await bob.context.close();
  });
  it('shows 50 keys a page and the rest behind "More keys"', async () => {
    // Made (and revoked at once, so the plan's key limit holds) by the operator, beside bob's own.
    for (let i = 0; i < 55; i++) {
      const { record } = await operatorKeys.create({ name: `old ${i}`, ownerId: 'bob' });
      await operatorKeys.revoke(record.id);
    }
    const total = await operatorKeys.count({ ownerId: 'bob' });
    const bob = await signedIn('bob');
    const { page } = bob;
    expect(await page.locator('#rows tr').count()).toBe(50);
    expect(await page.textContent('#status')).toContain('50+ key(s).');
    await page.click('#more');
    await page.waitForFunction((n) => document.querySelectorAll('#rows tr').length === n, total);
    expect(await page.isHidden('#more')).toBe(true);
    const ids = await page.$$eval('#rows tr', (rows) => rows.map((row) => (row as HTMLElement).dataset.id));
    expect(ids).toEqual((await operatorKeys.list({ ownerId: 'bob' })).map((k) => k.id));
    await bob.context.close();
  });
});

describe('a page on another origin (CORS)', () => {
  it('uploads, processes and downloads with an access token, and reads a refusal code from JavaScript', async () => {
    // The page's origin: a plain server on its own port. The API allows it through KEYWARDEN_CORS_ORIGINS.
    const pageServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>another origin</title>');
    }).listen(0, '127.0.0.1');
    await new Promise((resolve) => pageServer.once('listening', resolve));
    const pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
    const { app, example } = await buildApp({
      keysFile: join(dir, 'cors-keys.json'),
      storageDir: join(dir, 'cors-storage'),
      corsOrigins: [pageOrigin],
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const api = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      const { token } = await example.keywarden.mintAccessToken((await example.keys.list())[0]!.id, {
        paths: ['/v3/file-ops/upload/', '/v3/tools/remove-bg/process/', '/v3/files/*'],
        expiresIn: 120,
      });
      const page = await browser.newPage();
      await page.goto(`${pageOrigin}/`);
      const image = (await testImage()).toString('base64');
      const outcome = await page.evaluate(
        async ({ api, token, image }) => {
          const auth = { Authorization: `AccessToken ${token}` };
          const bytes = Uint8Array.from(atob(image), (c) => c.charCodeAt(0));
          const form = new FormData();
          form.append('files', new Blob([bytes], { type: 'image/png' }), 'photo.png');
          form.append('upload_path', 'cors');
          const uploaded = await fetch(`${api}/v3/file-ops/upload/`, {
            method: 'POST',
            headers: auth,
            body: form,
          });
          const [input] = ((await uploaded.json()) as { file_paths: string[] }).file_paths;
          const processed = await fetch(`${api}/v3/tools/remove-bg/process/`, {
            method: 'POST',
            headers: { ...auth, 'Content-Type': 'application/json' },
            body: JSON.stringify({
              input_file_path: input,
              output_variants: [{ output_file_path: 'cors/out.png' }],
            }),
          });
          const remaining = processed.headers.get('ratelimit');
          const downloaded = await fetch(`${api}/v3/files/cors/out.png`, { headers: auth });
          const size = (await downloaded.arrayBuffer()).byteLength;
          const refused = await fetch(`${api}/v3/files/cors/out.png`, {
            headers: { Authorization: 'AccessToken x.y.z' },
          });
          const problem = (await refused.json()) as { code: string };
          return {
            upload: uploaded.status,
            process: processed.status,
            remaining,
            download: downloaded.status,
            size,
            refused: [refused.status, problem.code],
          };
        },
        { api, token, image },
      );
      expect(outcome).toMatchObject({
        upload: 200,
        process: 200,
        download: 200,
        refused: [401, 'invalid_credentials'],
      });
      expect(outcome.size).toBeGreaterThan(100);
      expect(outcome.remaining).toMatch(/"quota";r=\d+/); // exposed to the page by CORS
      await page.close();
    } finally {
      await app.close();
      pageServer.close();
    }
  }, 60_000);
});
