// Property-based tests over raw HTTP against all five servers: arbitrary header sets, request
// targets and token strings never produce a 5xx, a dropped connection, or a success without a valid
// credential; and, differentially against each framework's own router, a path-scoped credential
// never reaches a handler whose route lies outside its patterns.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixtures, makeFixtures } from '../src/fixtures.js';
import { rawRequest } from '../src/raw-client.js';
import { type RunningServer, SERVERS } from '../src/servers.js';

let fixtures: Fixtures;
const servers: RunningServer[] = [];
beforeAll(async () => {
  fixtures = await makeFixtures();
  for (const start of Object.values(SERVERS)) servers.push(await start(fixtures.keywarden, {}));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

const PREFIXES = [
  '/v3/files/',
  '/v3/file-ops/upload/',
  '/v3/tools/resize/process/',
  '/v3/tools/upscale/process/',
  '/v3/admin',
  '/v3/boom',
  '/public/health',
  '/',
];
// Path pieces that routers and decoders treat specially.
const PIECES = [
  'a',
  'b.png',
  '.',
  '..',
  '%2e',
  '%2E%2e',
  '%2f',
  '%5c',
  '%25',
  '%',
  '//',
  '/',
  '\\',
  '~',
  '*',
  ';',
  '%00',
  'é',
  '%C3%A9',
  '%C0%AE',
  '%E6%97%A5',
  '%252e',
  '%3b',
  '..;',
  '%E2%80%A5',
  '%EF%BC%8E',
  '%EF%BC%8F',
  '%20',
];
const target = fc
  .tuple(
    fc.constantFrom(...PREFIXES),
    fc.array(fc.constantFrom(...PIECES), { maxLength: 6 }),
    fc.constantFrom('', '?x=1', '?api_key=k', '#f'),
  )
  .map(([prefix, pieces, query]) => prefix + pieces.join('') + query)
  .filter((t) => /^[\x21-\x7e]*$/.test(t)); // a request line cannot hold spaces or raw non-ASCII
const method = fc.constantFrom('GET', 'POST');
/** Targets below /v3/files/, mostly plain, sometimes with a trick in them. */
const filesTarget = fc
  .array(
    fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('a', 'b.png', 'x/', 'y-1') },
      { weight: 1, arbitrary: fc.constantFrom(...PIECES) },
    ),
    {
      minLength: 1,
      maxLength: 5,
    },
  )
  .map((pieces) => `/v3/files/${pieces.join('')}`)
  .filter((t) => /^[\x21-\x7e]*$/.test(t));

function credentialHeaders(): fc.Arbitrary<[string, string][]> {
  const value = fc.oneof(
    fc.constantFrom('{full}', '{files}', '{filesToken}', '{revoked}', '{tamperedToken}', '{wrongSecret}'),
    fc.stringMatching(/^[\x21-\x7e]{0,60}$/),
  );
  const header = fc.oneof(
    value.map((v): [string, string] => ['x-api-key', v]),
    fc
      .tuple(fc.constantFrom('Bearer', 'Token', 'AccessToken', 'Basic', 'bearer', ''), value)
      .map(([s, v]): [string, string] => ['authorization', `${s} ${v}`.trim()]),
  );
  return fc.array(header, { maxLength: 3 });
}

const fill = (text: string) =>
  text.replace(/\{(\w+)\}/g, (whole, name: string) => fixtures.values[name] ?? whole);

describe('fuzzing every adapter over raw HTTP', () => {
  it('never answers 5xx, never drops the connection, never lets an invalid or missing credential through', async () => {
    await fc.assert(
      fc.asyncProperty(method, target, credentialHeaders(), async (m, t, headers) => {
        const filled = headers.map(([name, value]): [string, string] => [name, fill(value)]);
        const responses = await Promise.all(
          servers.map((s) => rawRequest(s.port, { method: m, target: t, headers: filled })),
        );
        const valid = new Set([fixtures.values.full, fixtures.values.files, fixtures.values.filesToken]);
        const presented = filled.map(([, v]) => v.replace(/^\S+ /, ''));
        const oneValid = filled.length === 1 && valid.has(presented[0]!);
        for (const [i, response] of responses.entries()) {
          const where = `${servers[i]!.name} ${m} ${t} ${JSON.stringify(headers)}`;
          // 418 is the user's handler for /v3/boom: it throws on purpose.
          expect(response.status < 500, where).toBe(true);
          const body = (() => {
            try {
              return JSON.parse(response.body) as { route?: string; auth?: { keyId: string } };
            } catch {
              return {};
            }
          })();
          if (body.auth) {
            // A handler ran with a principal: exactly one valid credential was presented...
            expect(oneValid, where).toBe(true);
            // ...and if it was path-scoped (the files key or token), the router's route is inside it.
            if (presented[0] === fixtures.values.files || presented[0] === fixtures.values.filesToken) {
              expect(body.route, where).toBe('files');
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  }, 120_000);

  it('a path-scoped key or token reaches only handlers of routes inside its patterns, on every router', async () => {
    let reached = 0;
    const scoped = fc.constantFrom<[string, string]>(
      ['x-api-key', '{files}'],
      ['authorization', 'Token {files}'],
      ['authorization', 'Bearer {files}'],
      ['authorization', 'AccessToken {filesToken}'],
    );
    await fc.assert(
      fc.asyncProperty(
        method,
        fc.oneof({ weight: 3, arbitrary: filesTarget }, { weight: 1, arbitrary: target }),
        scoped,
        async (m, t, [name, value]) => {
          const headers: [string, string][] = [[name, fill(value)]];
          for (const server of servers) {
            const response = await rawRequest(server.port, { method: m, target: t, headers });
            expect(response.status < 500, `${server.name} ${m} ${t}`).toBe(true);
            if (response.status !== 200 || !response.body.includes('"auth"')) continue;
            reached++;
            expect(
              (JSON.parse(response.body) as { route: string }).route,
              `${server.name} ${m} ${t} ${name}`,
            ).toBe('files');
          }
        },
      ),
      { numRuns: 300 },
    );
    expect(reached).toBeGreaterThan(100); // the property really exercised handlers
  }, 120_000);
});
