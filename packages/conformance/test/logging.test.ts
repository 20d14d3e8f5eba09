// Refusals and store failures reach the application's logger on every framework, joined to the
// request by its id, and nothing logged holds a key: a real keys file, real servers, real sockets.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  formatApiKey,
  generateTokenSecret,
  type KeywardenLogger,
  openFileKeyStore,
} from '@keywarden/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningServer, SERVERS } from '../src/servers.js';

interface Line {
  level: 'info' | 'warn' | 'error';
  fields: { reqId?: string; keywarden?: Record<string, unknown> };
  message: string;
}
function captured(): { logger: KeywardenLogger; lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: Line['level']) =>
    (fields: object, message: string): void => {
      lines.push({ level, fields: fields as Line['fields'], message });
    };
  return { logger: { info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

const cleanup: (() => Promise<unknown>)[] = [];
const keysFileWarnings: Error[] = [];
process.on('warning', (warning: Error & { code?: string }) => {
  if (warning.code === 'KEYWARDEN_KEYS_FILE') keysFileWarnings.push(warning);
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  // Closing a store over a broken file warns (no logger listens any more); not the next test's.
  await new Promise((resolve) => setImmediate(resolve));
  keysFileWarnings.length = 0;
});

async function until<T>(check: () => T | undefined, ms = 5000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(Object.keys(SERVERS))('logging on %s', (framework) => {
  it('logs refusals with the request id and the reason, successes not at all, and a corrupt keys file as an error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keywarden-log-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'keys.json');
    const store = await openFileKeyStore({ path, watch: true });
    cleanup.push(() => store.close());
    const keys = createKeyManager({ store, hasher: createHmacHasher({ pepper: 'p'.repeat(32) }) });
    const { key, record } = await keys.create({ name: 'logged' });
    const keywarden = createKeywarden({
      keys,
      requireHttps: false,
      tokens: { secrets: [{ id: 'main', secret: generateTokenSecret() }] },
    });
    const { logger, lines } = captured();
    const server: RunningServer = await SERVERS[framework]!(keywarden, { logger });
    cleanup.push(() => server.close());
    const ask = (apiKey: string, requestId: string) =>
      fetch(`http://127.0.0.1:${server.port}/v3/files/a.png`, {
        headers: { 'x-api-key': apiKey, 'x-request-id': requestId },
      });

    expect((await ask(key, 'req-ok')).status).toBe(200);
    // The right id and checksum, another secret: refused after the hash, as wrong_secret.
    const wrong = formatApiKey(record.prefix, record.id, 'W'.repeat(32));
    expect((await ask(wrong, 'req-wrong')).status).toBe(401);
    expect(lines).toEqual([
      {
        level: 'info',
        fields: {
          reqId: 'req-wrong',
          keywarden: expect.objectContaining({
            code: 'invalid_credentials',
            reason: 'wrong_secret',
            keyId: record.id,
            path: '/v3/files/a.png',
          }),
        },
        message: 'keywarden refused the request: invalid_credentials (wrong_secret)',
      },
    ]);

    // Another process (an editor, a bad deploy) leaves the keys file broken: the server keeps its
    // last good keys and says so in the application's log, not only on stderr.
    await writeFile(path, '{"version": 1, "keys": [\n  {"id": oops}\n]}\n');
    // The watcher may see the file half written first (empty: "line 1"); the broken file follows.
    const failure = await until(() =>
      lines.find((line) => line.level === 'error' && /line 2/.test(line.message)),
    );
    expect(failure.message).toMatch(/^keywarden store error \(keys file reload\): /);
    expect(failure.message).toContain(path);
    expect(failure.message).toMatch(/line 2/);
    expect((await ask(key, 'req-after')).status).toBe(200);
    expect(keysFileWarnings).toEqual([]);

    const everything = JSON.stringify(lines);
    for (const secret of [key, wrong, key.slice(-20), wrong.slice(-20)])
      expect(everything).not.toContain(secret);
  });
});
