// The self-service key portal on every adapter, over real sockets: each route, each policy rule,
// owners kept apart (another owner's id is a 404), CSRF refusals, audit events. The signed-in
// owner comes from a test header standing in for the provider's session.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  type KeyManager,
  type Keywarden,
  type KeywardenEvent,
  PORTAL_CSRF_HEADER,
  type PortalPolicy,
} from '@keywarden/core';
import { createExpressAuth } from '@keywarden/express';
import { keywardenFastify, keywardenPortal } from '@keywarden/fastify';
import { createKoaAuth } from '@keywarden/koa';
import { createNodeAuth } from '@keywarden/node';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MOUNT = '/account/api-keys';
const POLICY: PortalPolicy = {
  maxKeysPerOwner: 3,
  scopes: ['images:read', 'images:write'],
  paths: ['/v3/files/*', '/v3/tools/*'],
  environments: ['live', 'test'],
  rateLimit: { limit: 100, windowSeconds: 60 },
  quota: { limit: 50, period: 'month' },
  maxExpiresInSeconds: 90 * 86_400,
  rotationGraceSeconds: { default: 3600, max: 86_400 },
};
/** The portal policy of accounts on plan `pro` (others on a plan get POLICY). */
const PLAN_POLICIES: Record<string, PortalPolicy> = { pro: { ...POLICY, scopes: ['images:read'] } };
/** The plans accounts are on: `free` holds one key, `pro` five (past POLICY's three). */
const PLANS = { free: { maxKeys: 1, quota: { limit: 20, period: 'month' as const } }, pro: { maxKeys: 5 } };
/** Stands for the provider's session: which customer is signed in. */
const owner = (request: { headers: Record<string, unknown> }) =>
  (request.headers['x-test-owner'] as string) ?? null;

interface Running {
  base: string;
  close(): Promise<void>;
}
type Factory = (keywarden: Keywarden) => Promise<Running>;

const listening = (server: import('node:http').Server): Promise<Running> =>
  new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve({
        base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise((done) => server.close(() => done())),
      }),
    );
  });

// Each: the portal at MOUNT, and GET /v3/files/* behind keywarden (to use the keys it makes).
const SERVERS: Record<string, Factory> = {
  async express(keywarden) {
    const auth = createExpressAuth(keywarden);
    const app = express();
    app.use(MOUNT, auth.portal({ resolveOwner: owner, policy: POLICY, plans: PLAN_POLICIES }));
    app.get(/^\/v3\/files\/.+/, auth.authenticate(), (_req, res) => {
      res.json({ ok: true });
    });
    return listening(createServer(app));
  },
  async koa(keywarden) {
    const auth = createKoaAuth(keywarden);
    const app = new Koa();
    app.use(
      auth.portal({
        path: MOUNT,
        resolveOwner: (ctx) => owner(ctx.request),
        policy: POLICY,
        plans: PLAN_POLICIES,
      }),
    );
    app.use(auth.authenticate());
    app.use((ctx) => {
      ctx.body = { ok: true };
    });
    return listening(createServer(app.callback()));
  },
  async fastify(keywarden) {
    const app = Fastify();
    await app.register(keywardenFastify, { keywarden });
    await app.register(keywardenPortal, {
      prefix: MOUNT,
      keywarden,
      resolveOwner: owner,
      policy: POLICY,
      plans: PLAN_POLICIES,
    });
    app.get('/v3/files/*', async () => ({ ok: true }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    return {
      base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
      close: () => app.close(),
    };
  },
  async node(keywarden) {
    const auth = createNodeAuth(keywarden);
    const portal = auth.portal({ path: MOUNT, resolveOwner: owner, policy: POLICY, plans: PLAN_POLICIES });
    const guard = auth.authenticate();
    return listening(
      createServer(async (req, res) => {
        if (await portal(req, res)) return;
        if (await guard(req, res))
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      }),
    );
  },
};

describe.each(Object.entries(SERVERS))('the key portal on %s', (_name, factory) => {
  let server: Running;
  let keys: KeyManager; // the operator's side: keys made outside the portal
  const events: KeywardenEvent[] = [];
  beforeAll(async () => {
    keys = createKeyManager({
      store: createMemoryKeyStore(),
      hasher: createHmacHasher({ pepper: 'p'.repeat(32) }),
    });
    const keywarden = createKeywarden({
      keys,
      requireHttps: false,
      plans: PLANS,
      onEvent: (event) => events.push(event),
    });
    await keys.accounts.create({ id: 'kate', plan: 'free' });
    await keys.accounts.create({ id: 'leo', plan: 'pro' });
    server = await factory(keywarden);
  }, 30_000);
  afterAll(() => server.close());

  /** A portal call as a signed-in owner's page makes it (custom header, own Origin). */
  function call(
    who: string | null,
    method: string,
    path: string,
    body?: unknown,
    extra: Record<string, string> = {},
  ) {
    const headers: Record<string, string> = { [PORTAL_CSRF_HEADER]: '1', origin: server.base, ...extra };
    if (who !== null) headers['x-test-owner'] = who;
    if (body !== undefined) headers['content-type'] = 'application/json';
    return fetch(`${server.base}${MOUNT}/${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
  }
  async function answer(response: Response) {
    // biome-ignore lint/suspicious/noExplicitAny: the test reads whatever JSON each route answers
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  }
  const create = async (who: string, body: Record<string, unknown> = { name: 'backend' }) =>
    answer(await call(who, 'POST', 'keys', body));
  const use = (key: string) => fetch(`${server.base}/v3/files/a.png`, { headers: { 'x-api-key': key } });

  it('answers 401 to nobody signed in, on every route', async () => {
    for (const [method, path] of [
      ['GET', 'keys'],
      ['POST', 'keys'],
      ['PATCH', 'keys/abc'],
      ['POST', 'keys/abc/rotate'],
      ['POST', 'keys/abc/revoke'],
      ['GET', 'keys/abc/usage'],
    ] as const) {
      const { status, body } = await answer(
        await call(null, method, path, method === 'GET' ? undefined : {}),
      );
      expect([status, body.code]).toEqual([401, 'sign_in_required']);
    }
  });

  it('creates a key within the policy: the plaintext once, the policy limits, no hash anywhere', async () => {
    const { status, body } = await create('alice', { name: 'alice backend', scopes: ['images:read'] });
    expect(status).toBe(201);
    expect(body.key).toMatch(/^kw_live_/);
    expect(body.record).toMatchObject({
      name: 'alice backend',
      scopes: ['images:read'],
      paths: POLICY.paths,
      rateLimit: POLICY.rateLimit,
      quota: POLICY.quota,
    });
    expect(JSON.stringify(body.record)).not.toMatch(/hash|\$hmac/);
    expect((await use(body.key)).status).toBe(200);
    const listed = await answer(await call('alice', 'GET', 'keys'));
    expect(listed.body.keys).toHaveLength(1);
    expect(listed.body.keys[0]).toMatchObject({
      id: body.record.id,
      usage: { period: 'month', used: 1, remaining: 49 },
    });
    expect(JSON.stringify(listed.body)).not.toContain(body.key);
    expect(JSON.stringify(listed.body)).not.toMatch(/hash/);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'portal.action',
        owner: 'alice',
        action: 'create',
        keyId: body.record.id,
      }),
    );
  });

  it('holds every policy rule', async () => {
    const refusals: [Record<string, unknown>, number, string][] = [
      [{ name: 'x', scopes: ['admin'] }, 400, 'scope_not_allowed'],
      [{ name: 'x', paths: ['/v3/admin/*'] }, 400, 'path_not_allowed'],
      [{ name: 'x', paths: ['*'] }, 400, 'path_not_allowed'],
      [{ name: 'x', paths: [] }, 400, 'path_not_allowed'],
      [{ name: 'x', environment: 'prod' }, 400, 'invalid_parameter'],
      [{ name: 'x', expires_in: 91 * 86_400 }, 400, 'invalid_parameter'],
      [{ name: 'x', expires_in: 10 }, 400, 'invalid_parameter'],
      [{ name: 'x', ips: ['not an address'] }, 400, 'invalid_parameter'],
      [{ name: 'x', quota: { limit: 1e9, period: 'month' } }, 400, 'invalid_body'],
      [{ name: 'x', rateLimit: null }, 400, 'invalid_body'],
      [{ name: '' }, 400, 'invalid_parameter'],
      [{ name: 'invoice\u202Egnp.exe' }, 400, 'invalid_parameter'],
      [{ name: 'a\u0085b' }, 400, 'invalid_parameter'],
      [{}, 400, 'invalid_parameter'],
    ];
    for (const [body, status, code] of refusals) {
      const refused = await create('carol', body);
      expect([refused.status, refused.body.code]).toEqual([status, code]);
      expect(refused.body.detail).toEqual(expect.any(String));
    }
    const broken = await answer(await call('carol', 'POST', 'keys', '{"name":'));
    expect([broken.status, broken.body.code]).toEqual([400, 'invalid_json']);
    // Within the policy: a test key, narrower paths, an expiry; then the per-owner maximum.
    const made = await create('carol', {
      name: 'ok',
      environment: 'test',
      paths: ['/v3/files/carol/*'],
      expires_in: 3600,
    });
    expect(made.status).toBe(201);
    expect(made.body.key).toMatch(/^kw_test_/);
    expect(new Date(made.body.record.expiresAt).getTime()).toBeGreaterThan(Date.now() + 3500_000);
    await create('carol');
    await create('carol');
    const fourth = await create('carol');
    expect([fourth.status, fourth.body.code]).toEqual([409, 'too_many_keys']);
  });

  it("keeps owners apart: bob sees none of alice's keys and gets 404 for her ids on every route", async () => {
    const alice = await create('alice', { name: 'for bob to probe' });
    const id = alice.body.record.id;
    expect((await answer(await call('bob', 'GET', 'keys'))).body.keys).toEqual([]);
    for (const [method, path, body] of [
      ['PATCH', `keys/${id}`, { name: 'mine now' }],
      ['POST', `keys/${id}/rotate`, {}],
      ['POST', `keys/${id}/revoke`, {}],
      ['GET', `keys/${id}/usage`, undefined],
    ] as const) {
      const probed = await answer(await call('bob', method, path, body));
      expect([probed.status, probed.body.code]).toEqual([404, 'not_found']);
    }
    // Unknown ids and junk ids look the same.
    for (const junk of ['nope', 'x'.repeat(100), '..%2f..', '%00'])
      expect((await call('bob', 'POST', `keys/${junk}/revoke`, {})).status).toBe(404);
    expect((await use(alice.body.key)).status).toBe(200); // untouched
  });

  it("pages the keys oldest first with a cursor that must be one of the owner's keys", async () => {
    const made: string[] = [];
    for (let i = 0; i < 5; i++)
      made.push((await keys.create({ name: `page ${i}`, ownerId: 'paula' })).record.id);
    const seen: string[] = [];
    let query = 'keys?limit=2';
    for (;;) {
      const { status, body } = await answer(await call('paula', 'GET', query));
      expect(status).toBe(200);
      expect(body.keys.length).toBeLessThanOrEqual(2);
      seen.push(...body.keys.map((key: { id: string }) => key.id));
      if (body.next === null) break;
      expect(body.next).toBe(seen.at(-1));
      query = `keys?limit=2&after=${body.next}`;
    }
    // Keys made in the same millisecond follow their ids: the operator's list order.
    expect(seen).toEqual((await keys.list({ ownerId: 'paula' })).map((key) => key.id));
    expect([...seen].sort()).toEqual([...made].sort());
    expect((await answer(await call('paula', 'GET', 'keys'))).body).toMatchObject({ next: null });
    const alices = (await create('alice', { name: 'not a cursor for paula' })).body.record.id;
    for (const bad of ['limit=0', 'limit=101', 'limit=x', `after=${alices}`, 'after=nope', 'after='])
      expect(await answer(await call('paula', 'GET', `keys?${bad}`))).toMatchObject({
        status: 400,
        body: { code: 'invalid_parameter' },
      });
  });

  it('refuses state-changing calls without the custom header or from another origin (CSRF)', async () => {
    const before = (await answer(await call('dave', 'GET', 'keys'))).body.keys.length;
    const noHeader = await fetch(`${server.base}${MOUNT}/keys`, {
      method: 'POST',
      headers: { 'x-test-owner': 'dave', 'content-type': 'application/json', origin: server.base },
      body: JSON.stringify({ name: 'csrf' }),
    });
    expect([noHeader.status, ((await noHeader.json()) as { code: string }).code]).toEqual([403, 'csrf']);
    const otherOrigin = await call(
      'dave',
      'POST',
      'keys',
      { name: 'csrf' },
      { origin: 'https://evil.example' },
    );
    expect([otherOrigin.status, ((await otherOrigin.json()) as { code: string }).code]).toEqual([
      403,
      'csrf',
    ]);
    // A form post (no custom header possible) is refused too.
    const form = await fetch(`${server.base}${MOUNT}/keys`, {
      method: 'POST',
      headers: { 'x-test-owner': 'dave', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'name=csrf',
    });
    expect(form.status).toBe(403);
    expect((await answer(await call('dave', 'GET', 'keys'))).body.keys).toHaveLength(before);
  });

  it('renames and narrows a key, never widens it past the policy', async () => {
    const made = await create('erin', { name: 'wide' });
    const id = made.body.record.id;
    const patched = await answer(
      await call('erin', 'PATCH', `keys/${id}`, { name: 'narrow', scopes: ['images:read'] }),
    );
    expect([patched.status, patched.body.record.name, patched.body.record.scopes]).toEqual([
      200,
      'narrow',
      ['images:read'],
    ]);
    const wider = await answer(await call('erin', 'PATCH', `keys/${id}`, { scopes: ['admin'] }));
    expect([wider.status, wider.body.code]).toEqual([400, 'scope_not_allowed']);
    const pathsOut = await answer(await call('erin', 'PATCH', `keys/${id}`, { paths: ['*'] }));
    expect([pathsOut.status, pathsOut.body.code]).toEqual([400, 'path_not_allowed']);
    const limits = await answer(await call('erin', 'PATCH', `keys/${id}`, { quota: null }));
    expect([limits.status, limits.body.code]).toEqual([400, 'invalid_body']);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'portal.action', action: 'update', keyId: id }),
    );
  });

  it('rotates (both keys work during the grace, bounded by the policy) and revokes at once', async () => {
    const made = await create('frank', { name: 'rotating' });
    const id = made.body.record.id;
    const tooLong = await answer(await call('frank', 'POST', `keys/${id}/rotate`, { grace_seconds: 86_401 }));
    expect([tooLong.status, tooLong.body.code]).toEqual([400, 'invalid_parameter']);
    const rotated = await answer(await call('frank', 'POST', `keys/${id}/rotate`, { grace_seconds: 600 }));
    expect(rotated.status).toBe(201);
    const graceEnd = new Date(rotated.body.old_key_expires_at).getTime();
    expect(graceEnd).toBeGreaterThan(Date.now() + 590_000);
    expect(graceEnd).toBeLessThanOrEqual(Date.now() + 600_000);
    expect([(await use(made.body.key)).status, (await use(rotated.body.key)).status]).toEqual([200, 200]);
    const revoked = await answer(await call('frank', 'POST', `keys/${rotated.body.record.id}/revoke`));
    expect(revoked.status).toBe(200);
    expect(revoked.body.record.revokedAt).not.toBeNull();
    expect((await use(rotated.body.key)).status).toBe(401);
    const again = await answer(await call('frank', 'POST', `keys/${rotated.body.record.id}/rotate`, {}));
    expect([again.status, again.body.code]).toEqual([409, 'key_inactive']);
    for (const action of ['rotate', 'revoke'])
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'portal.action', owner: 'frank', action }),
      );
  });

  it('counts a rotation against the key limit, and never rotates a replaced key again', async () => {
    const made: { key: string; record: { id: string } }[] = [];
    for (let i = 0; i < POLICY.maxKeysPerOwner!; i++)
      made.push((await create('hank', { name: `k${i}` })).body as (typeof made)[number]);
    const [first, second] = made as [(typeof made)[number], (typeof made)[number]];
    const id = first.record.id;
    // At the limit, the old key's grace period would make one key too many.
    const withGrace = await answer(await call('hank', 'POST', `keys/${id}/rotate`, { grace_seconds: 600 }));
    expect([withGrace.status, withGrace.body.code]).toEqual([409, 'too_many_keys']);
    const now = await answer(await call('hank', 'POST', `keys/${id}/rotate`, { grace_seconds: 0 }));
    expect(now.status).toBe(201);
    // Ten more rotations of the same key: each refused, the key count never grows.
    for (let i = 0; i < 10; i++) {
      const again = await answer(await call('hank', 'POST', `keys/${id}/rotate`, { grace_seconds: 0 }));
      expect([again.status, again.body.code]).toEqual([409, 'key_replaced']);
    }
    const working = async () => {
      const all = [now.body.key, ...made.map((m) => m.key)];
      return (await Promise.all(all.map(async (key) => (await use(key)).status))).filter((s) => s === 200)
        .length;
    };
    expect(await working()).toBe(POLICY.maxKeysPerOwner);
    // Ten rotations of one key at once: one succeeds.
    await answer(await call('hank', 'POST', `keys/${second.record.id}/revoke`));
    const successor = now.body.record.id;
    const parallel = await Promise.all(
      Array.from({ length: 10 }, async () =>
        answer(await call('hank', 'POST', `keys/${successor}/rotate`, { grace_seconds: 600 })),
      ),
    );
    expect(parallel.filter((r) => r.status === 201)).toHaveLength(1);
    expect(
      parallel.filter((r) => r.body.code === 'key_replaced' || r.body.code === 'too_many_keys'),
    ).toHaveLength(9);
    const listed = (await answer(await call('hank', 'GET', 'keys'))).body.keys as {
      expiresAt: string | null;
      revokedAt: string | null;
    }[];
    const activeNow = listed.filter(
      (k) => k.revokedAt === null && (k.expiresAt === null || Date.parse(k.expiresAt) > Date.now()),
    );
    expect(activeNow.length).toBeLessThanOrEqual(POLICY.maxKeysPerOwner!);
  });

  it('limits the keys an owner makes per window: revoking a key gives no creation back', async () => {
    for (let i = 0; i < 10; i++) {
      const made = await create('jack', { name: `churn ${i}` });
      expect(made.status).toBe(201);
      expect((await answer(await call('jack', 'POST', `keys/${made.body.record.id}/revoke`))).status).toBe(
        200,
      );
    }
    const refused = await call('jack', 'POST', 'keys', { name: 'one more' });
    expect([refused.status, ((await refused.json()) as { code: string }).code]).toEqual([
      429,
      'too_many_creations',
    ]);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(3000);
    const listed = (await answer(await call('jack', 'GET', 'keys'))).body.keys as unknown[];
    expect(listed).toHaveLength(10);
  });

  it("takes an account's plan: its policy and key limit, its usage, and a suspension that freezes its keys", async () => {
    expect((await create('kate', { name: 'only' })).status).toBe(201);
    const second = await create('kate', { name: 'second' });
    expect([second.status, second.body.code, second.body.detail]).toEqual([
      409,
      'too_many_keys',
      expect.stringContaining('at most 1 '),
    ]);
    // pro: the plan's policy (images:read only) and five keys, past the portal policy's three.
    const wide = await create('leo', { name: 'writer', scopes: ['images:write'] });
    expect([wide.status, wide.body.code]).toEqual([400, 'scope_not_allowed']);
    for (let i = 0; i < 5; i++) expect((await create('leo', { name: `k${i}` })).status).toBe(201);
    expect((await create('leo', { name: 'sixth' })).body.code).toBe('too_many_keys');
    const kateKey = ((await answer(await call('kate', 'GET', 'keys'))).body.keys as { id: string }[])[0]!;
    const { key } = (
      await answer(await call('kate', 'POST', `keys/${kateKey.id}/rotate`, { grace_seconds: 0 }))
    ).body;
    expect((await use(key)).status).toBe(200);
    const account = await answer(await call('kate', 'GET', 'account'));
    expect(account.body.account).toMatchObject({
      id: 'kate',
      plan: 'free',
      status: 'active',
      maxKeys: 1,
      activeKeys: 1,
      quota: { limit: 20, period: 'month' },
      usage: { quota: { limit: 20, used: 1, remaining: 19 } },
    });
    expect((await answer(await call('nobody-with-account', 'GET', 'account'))).body).toEqual({
      account: null,
    });
    // The account's own days (every key of it): the chart's data.
    const daily = await answer(await call('kate', 'GET', 'account/usage?days=7'));
    expect(daily.body.days).toHaveLength(7);
    const today = new Date().toISOString().slice(0, 10);
    expect(daily.body.days.at(-1)).toEqual({ date: today, requests: 1, units: 1, refused: {} });
    expect(daily.body.days[0]).toMatchObject({ requests: 0, units: 0 });
    expect((await answer(await call('kate', 'GET', 'account/usage?days=91'))).status).toBe(400);
    expect((await answer(await call('nobody-with-account', 'GET', 'account/usage'))).status).toBe(404);
    await keys.accounts.suspend('kate');
    const frozen = await create('kate', { name: 'while suspended' });
    expect([frozen.status, frozen.body.code]).toEqual([403, 'account_suspended']);
    expect((await call('kate', 'GET', 'keys')).status).toBe(200);
    const refused = await use(key);
    expect([refused.status, ((await refused.json()) as { code: string }).code]).toEqual([
      403,
      'account_suspended',
    ]);
    await keys.accounts.resume('kate');
    expect((await use(key)).status).toBe(200);
  });

  it('never gets an account past its plan through churn: every key it makes, rotates or revokes shares one quota', async () => {
    await keys.accounts.create({ id: 'mia', plan: 'free' }); // one key at a time, 20 units a month
    let admitted = 0;
    let attempts = 0;
    const spend = async (key: string) => {
      for (let i = 0; i < 3; i++) {
        attempts++;
        if ((await use(key)).status === 200) admitted++;
      }
    };
    for (let round = 0; round < 5; round++) {
      const made = await create('mia', { name: `round ${round}` });
      expect(made.status).toBe(201); // the one key is always revoked before the next
      await spend(made.body.key);
      const rotated = await answer(
        await call('mia', 'POST', `keys/${made.body.record.id}/rotate`, { grace_seconds: 0 }),
      );
      expect(rotated.status).toBe(201);
      await spend(rotated.body.key);
      expect((await answer(await call('mia', 'POST', `keys/${rotated.body.record.id}/revoke`))).status).toBe(
        200,
      );
    }
    // Ten keys made in the hour: the eleventh is refused, revoked keys give none back.
    expect((await create('mia', { name: 'one more' })).body.code).toBe('too_many_creations');
    expect(attempts).toBe(30);
    expect(admitted).toBe(20); // the plan's quota, whatever the keys did
    const standing = (await answer(await call('mia', 'GET', 'account'))).body.account;
    expect(standing.usage.quota).toMatchObject({ limit: 20, used: 20, remaining: 0 });
  });

  it('never lets parallel creations pass the key limit', async () => {
    const results = await Promise.all(Array.from({ length: 12 }, () => create('iris', { name: 'burst' })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(POLICY.maxKeysPerOwner!);
    expect(results.filter((r) => r.body.code === 'too_many_keys')).toHaveLength(12 - POLICY.maxKeysPerOwner!);
    expect((await answer(await call('iris', 'GET', 'keys'))).body.keys).toHaveLength(POLICY.maxKeysPerOwner!);
  });

  it("lets an owner narrow what an operator set on a key, never widen it (also not to the policy's width)", async () => {
    const { record } = await keys.create({
      name: 'operator made',
      ownerId: 'jack',
      scopes: ['images:read'],
      paths: ['/v3/files/jack/*'],
      ips: ['10.0.0.0/8'],
    });
    const patch = async (body: Record<string, unknown>) =>
      answer(await call('jack', 'PATCH', `keys/${record.id}`, body));
    const refusals: [Record<string, unknown>, string][] = [
      [{ ips: [] }, 'ips_not_allowed'],
      [{ ips: ['0.0.0.0/0'] }, 'ips_not_allowed'],
      [{ ips: ['10.0.0.0/8', '192.168.0.0/16'] }, 'ips_not_allowed'],
      [{ scopes: ['images:read', 'images:write'] }, 'scope_not_allowed'],
      [{ paths: ['/v3/files/*'] }, 'path_not_allowed'],
    ];
    for (const [body, code] of refusals) {
      const refused = await patch(body);
      expect([refused.status, refused.body.code], JSON.stringify(body)).toEqual([400, code]);
    }
    const narrower = await patch({ ips: ['10.1.0.0/16'], paths: ['/v3/files/jack/in/*'], scopes: [] });
    expect([narrower.status, narrower.body.record.ips, narrower.body.record.scopes]).toEqual([
      200,
      ['10.1.0.0/16'],
      [],
    ]);
    // Back up to what the operator set, not past it.
    const back = await patch({ ips: ['10.0.0.0/8'], paths: ['/v3/files/jack/*'], scopes: ['images:read'] });
    expect(back.status).toBe(200);
    expect((await patch({ ips: [] })).body.code).toBe('ips_not_allowed');
    const stored = await keys.get(record.id);
    expect([stored?.ips, stored?.portalBounds]).toEqual([
      ['10.0.0.0/8'],
      { scopes: ['images:read'], paths: ['/v3/files/jack/*'], ips: ['10.0.0.0/8'] },
    ]);
    // An operator's change is the new bound.
    await keys.update(record.id, { ips: [] });
    expect((await patch({ ips: [] })).status).toBe(200);
  });

  it('reads a key usage per day, and refuses bad ranges, methods and routes', async () => {
    const made = await create('gina', { name: 'metered' });
    for (let i = 0; i < 3; i++) await use(made.body.key);
    const usage = await answer(await call('gina', 'GET', `keys/${made.body.record.id}/usage?days=7`));
    expect(usage.status).toBe(200);
    expect(usage.body.days).toHaveLength(7);
    expect(usage.body.days.at(-1)).toEqual({
      date: new Date().toISOString().slice(0, 10),
      requests: 3,
      units: 3,
      refused: {},
    });
    for (const days of ['0', '91', 'x'])
      expect((await call('gina', 'GET', `keys/${made.body.record.id}/usage?days=${days}`)).status).toBe(400);
    const wrongMethod = await call('gina', 'DELETE', 'keys');
    expect([wrongMethod.status, wrongMethod.headers.get('allow')]).toEqual([405, 'GET, POST']);
    expect((await call('gina', 'GET', 'nothing/here')).status).toBe(404);
  });
});
