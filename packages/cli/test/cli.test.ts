import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  generateTokenSecret,
  type LimitStore,
  openFileKeyStore,
} from '@keywarden/core';
import { createPostgresKeyStore } from '@keywarden/postgres';
import { createRedisLimitStore } from '@keywarden/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresServer, startPostgres } from '../../postgres/test/pg-server.js';
import { startRedis } from '../../redis/test/redis-server.js';

const BIN = join(import.meta.dirname, '..', 'dist', 'bin.js');
const PEPPER = 'cli-test-pepper-cli-test-pepper-0123456789';
const SECRET = generateTokenSecret();
const ENV = { KEYWARDEN_HASHER: 'hmac', KEYWARDEN_PEPPER: PEPPER, KEYWARDEN_TOKEN_SECRET: SECRET };

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
async function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...ENV, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
const json = async (args: string[], env?: Record<string, string>) => {
  const run = await cli([...args, '--json'], env);
  if (run.code !== 0) throw new Error(`keywarden ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout);
};

let dir: string;
let pg: PostgresServer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keywarden-cli-'));
  pg = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pg.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe.each([
  ['a keys file', () => join(dir, 'keys.json')],
  ['PostgreSQL', () => pg.url],
])('keywarden against %s', (_name, storeOf) => {
  const store = () => ['--store', storeOf()];

  it('migrates PostgreSQL, and refuses to "migrate" a file', async () => {
    const run = await cli(['migrate', ...store()]);
    if (storeOf().startsWith('postgres')) {
      expect(run.code).toBe(0);
      expect((await json(['migrate', ...store()])).applied).toEqual([]); // already done
    } else {
      expect([run.code, run.stderr]).toEqual([2, expect.stringMatching(/needs --store postgres/)]);
    }
  });

  it('creates a key with every setting, prints it once, and the key works', async () => {
    const human = await cli(['keys', 'create', '--name', 'human', ...store()]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/not shown again[\s\S]*kw_live_[0-9A-Za-z]{50}/);
    const created = await json([
      'keys',
      'create',
      '--name',
      'acme',
      '--env',
      'test',
      '--scope',
      'images:read',
      '--scope',
      'images:write',
      '--path',
      '/v3/files/*',
      '--ip',
      '10.0.0.0/8',
      '--ip',
      '::1',
      '--expires-in',
      '30d',
      '--rate',
      '100/1m',
      '--quota',
      '50/month',
      '--metadata',
      'plan=free',
      '--owner',
      'acct_1',
      ...store(),
    ]);
    expect(created.key).toMatch(/^kw_test_[0-9A-Za-z]{50}$/);
    expect(created.record).toMatchObject({
      name: 'acme',
      environment: 'test',
      scopes: ['images:read', 'images:write'],
      paths: ['/v3/files/*'],
      ips: ['10.0.0.0/8', '::1/128'],
      rateLimit: { limit: 100, windowSeconds: 60 },
      quota: { limit: 50, period: 'month' },
      metadata: { plan: 'free' },
      ownerId: 'acct_1',
    });
    expect(Date.parse(created.record.expiresAt) - Date.now()).toBeGreaterThan(29.9 * 86400_000);
    // A server using the same store verifies it.
    const target = storeOf();
    const serverStore = target.startsWith('postgres')
      ? createPostgresKeyStore({ connectionString: target, listen: false })
      : await openFileKeyStore({ path: target, watch: false });
    const keys = createKeyManager({ store: serverStore, hasher: createHmacHasher({ pepper: PEPPER }) });
    expect(await keys.verify(created.key)).toMatchObject({ ok: true, key: { id: created.record.id } });
    await serverStore.close?.();
  });

  it('lists, shows, updates, rotates, revokes and deletes', async () => {
    const { record } = await json(['keys', 'create', '--name', 'life', '--owner', 'acct_2', ...store()]);
    const list = await cli(['keys', 'list', ...store()]);
    expect(list.stdout).toMatch(/^ID\s+NAME\s+ENV\s+STATUS/);
    expect(list.stdout).toContain(record.id);
    expect(
      (await json(['keys', 'list', '--owner', 'acct_2', ...store()])).map((k: { id: string }) => k.id),
    ).toEqual([record.id]);
    const shown = await cli(['keys', 'show', record.id, ...store()]);
    expect(shown.stdout).toMatch(/status:\s+active/);
    const updated = await json([
      'keys',
      'update',
      record.id,
      '--scope',
      'admin',
      '--quota',
      '10/day',
      ...store(),
    ]);
    expect(updated).toMatchObject({ scopes: ['admin'], quota: { limit: 10, period: 'day' } });
    const rotated = await json(['keys', 'rotate', record.id, '--grace', '1h', ...store()]);
    expect(rotated.record).toMatchObject({ name: 'life', scopes: ['admin'], ownerId: 'acct_2' });
    expect(Math.abs(Date.parse(rotated.old.expiresAt) - (Date.now() + 3600_000))).toBeLessThan(60_000);
    expect(rotated.old.replacedBy).toBe(rotated.record.id);
    await cli(['keys', 'revoke', rotated.record.id, ...store()]);
    expect((await cli(['keys', 'show', rotated.record.id, ...store()])).stdout).toMatch(/status:\s+revoked/);
    expect((await cli(['keys', 'delete', record.id, ...store()])).code).toBe(0);
    const gone = await cli(['keys', 'show', record.id, ...store()]);
    expect([gone.code, gone.stderr]).toEqual([1, `keywarden: no key with id ${record.id}\n`]);
  });

  it('pages keys with --limit and --after, and streams them all with --all', async () => {
    const owner = ['--owner', 'acct_pages'];
    for (let i = 0; i < 5; i++) await json(['keys', 'create', '--name', `page ${i}`, ...owner, ...store()]);
    const all = (await json(['keys', 'list', '--all', ...owner, ...store()])).map(
      (k: { id: string }) => k.id,
    );
    expect(all).toHaveLength(5);
    const paged: string[] = [];
    let after: string[] = [];
    for (;;) {
      const run = await cli(['keys', 'list', '--limit', '2', ...after, ...owner, ...store(), '--json']);
      expect(run.code).toBe(0);
      const page = JSON.parse(run.stdout).map((k: { id: string }) => k.id);
      paged.push(...page);
      const next = /--after (\S+)/.exec(run.stderr)?.[1];
      if (next === undefined) break;
      expect(next).toBe(page.at(-1));
      after = ['--after', next];
    }
    expect(paged).toEqual(all);
    const human = await cli(['keys', 'list', '--all', ...owner, ...store()]);
    expect(human.stdout.match(/^ID\s+NAME/gm)).toHaveLength(1);
    for (const id of all) expect(human.stdout).toContain(id);
    for (const bad of [
      ['--limit', '0'],
      ['--limit', '1001'],
      ['--after', 'nope'],
      ['--all', '--limit', '2'],
    ]) {
      const run = await cli(['keys', 'list', ...bad, ...owner, ...store()]);
      expect([run.code, run.stdout]).toEqual([2, '']);
    }
  });

  it('manages accounts; a suspension reaches a running server within a second, and so does resuming', async () => {
    const id = `acct-${Math.random().toString(36).slice(2, 8)}`;
    const made = await json([
      'accounts',
      'create',
      id,
      '--plan',
      'free',
      '--rate',
      '10/1s',
      '--rate',
      '100/1m',
      '--metadata',
      'crm=42',
      ...store(),
    ]);
    expect(made).toMatchObject({
      id,
      plan: 'free',
      status: 'active',
      overrides: {
        rateLimits: [
          { limit: 10, windowSeconds: 1 },
          { limit: 100, windowSeconds: 60 },
        ],
      },
      metadata: { crm: '42' },
    });
    for (const [args, code, message] of [
      [['accounts', 'create', 'other'], 2, /needs --plan/],
      [['accounts', 'create', 'other', '--plan', 'no spaces'], 2, /--plan must be a plan name/],
      [
        ['accounts', 'create', 'other', '--plan', 'free', '--rate', '1/1s', '--rate', '2/1s'],
        2,
        /--rate has two windows/,
      ],
      [['accounts', 'create', id, '--plan', 'pro'], 1, /already exists/],
      [['accounts', 'create', '--plan', 'pro'], 2, /takes one account id/],
      [['keys', 'create', '--name', 'k', '--account', 'nobody'], 1, /no account with id nobody/],
      [['accounts', 'suspend', 'nobody'], 1, /no account with id nobody/],
      [['accounts', 'update', id], 2, /needs something to change/],
      [['accounts', 'credit', id, '+5'], 2, /--reason is required/],
      [['accounts', 'credit', id, 'lots', '--reason', 'x'], 2, /whole number from 1/],
      [['accounts', 'credit', id, '+0', '--reason', 'x'], 2, /whole number from 1/],
      [['accounts', 'credit', id, '--reason', 'x'], 2, /takes an account id and a number of units/],
      [['accounts', 'credit', 'nobody', '+5', '--reason', 'x'], 1, /no account with id nobody/],
      [['accounts', 'credit', id, '+5', '--reason', 'bad\u202ereason'], 2, /reason must be 1-200 printable/],
    ] as const) {
      const run = await cli([...args, ...store()]);
      expect([run.code, run.stderr], args.join(' ')).toEqual([code, expect.stringMatching(message)]);
    }
    // Overage on credits as the account's own setting, and back to the plan's.
    expect(await json(['accounts', 'update', id, '--overage', 'credits', ...store()])).toMatchObject({
      overrides: { overage: 'credits' },
    });
    expect((await cli(['accounts', 'show', id, ...store()])).stdout).toMatch(/overage:\s+credits/);
    const badOverage = await cli(['accounts', 'update', id, '--overage', 'sometimes', ...store()]);
    expect([badOverage.code, badOverage.stderr]).toEqual([2, expect.stringMatching(/--overage must be/)]);
    // Top-ups add up, each an audited change.
    for (const units of ['+500', '250'])
      expect((await cli(['accounts', 'credit', id, units, '--reason', 'invoice 7', ...store()])).code).toBe(
        0,
      );
    expect(await json(['accounts', 'show', id, ...store()])).toMatchObject({ credits: 750 });
    expect((await cli(['accounts', 'show', id, ...store()])).stdout).toMatch(/credits:\s+750 granted in all/);
    const { key, record } = await json([
      'keys',
      'create',
      '--name',
      'of account',
      '--account',
      id,
      ...store(),
    ]);
    expect(record.ownerId).toBe(id);
    expect(
      (await json(['keys', 'list', '--account', id, ...store()])).map((k: { id: string }) => k.id),
    ).toEqual([record.id]);
    const listed = await cli(['accounts', 'list', ...store()]);
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\s+free\\s+active\\s+1\\s`, 'm'));
    const updated = await json([
      'accounts',
      'update',
      id,
      '--plan',
      'pro',
      '--quota',
      '500/month',
      ...store(),
    ]);
    expect(updated).toMatchObject({
      plan: 'pro',
      overrides: { rateLimits: [{}, {}], quota: { limit: 500, period: 'month' } },
    });
    expect((await json(['accounts', 'update', id, '--plan-limits', ...store()])).overrides).toEqual({});
    // A server on the same store, with the plans.
    const target = storeOf();
    const serverStore = target.startsWith('postgres')
      ? createPostgresKeyStore({ connectionString: target })
      : await openFileKeyStore({ path: target });
    const keywarden = createKeywarden({
      keys: createKeyManager({ store: serverStore, hasher: createHmacHasher({ pepper: PEPPER }) }),
      requireHttps: false,
      plans: { free: {}, pro: { quota: { limit: 1000, period: 'month' } } },
    });
    const codeNow = async () => {
      const result = await keywarden.authenticate({
        method: 'GET',
        url: '/x',
        headers: { 'x-api-key': key },
      });
      return result.ok ? 'ok' : result.error.code;
    };
    /** Milliseconds until the server answers `code`; fails after 3 s. */
    const until = async (code: string) => {
      const start = Date.now();
      while ((await codeNow()) !== code) {
        if (Date.now() - start > 3000) throw new Error(`still not ${code}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return Date.now() - start;
    };
    try {
      expect(await codeNow()).toBe('ok');
      expect((await cli(['accounts', 'suspend', id, ...store()])).code).toBe(0);
      expect(await until('account_suspended')).toBeLessThan(1000);
      expect((await cli(['accounts', 'show', id, ...store()])).stdout).toMatch(/status:\s+suspended/);
      expect(
        (await json(['accounts', 'list', '--status', 'suspended', ...store()])).map(
          (a: { id: string }) => a.id,
        ),
      ).toContain(id);
      expect((await cli(['accounts', 'resume', id, ...store()])).code).toBe(0);
      expect(await until('ok')).toBeLessThan(1000);
      const deleted = await cli(['accounts', 'delete', id, ...store()]);
      expect([deleted.code, deleted.stdout]).toEqual([0, `Deleted account ${id}; revoked 1 key.\n`]);
      expect(await until('invalid_credentials')).toBeLessThan(1000);
      expect((await cli(['accounts', 'show', id, ...store()])).code).toBe(1);
    } finally {
      await serverStore.close?.();
    }
  }, 60_000);

  it('mints a token that a server with the same secret accepts, within the key', async () => {
    const { record } = await json([
      'keys',
      'create',
      '--name',
      'minter',
      '--path',
      '/v3/files/*',
      ...store(),
    ]);
    const token = (
      await cli([
        'token',
        'mint',
        '--key',
        record.id,
        '--path',
        '/v3/files/a/*',
        '--expires-in',
        '2m',
        ...store(),
      ])
    ).stdout.trim();
    const target = storeOf();
    const serverStore = target.startsWith('postgres')
      ? createPostgresKeyStore({ connectionString: target, listen: false })
      : await openFileKeyStore({ path: target, watch: false });
    const keys = createKeyManager({ store: serverStore, hasher: createHmacHasher({ pepper: PEPPER }) });
    const keywarden = createKeywarden({
      keys,
      requireHttps: false,
      tokens: { secrets: [{ id: 'main', secret: SECRET }] },
    });
    const use = (url: string) =>
      keywarden.authenticate({ method: 'GET', url, headers: { authorization: `AccessToken ${token}` } });
    expect((await use('/v3/files/a/b.png')).ok).toBe(true);
    expect((await use('/v3/files/b.png')).ok).toBe(false);
    // The secret from a file (with the newline an editor leaves), and the server's issuer and audience.
    const secretFile = join(dir, 'token-secret');
    await writeFile(secretFile, `${SECRET}\n`, { mode: 0o600 });
    const claimed = await cli(
      [
        'token',
        'mint',
        '--key',
        record.id,
        '--path',
        '/v3/files/*',
        '--secret-file',
        secretFile,
        ...store(),
      ].concat(['--issuer', 'https://api.example', '--audience', 'uploads']),
      { KEYWARDEN_TOKEN_SECRET: '' },
    );
    expect(claimed.code).toBe(0);
    const withClaims = createKeywarden({
      keys,
      requireHttps: false,
      tokens: {
        secrets: [{ id: 'main', secret: SECRET }],
        issuer: 'https://api.example',
        audience: 'uploads',
      },
    });
    const header = { authorization: `AccessToken ${claimed.stdout.trim()}` };
    expect(
      (await withClaims.authenticate({ method: 'GET', url: '/v3/files/c.png', headers: header })).ok,
    ).toBe(true);
    // A server that expects other claims refuses it.
    expect(
      (await keywarden.authenticate({ method: 'GET', url: '/v3/files/c.png', headers: header })).ok,
    ).toBe(false);
    await serverStore.close?.();
    const beyond = await cli(['token', 'mint', '--key', record.id, ...store()]); // "*" is beyond the key
    expect([beyond.code, beyond.stderr]).toEqual([
      1,
      expect.stringMatching(/not within this key's path patterns/),
    ]);
  });

  it('purges revoked and expired keys past a retention, never a live key', async () => {
    const live = await json(['keys', 'create', '--name', 'stays', ...store()]);
    const gone = await json(['keys', 'create', '--name', 'goes', ...store()]);
    await cli(['keys', 'revoke', gone.record.id, ...store()]);
    expect(await json(['keys', 'purge', ...store()])).toEqual({ purged: 0 }); // revoked just now: kept 30 days
    const bad = await cli(['keys', 'purge', '--older-than', 'soon', ...store()]);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/--older-than must be a duration/)]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const now = await cli(['keys', 'purge', '--older-than', '1s', ...store()]);
    expect([now.code, now.stdout]).toEqual([0, expect.stringMatching(/^Purged [1-9]\d* keys?\.\n$/)]);
    expect((await cli(['keys', 'show', gone.record.id, ...store()])).code).toBe(1);
    expect((await cli(['keys', 'show', live.record.id, ...store()])).code).toBe(0);
  });
});

describe('keywarden command line', () => {
  it('counts the keys of each kind of stored hash', async () => {
    const file = ['--store', join(dir, 'hashes.json')];
    expect((await cli(['keys', 'hashes', ...file, '--create'])).stdout).toBe('No keys.\n');
    await json(['keys', 'create', '--name', 'argon', ...file], { KEYWARDEN_HASHER: 'argon2id' });
    for (const name of ['h1', 'h2']) await json(['keys', 'create', '--name', name, ...file]);
    expect(await json(['keys', 'hashes', ...file])).toEqual({ argon2id: 1, 'hmac-sha256': 2 });
    const human = await cli(['keys', 'hashes', ...file]);
    expect([human.code, human.stdout]).toEqual([0, 'argon2id     1\nhmac-sha256  2\n']);
  });

  it.each([
    [['keys', 'frob'], /unknown command/],
    [['keys', 'create'], /needs --name/],
    [['keys', 'create', '--name', 'x', '--colour', 'red'], /Unknown option '--colour'/],
    [['keys', 'create', '--name', 'x', '--rate', '5/fortnight'], /--rate window/],
    [['keys', 'create', '--name', 'x', '--quota', '5/week'], /--quota/],
    [['keys', 'create', '--name', 'x', '--ip', 'not-an-ip'], /: --ip has an invalid entry "not-an-ip"/],
    [['keys', 'create', '--name', 'x', '--path', '/v3/*/x'], /: --path has an invalid entry/],
    [['keys', 'create', '--name', 'x', '--rate', '0/60s'], /: --rate limit must be an integer/],
    [['keys', 'create', '--name', 'x', '--scope', ''], /: --scope has an invalid entry ""/],
    [['--bogus', 'keys', 'list'], /unknown option "--bogus"/],
    [['keys'], /"keys" needs a command: keys create, keys list/],
    [
      ['token', 'mint', '--key', 'abc', '--secret', SECRET],
      /--secret is not taken: .* ps and the shell history/,
    ],
    // A secret starting with a dash (a generated one does, one time in 64): the same refusal, not
    // the option parser's "ambiguous argument".
    [['token', 'mint', '--key', 'abc', '--secret', `-${SECRET}`], /--secret is not taken/],
    [['token', 'mint', '--secret', `--${SECRET}`, '--key', 'abc'], /--secret is not taken/],
    [['token', 'mint', '--key', 'abc', `--secret=${SECRET}`], /--secret is not taken/],
    [['token', 'mint', '--key', 'abc', '--issuer', ''], /--issuer/],
    [
      ['token', 'mint', '--key', 'abc', '--expires-in', '1h'],
      /--expires-in must be from 1 second to 10 minutes/,
    ],
    [['token', 'mint', '--key', 'abc', '--expires-in', '0'], /--expires-in must be at least one second/],
    [['keys', 'create', '--name', 'x', '--env', 'prod'], /--env/],
    [['keys', 'create', '--name', 'x', '--expires-in', 'soon'], /--expires-in/],
    [['keys', 'show'], /takes one key id/],
    [['keys', 'update', 'abc'], /at least one setting/],
    [['token', 'mint', '--key', 'abc'], /secret/],
    [['migrate'], /postgres/],
  ])('refuses %j with exit code 2 and a clear message', async (args, message) => {
    const secretless =
      args.includes('--issuer') || args.includes('--expires-in') ? {} : { KEYWARDEN_TOKEN_SECRET: '' };
    const run = await cli([...args, '--store', join(dir, 'refusals.json')], secretless);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toMatch(/--help" for usage/);
    expect(run.stderr).not.toContain(SECRET);
  });

  it('has --help everywhere, --version, and generates secrets', async () => {
    expect((await cli(['--help'])).stdout).toMatch(/Commands:/);
    for (const command of [
      ['keys', 'create'],
      ['keys', 'list'],
      ['keys', 'rotate'],
      ['token', 'mint'],
      ['migrate'],
    ]) {
      const run = await cli([...command, '--help']);
      expect([run.code, run.stdout]).toEqual([0, expect.stringMatching(/^Usage: keywarden /)]);
    }
    expect((await cli(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect((await cli([])).code).toBe(2);
    const secret = await json(['secret', 'generate']);
    expect(secret.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('lists the commands of a group with --help, and says where usage lives when a keys file keeps none', async () => {
    const help = await cli(['keys', '--help']);
    expect(help.code).toBe(0);
    for (const name of ['keys create', 'keys list', 'keys rotate', 'keys revoke', 'keys usage'])
      expect(help.stdout).toContain(name);
    const file = join(dir, 'usage.json');
    const { record } = await json(['keys', 'create', '--name', 'u', '--store', file]);
    const usage = await cli(['keys', 'usage', record.id, '--store', file]);
    expect(usage.code).toBe(1);
    expect(usage.stderr.trim().split('\n')).toHaveLength(1);
    expect(usage.stderr).toMatch(/in the server process.*--redis <url>.*postgres:\/\//);
  });

  it('takes global options before, between and after the command words', async () => {
    const file = join(dir, 'globals.json');
    const created = await json(['--store', file, 'keys', 'create', '--name', 'first']);
    const second = await json([`--store=${file}`, 'keys', '--json', 'create', '--name', 'second']);
    expect(await json(['keys', 'list', '--store', file])).toEqual([
      expect.objectContaining({ id: created.record.id }),
      expect.objectContaining({ id: second.record.id }),
    ]);
    const migrated = await cli(['--store', pg.url, 'migrate']);
    expect([migrated.code, migrated.stdout]).toEqual([0, expect.stringMatching(/migrations|up to date/)]);
    expect((await cli(['--store', file, '--help'])).stdout).toMatch(/^keywarden: manage/);
  });

  it('refuses a keys file that does not exist (exit 1) unless told to start one', async () => {
    const missing = join(dir, 'typo', 'kyes.json');
    for (const args of [
      ['keys', 'list'],
      ['keys', 'show', 'abc'],
      ['token', 'mint', '--key', 'abc'],
    ]) {
      const run = await cli([...args, '--store', missing]);
      expect([run.code, run.stdout], args.join(' ')).toEqual([1, '']);
      expect(run.stderr).toContain(`the keys file ${missing} does not exist`);
    }
    expect(existsSync(missing)).toBe(false);
    expect(await json(['keys', 'list', '--create', '--store', missing])).toEqual([]);
    const { record } = await json(['keys', 'create', '--name', 'new', '--store', join(dir, 'new.json')]);
    expect(await json(['keys', 'list', '--store', join(dir, 'new.json')])).toEqual([
      expect.objectContaining({ id: record.id }),
    ]);
  });

  it('never prints control or bidirectional characters raw, and refuses them in new names', async () => {
    const file = join(dir, 'spoof.json');
    const store = await openFileKeyStore({ path: file, watch: false });
    const at = new Date('2026-01-01T00:00:00Z');
    // A record the key manager would refuse, as a hand-edited file or an older version may hold.
    const name = 'invoice\u202Egnp.exe\x1b[2J\u009b31m';
    await store.insert({
      id: 'spoofedkey01',
      name,
      environment: 'live',
      prefix: 'kw_live',
      hash: 'h',
      scopes: [],
      paths: ['*'],
      ips: [],
      createdAt: at,
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
      rateLimit: null,
      quota: null,
      metadata: { note: 'a\u2066b' },
      ownerId: 'own\u202Eer',
      replacedBy: null,
      lineageId: 'spoofedkey01',
    });
    await store.close();
    const raw = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
    for (const args of [
      ['keys', 'list'],
      ['keys', 'show', 'spoofedkey01'],
    ]) {
      const run = await cli([...args, '--store', file]);
      expect(run.code, args.join(' ')).toBe(0);
      expect(run.stdout).not.toMatch(raw);
      expect(run.stdout).toContain('invoice\\u202egnp.exe\\u001b[2J\\u009b31m');
    }
    const listed = await cli(['keys', 'list', '--json', '--store', file]);
    expect(listed.stdout).not.toMatch(raw);
    expect(JSON.parse(listed.stdout)[0]).toMatchObject({
      name,
      ownerId: 'own\u202Eer',
      metadata: { note: 'a\u2066b' },
    });
    const refused = await cli(['keys', 'create', '--name', 'pay\u202Etxt.exe', '--store', file]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/name must be/);
    expect(refused.stderr).not.toMatch(raw);
  });

  it('fails with exit code 1, not a stack trace, when the store is unreachable', async () => {
    const run = await cli(['keys', 'list', '--store', 'postgres://postgres@127.0.0.1:1/none']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^keywarden: failed: /);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill();
});

/** A server process on PostgreSQL (`DATABASE_URL`) or a keys file (`KEYS_FILE`); resolves with its port. */
function startServer(env: Record<string, string>): Promise<number> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'server.mjs')], {
    env: { ...process.env, ...ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening (\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${output}`)));
  });
}

const statusOf = (port: number, header: string) =>
  fetch(`http://127.0.0.1:${port}/v3/files/a.png`, { headers: { authorization: header } }).then(
    (r) => r.status,
  );

/** Polls until every (port, header) answers `expected`; resolves with the slowest time in ms. */
async function allAnswer(
  ports: number[],
  headers: string[],
  expected: number,
  limitMs = 5000,
): Promise<number> {
  const start = Date.now();
  const times = await Promise.all(
    ports.flatMap((port) =>
      headers.map(async (header) => {
        while ((await statusOf(port, header)) !== expected) {
          if (Date.now() - start > limitMs)
            throw new Error(`${header.slice(0, 30)}… not ${expected} after ${limitMs} ms`);
          await new Promise((r) => setTimeout(r, 10));
        }
        return Date.now() - start;
      }),
    ),
  );
  return Math.max(...times);
}

describe('two server processes on one PostgreSQL', () => {
  it('a key revoked through the CLI, and its tokens, are refused by both within one second', async () => {
    await cli(['migrate', '--store', pg.url]);
    const ports = await Promise.all([
      startServer({ DATABASE_URL: pg.url }),
      startServer({ DATABASE_URL: pg.url }),
    ]);
    const { key, record } = await json(['keys', 'create', '--name', 'shared', '--store', pg.url]);
    const token = (
      await cli(['token', 'mint', '--key', record.id, '--expires-in', '600', '--store', pg.url])
    ).stdout.trim();
    const credentials = [`Token ${key}`, `AccessToken ${token}`];
    // Both servers have verified (and cached) the key and the token.
    for (const port of ports)
      for (const header of credentials) expect(await statusOf(port, header)).toBe(200);
    const revoked = await cli(['keys', 'revoke', record.id, '--store', pg.url]);
    expect(revoked.code).toBe(0);
    expect(await allAnswer(ports, credentials, 401)).toBeLessThan(1000);
  }, 60_000);
});

describe('20 CLI processes and two servers writing one keys file', () => {
  it('loses no write: every created key is stored, every revoked key refused by both servers, nothing else changed', async () => {
    const path = join(dir, 'shared.json');
    const existing = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        json(['keys', 'create', '--name', `existing ${i}`, '--store', path]),
      ),
    );
    const ports = await Promise.all([startServer({ KEYS_FILE: path }), startServer({ KEYS_FILE: path })]);
    // Traffic on both servers throughout, so each flushes lastUsedAt every 20 ms while the CLI writes.
    let serving = true;
    const traffic = Promise.all(
      ports.map(async (port) => {
        for (let i = 0; serving; i++) expect(await statusOf(port, `Token ${existing[i % 4].key}`)).toBe(200);
      }),
    );
    const chains = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const kept = await json(['keys', 'create', '--name', `kept ${i}`, '--store', path]);
        const doomed = await json(['keys', 'create', '--name', `doomed ${i}`, '--store', path]);
        const revoked = await cli(['keys', 'revoke', doomed.record.id, '--store', path]);
        expect(revoked.code, revoked.stderr).toBe(0);
        return { kept, doomed };
      }),
    );
    serving = false;
    await traffic;
    const stored = await json(['keys', 'list', '--store', path]);
    const byId = new Map(stored.map((r: { id: string }) => [r.id, r]));
    expect(byId.size).toBe(4 + 40);
    for (const { kept, doomed } of chains) {
      expect(byId.get(kept.record.id)).toMatchObject({ name: kept.record.name, revokedAt: null });
      expect(byId.get(doomed.record.id)).toMatchObject({
        name: doomed.record.name,
        revokedAt: expect.any(String),
      });
    }
    for (const { record } of existing) {
      const { lastUsedAt, ...rest } = byId.get(record.id) as Record<string, unknown>;
      const { lastUsedAt: _before, ...created } = JSON.parse(JSON.stringify(record));
      expect(rest).toEqual(created);
      expect(lastUsedAt).toEqual(expect.any(String)); // the servers' flushes landed too
    }
    const doomedKeys = chains.map(({ doomed }) => `Token ${doomed.key}`);
    const keptKeys = chains.map(({ kept }) => `Token ${kept.key}`);
    await allAnswer(ports, doomedKeys, 401);
    await allAnswer(ports, keptKeys, 200);
  }, 120_000);
});

describe('keys usage', () => {
  const today = () => new Date().toISOString().slice(0, 10);

  /** Requests through an authenticator on `keys`, then its usage written. */
  async function meter(keys: ReturnType<typeof createKeyManager>, limits?: { store: LimitStore }) {
    const keywarden = createKeywarden({ keys, requireHttps: false, ...(limits ? { limits } : {}) });
    const { key, record } = await keys.create({ name: 'metered', scopes: ['images:read'] });
    const headers = { 'x-api-key': key };
    for (const cost of [1, 2, 3])
      await keywarden.authenticate({ method: 'GET', url: '/x', headers }, { cost });
    await keywarden.authenticate({ method: 'GET', url: '/x', headers }, { scopes: ['images:write'] });
    await keywarden.close();
    return record.id;
  }

  it('prints a PostgreSQL store key usage per day as a table with bars, or JSON', async () => {
    await cli(['migrate', '--store', pg.url]);
    const store = createPostgresKeyStore({ connectionString: pg.url, listen: false });
    const id = await meter(createKeyManager({ store, hasher: createHmacHasher({ pepper: PEPPER }) }));
    await store.close();
    const data = await json(['keys', 'usage', id, '--store', pg.url, '--days', '7']);
    expect(data.days).toHaveLength(7);
    expect(data.to).toBe(today());
    expect(data.days.at(-1)).toEqual({
      day: today(),
      requests: 3,
      units: 6,
      refusals: { insufficient_scope: 1 },
    });
    expect(data.days.slice(0, 6).every((d: { requests: number }) => d.requests === 0)).toBe(true);
    const run = await cli(['keys', 'usage', id, '--store', pg.url, '--days', '3']);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(5); // header, 3 days, total
    expect(lines[3]).toMatch(new RegExp(`^${today()}\\s+3\\s+6\\s+insufficient_scope 1\\s+█{30}$`));
    expect(lines[4]).toMatch(/^total\s+3\s+6$/);
  }, 30_000);

  it('reads usage from the servers Redis with --redis', async () => {
    const redis = await startRedis();
    try {
      const limits = createRedisLimitStore({ url: redis.url, timeoutMs: 5_000 }); // a busy CI machine
      const store = await openFileKeyStore({ path: join(dir, 'usage-keys.json'), watch: false });
      const id = await meter(createKeyManager({ store, hasher: createHmacHasher({ pepper: PEPPER }) }), {
        store: limits,
      });
      await limits.close();
      await store.close();
      const data = await json([
        'keys',
        'usage',
        id,
        '--store',
        join(dir, 'usage-keys.json'),
        '--redis',
        redis.url,
      ]);
      expect(data.days).toHaveLength(30);
      expect(data.days.at(-1)).toMatchObject({ requests: 3, units: 6 });
      // A keys file keeps no usage itself: a clear error, exit 1.
      const run = await cli(['keys', 'usage', id, '--store', join(dir, 'usage-keys.json')]);
      expect([run.code, run.stderr]).toEqual([1, expect.stringMatching(/keeps no usage: .*--redis <url>/)]);
    } finally {
      await redis.destroy();
    }
  }, 30_000);

  it('refuses a bad --days (exit 2)', async () => {
    for (const days of ['0', '-3', 'week', '99999']) {
      const run = await cli(['keys', 'usage', 'someid', '--store', pg.url, `--days=${days}`]);
      expect([run.code, run.stderr]).toEqual([2, expect.stringMatching(/--days must be/)]);
    }
  }, 30_000);
});

describe('accounts usage and usage export', () => {
  const today = () => new Date().toISOString().slice(0, 10);

  it("sums an account's keys (a purged one's too) and its credits, and exports one row per account and period with a stable id", async () => {
    await cli(['migrate', '--store', pg.url]);
    const store = createPostgresKeyStore({ connectionString: pg.url, listen: false });
    const keys = createKeyManager({ store, hasher: createHmacHasher({ pepper: PEPPER }) });
    const plans = { team: { quota: { limit: 5, period: 'month' as const }, overage: 'credits' as const } };
    const keywarden = createKeywarden({ keys, requireHttps: false, plans });
    const [acme, globex] = [`acme-${Date.now()}`, `globex,"${Date.now()}"`];
    for (const id of [acme, globex]) await keys.accounts.create({ id, plan: 'team' });
    await keys.accounts.credit(acme, 1, { reason: 'prepaid' });
    const k1 = await keys.create({ name: 'k1', ownerId: acme });
    const k2 = await keys.create({ name: 'k2', ownerId: acme });
    const g = await keys.create({ name: 'g', ownerId: globex });
    const ask = (key: string, cost: number) =>
      keywarden.authenticate({ method: 'GET', url: '/x', headers: { 'x-api-key': key } }, { cost });
    for (const [key, cost] of [
      [k1.key, 1],
      [k1.key, 1],
      [k2.key, 2],
      [k2.key, 2], // 6 > 5, and 2 > the 1 credit: credits_exhausted, counted for the account
      [k1.key, 1], // the quota's last unit
      [k1.key, 1], // past the quota: the credit
      [g.key, 3],
    ] as const)
      await ask(key, cost);
    await keywarden.close();
    await keys.revoke(k2.record.id);
    expect(await keys.purge({ olderThanDays: 0 })).toBeGreaterThanOrEqual(1);
    await store.close();

    const usage = await json(['accounts', 'usage', acme, '--store', pg.url, '--days', '2']);
    expect(usage.accountId).toBe(acme);
    expect(usage.days.at(-1)).toEqual({
      day: today(),
      requests: 5,
      units: 6,
      credits: 1,
      refusals: { credits_exhausted: 1 },
    });

    const exportOf = (...extra: string[]) =>
      cli(['usage', 'export', '--store', pg.url, '--from', today(), '--to', today(), ...extra]);
    const exported = async (format: 'json' | 'csv') => {
      const run = await exportOf('--period', 'day', '--format', format);
      expect(run.code).toBe(0);
      return run.stdout;
    };
    const rows = JSON.parse(await exported('json')) as { id: string; account: string }[];
    const mine = rows.filter((row) => row.account === acme || row.account === globex);
    expect(mine).toEqual([
      {
        id: expect.stringMatching(/^kwu_[0-9a-f]{32}$/),
        account: acme,
        plan: 'team',
        period: today(),
        requests: 5,
        unitsInQuota: 5,
        unitsOnCredits: 1,
        refused: 1,
        complete: false,
      },
      {
        id: expect.stringMatching(/^kwu_[0-9a-f]{32}$/),
        account: globex,
        plan: 'team',
        period: today(),
        requests: 1,
        unitsInQuota: 3,
        unitsOnCredits: 0,
        refused: 0,
        complete: false,
      },
    ]);
    expect(mine[0]!.id).not.toBe(mine[1]!.id);
    // The same export again: the same ids (a billing job sending both is charged once).
    const again = JSON.parse(await exported('json')) as { id: string }[];
    expect(again.map((row) => row.id)).toEqual(rows.map((row) => row.id));
    // CSV: a header, the same ids, an account id with a comma and quotes quoted.
    const csv = (await exported('csv')).trimEnd().split('\n');
    expect(csv[0]).toBe('id,account,plan,period,requests,units_in_quota,units_on_credits,refused,complete');
    expect(csv).toContain(`${mine[0]!.id},${acme},team,${today()},5,5,1,1,false`);
    expect(csv).toContain(`${mine[1]!.id},"${globex.replaceAll('"', '""')}",team,${today()},1,3,0,0,false`);
    // A month row: the month's id, not the day's.
    const months = JSON.parse((await exportOf('--format', 'json')).stdout) as {
      id: string;
      account: string;
      period: string;
    }[];
    const month = months.find((row) => row.account === acme)!;
    expect([month.period, month.id === mine[0]!.id]).toEqual([today().slice(0, 7), false]);
  }, 60_000);

  it('refuses bad ranges, periods and formats (exit 2)', async () => {
    for (const args of [
      ['--from', '2026-13-01'],
      ['--from', '2026-12-05', '--to', '2026-12-01'],
      ['--period', 'week'],
      ['--format', 'xml'],
    ]) {
      const run = await cli(['usage', 'export', '--store', pg.url, ...args]);
      expect([run.code, run.stderr]).toEqual([2, expect.stringMatching(/--from|--to|--period|--format/)]);
    }
  }, 30_000);
});
