// Storage paths named in a body or a URL parameter follow the credential's path patterns: a key
// limited to /v3/files/public/* must not read private/ through a tool's input_file_path.
import { describe, expect, it } from 'vitest';
import {
  allowsPath,
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  generateTokenSecret,
  type Principal,
} from '../../src/index.js';

async function setup(paths: string[]) {
  const keys = createKeyManager({
    store: createMemoryKeyStore(),
    hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
  });
  const keywarden = createKeywarden({
    keys,
    requireHttps: false,
    tokens: { secrets: [{ id: 't', secret: generateTokenSecret() }] },
  });
  const { key, record } = await keys.create({ name: 'k', paths });
  const principal = async (authorization: string, url: string): Promise<Principal> => {
    const result = await keywarden.authenticate({ method: 'POST', url, headers: { authorization } });
    if (!result.ok) throw result.error;
    return result.principal;
  };
  return { key, record, keys, keywarden, principal };
}

describe('allowsPath', () => {
  it("holds a key's storage paths to its patterns, and refuses unsafe paths even for *", async () => {
    const { key, principal } = await setup(['/v3/files/public/*', '/v1/enhance']);
    const auth = await principal(`Token ${key}`, '/v1/enhance');
    expect(allowsPath(auth, '/v3/files/public/a.png')).toBe(true);
    for (const path of [
      '/v3/files/private/secret.png',
      '/v3/files/public/../private/secret.png',
      '/v3/files/public/%2e%2e/private/secret.png',
      '/v3/files/public/%E2%80%A5/private/secret.png',
      '/v3/files/public',
      'v3/files/public/a.png',
      '/v3/files/public/a.png?x=/v3/files/private/b.png',
    ])
      expect(allowsPath(auth, path), path).toBe(false);
    const everything = await setup(['*']);
    const wide = await everything.principal(`Token ${everything.key}`, '/v1/enhance');
    expect(allowsPath(wide, '/v3/files/any/a.png')).toBe(true);
    expect(allowsPath(wide, '/v3/files/../etc/passwd')).toBe(false);
    expect(allowsPath(wide, '/v3/files//a.png')).toBe(false);
  });

  it("holds a token to its own paths and to its key's, as they are now", async () => {
    const { record, keys, keywarden, principal } = await setup(['/v3/files/*', '/v1/enhance']);
    const minted = await keywarden.mintAccessToken(record.id, { paths: ['/v1/enhance'] });
    const enhanceOnly = await principal(`AccessToken ${minted.token}`, '/v1/enhance');
    expect(allowsPath(enhanceOnly, '/v3/files/a.png')).toBe(false); // it was minted for no file
    const both = await keywarden.mintAccessToken(record.id, {
      paths: ['/v1/enhance', '/v3/files/project/*'],
    });
    const scoped = await principal(`AccessToken ${both.token}`, '/v1/enhance');
    expect(allowsPath(scoped, '/v3/files/project/a.png')).toBe(true);
    expect(allowsPath(scoped, '/v3/files/other/a.png')).toBe(false);
    // The key narrowed after minting: the token's file paths no longer lie inside its key's.
    await keys.update(record.id, { paths: ['/v1/enhance', '/v3/files/elsewhere/*'] });
    const again = await principal(`AccessToken ${both.token}`, '/v1/enhance');
    expect(allowsPath(again, '/v3/files/project/a.png')).toBe(false);
  });

  it('checks a principal made by hand against its own paths', () => {
    expect(allowsPath({ paths: ['/v3/files/a/*'] }, '/v3/files/a/b.png')).toBe(true);
    expect(allowsPath({ paths: ['/v3/files/a/*'] }, '/v3/files/b/b.png')).toBe(false);
  });
});
