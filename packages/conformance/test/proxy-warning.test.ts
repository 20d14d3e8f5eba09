// requireHttps behind a TLS proxy the framework does not trust: every request is refused, so the
// server's log says why, once per application, on every framework.
import {
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  generateTokenSecret,
} from '@keywarden/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningServer, SERVERS } from '../src/servers.js';

const running: RunningServer[] = [];
const warnings: Error[] = [];
const onWarning = (warning: Error) => {
  if ((warning as Error & { code?: string }).code === 'KEYWARDEN_HTTPS_PROXY') warnings.push(warning);
};
process.on('warning', onWarning);
afterEach(async () => {
  warnings.length = 0;
  await Promise.all(running.splice(0).map((server) => server.close()));
});

describe.each(Object.keys(SERVERS))('requireHttps behind an untrusted proxy on %s', (framework) => {
  it('refuses with the reason in detail, and warns once with the setting to change', async () => {
    const keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    });
    const { key } = await keys.create({ name: 'proxied' });
    const server = await SERVERS[framework]!(
      createKeywarden({
        keys,
        requireHttps: true,
        tokens: { secrets: [{ id: 'main', secret: generateTokenSecret() }] },
      }),
      {},
    );
    running.push(server);
    // What a TLS-terminating proxy sends on: the client's scheme in X-Forwarded-Proto.
    const ask = () =>
      fetch(`http://127.0.0.1:${server.port}/v3/files/a.png`, {
        headers: { 'x-api-key': key, 'x-forwarded-proto': 'https' },
      });
    for (let i = 0; i < 3; i++) {
      const response = await ask();
      const body = (await response.json()) as { code: string; detail: string };
      expect([response.status, body.code]).toEqual([403, 'https_required']);
      expect(body.detail).toMatch(/trust/);
    }
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/requireHttps is on and .*trusts no proxy|TLS socket/);
    expect(warnings[0]!.message).not.toContain(key);
  });
});
