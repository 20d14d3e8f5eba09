import type { Keywarden } from '@keywarden/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixtures, makeFixtures } from '../src/fixtures.js';
import { type RawResponse, rawRequest } from '../src/raw-client.js';
import { SCENARIOS, type ServerKind } from '../src/scenarios.js';
import { type RunningServer, SERVERS } from '../src/servers.js';

const COMPARED_HEADERS = [
  'www-authenticate',
  'content-type',
  'cache-control',
  'retry-after',
  'ratelimit-policy',
  'ratelimit',
];
const KINDS: ServerKind[] = ['default', 'delegate', 'https'];

let fixtures: Fixtures;
const servers = new Map<ServerKind, RunningServer[]>();

beforeAll(async () => {
  fixtures = await makeFixtures();
  const variants: Record<ServerKind, [Keywarden, { delegateErrors?: boolean }]> = {
    default: [fixtures.keywarden, {}],
    delegate: [fixtures.keywarden, { delegateErrors: true }],
    https: [fixtures.httpsOnly, {}],
  };
  for (const kind of KINDS) {
    const [keywarden, variant] = variants[kind];
    servers.set(kind, await Promise.all(Object.values(SERVERS).map((start) => start(keywarden, variant))));
  }
});

afterAll(async () => {
  await Promise.all([...servers.values()].flat().map((server) => server.close()));
});

/** Replaces `{name}` placeholders with fixture values, in strings and nested values. */
function fill<T>(value: T): T {
  if (typeof value === 'string') {
    return value.replace(/\{(\w+)\}/g, (whole, name: string) => fixtures.values[name] ?? whole) as T;
  }
  if (Array.isArray(value)) return value.map(fill) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v)])) as T;
  }
  return value;
}

function comparable(response: RawResponse) {
  let body: unknown = response.body;
  try {
    body = JSON.parse(response.body);
  } catch {
    // not JSON: compare the text
  }
  if (body && typeof body === 'object' && 'access_token' in body) body = { ...body, access_token: '<token>' };
  // Counters are shared by the five servers, so remaining counts and reset times differ by design.
  const vary = (name: string, value: string | undefined) =>
    value === undefined
      ? null
      : name === 'retry-after'
        ? '#'
        : name.startsWith('ratelimit')
          ? value
              .replace(/([rt])=\d+/g, '$1=#')
              .replace(/"((?:account-)?quota)";q=(\d+);w=\d+/g, '"$1";q=$2;w=#')
          : value;
  const headers = Object.fromEntries(
    COMPARED_HEADERS.map((name) => [name, vary(name, response.headers[name])]),
  );
  return { status: response.status, headers, body };
}

describe.each(SCENARIOS.map((s) => [s.name, s] as const))('%s', (_name, scenario) => {
  it('answers as expected, identically on Express 4 and 5, Koa 2 and 3, Fastify 5 and plain Node', async () => {
    const targets = servers.get(scenario.server ?? 'default')!;
    const { name: _name, server: _server, expect: _expect, ...raw } = scenario;
    const request = fill(raw);
    const responses = await Promise.all(targets.map((server) => rawRequest(server.port, request)));
    const expected = fill(scenario.expect);
    responses.forEach((response, i) => {
      const where = `${targets[i]!.name}: ${scenario.name}`;
      const seen = comparable(response);
      expect(seen.status, where).toBe(expected.status);
      if (expected.code) {
        expect(seen.headers['content-type'], where).toBe('application/problem+json');
        expect(seen.body, where).toMatchObject({ code: expected.code, status: expected.status });
      }
      if (expected.challenge !== undefined)
        expect(seen.headers['www-authenticate'], where).toBe(expected.challenge);
      if (expected.body !== undefined) expect(seen.body, where).toMatchObject(expected.body as object);
      if (expected.headers) expect(seen.headers, where).toMatchObject(expected.headers);
      expect(response.body, `${where}: a secret in the response`).not.toContain(fixtures.values.full);
    });
    const [first, ...rest] = responses.map(comparable);
    for (const [i, other] of rest.entries()) {
      expect(other, `${targets[i + 1]!.name} differs from ${targets[0]!.name}`).toEqual(first);
    }
  });
});

describe('a token minted over HTTP works on every framework', () => {
  it('mint on each server, use on each server', async () => {
    const targets = servers.get('default')!;
    for (const minter of targets) {
      const minted = await rawRequest(minter.port, {
        method: 'POST',
        target: '/v3/auth/access-token/',
        headers: [['authorization', `Token ${fixtures.values.full}`]],
        body: '{"paths":["/v3/files/*"],"expires_in":30}',
      });
      expect(minted.status, minter.name).toBe(200);
      const { access_token: token } = JSON.parse(minted.body) as { access_token: string };
      for (const user of targets) {
        const used = await rawRequest(user.port, {
          method: 'GET',
          target: '/v3/files/x.png',
          headers: [['authorization', `AccessToken ${token}`]],
        });
        expect([minter.name, user.name, used.status]).toEqual([minter.name, user.name, 200]);
        const outside = await rawRequest(user.port, {
          method: 'GET',
          target: '/v3/admin',
          headers: [['authorization', `AccessToken ${token}`]],
        });
        expect(outside.status).toBe(401);
      }
    }
  });
});

it('runs every scenario on five framework versions and plain Node', () => {
  expect(Object.keys(SERVERS)).toEqual(['express4', 'express5', 'koa2', 'koa3', 'fastify5', 'node']);
  expect(SCENARIOS.length).toBeGreaterThanOrEqual(50);
});
