// docs/openapi.md's securitySchemes, used the way OpenAPI tooling uses them: for each scheme, the
// request a generated client would send; a real server must accept it with a credential of the
// right kind and refuse it with a wrong one. The refusal codes it lists are the core's, with their
// statuses.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AUTH_ERROR_STATUS,
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  formatApiKey,
  generateTokenSecret,
} from '@keywarden/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type RunningServer, SERVERS } from '../src/servers.js';

interface Scheme {
  type: 'apiKey' | 'http';
  in?: string;
  name?: string;
  scheme?: string;
  bearerFormat?: string;
}
interface Snippet {
  components: {
    securitySchemes: Record<string, Scheme>;
    responses: { AuthProblem: { description: string } };
  };
  security: Record<string, string[]>[];
}

/** The headers an OpenAPI client sends for `scheme` with `credential`. */
function headersFor(scheme: Scheme, credential: string): Record<string, string> {
  if (scheme.type === 'apiKey' && scheme.in === 'header') return { [scheme.name!]: credential };
  if (scheme.type === 'http') return { authorization: `${scheme.scheme} ${credential}` };
  throw new Error(`a scheme no client of ours sends: ${JSON.stringify(scheme)}`);
}

let snippet: Snippet;
let server: RunningServer;
let key: string;
let wrongKey: string;
let token: string;
beforeAll(async () => {
  const markdown = await readFile(join(import.meta.dirname, '..', '..', '..', 'docs', 'openapi.md'), 'utf8');
  const [yaml] = [...markdown.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  snippet = parse(yaml!) as Snippet;
  const keys = createKeyManager({
    store: createMemoryKeyStore(),
    hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
  });
  const keywarden = createKeywarden({
    keys,
    requireHttps: false,
    tokens: { secrets: [{ id: 'main', secret: generateTokenSecret() }] },
  });
  const created = await keys.create({ name: 'openapi' });
  key = created.key;
  wrongKey = formatApiKey(created.record.prefix, created.record.id, 'W'.repeat(32));
  token = (await keywarden.mintAccessToken(created.record.id, { paths: ['/v3/files/*'] })).token;
  server = await SERVERS.node!(keywarden, {});
}, 30_000);
afterAll(() => server?.close());

const get = (headers: Record<string, string>) =>
  fetch(`http://127.0.0.1:${server.port}/v3/files/a.png`, { headers });

describe('docs/openapi.md', () => {
  it('describes the four credential forms, all of them required alternatives', () => {
    const schemes = snippet.components.securitySchemes;
    expect(Object.keys(schemes)).toEqual(['ApiKeyHeader', 'ApiKeyBearer', 'ApiKeyToken', 'AccessToken']);
    expect(snippet.security).toEqual(Object.keys(schemes).map((name) => ({ [name]: [] })));
  });

  it('each API-key scheme, sent as a client would, is accepted with the key and refused with a wrong one', async () => {
    for (const name of ['ApiKeyHeader', 'ApiKeyBearer', 'ApiKeyToken']) {
      const scheme = snippet.components.securitySchemes[name]!;
      expect((await get(headersFor(scheme, key))).status, name).toBe(200);
      const refused = await get(headersFor(scheme, wrongKey));
      expect(refused.status, name).toBe(401);
      expect(((await refused.json()) as { code: string }).code).toBe('invalid_credentials');
    }
  });

  it('the AccessToken scheme is accepted with a token, and a key is not a token', async () => {
    const scheme = snippet.components.securitySchemes.AccessToken!;
    expect(scheme.bearerFormat).toBe('JWT');
    expect((await get(headersFor(scheme, token))).status).toBe(200);
    expect((await get(headersFor(scheme, key))).status).toBe(401);
    // A token is not a key either, under any of the key schemes.
    expect((await get(headersFor(snippet.components.securitySchemes.ApiKeyHeader!, token))).status).toBe(400);
  });

  it('a request without a credential is challenged with every http scheme the snippet names', async () => {
    const refused = await get({});
    expect(refused.status).toBe(401);
    const challenge = refused.headers.get('www-authenticate')!.toLowerCase();
    for (const scheme of Object.values(snippet.components.securitySchemes))
      if (scheme.type === 'http') expect(challenge).toContain(scheme.scheme!.toLowerCase());
  });

  it('lists every refusal code with its status', () => {
    const { description } = snippet.components.responses.AuthProblem;
    const listed = [...description.matchAll(/([a-z_]+) \((\d{3})\)/g)].map((m) => [m[1], Number(m[2])]);
    expect(Object.fromEntries(listed)).toEqual(AUTH_ERROR_STATUS);
  });
});
