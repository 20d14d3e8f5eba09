// The keys and tokens every scenario refers to as {name}, made once per run.
import {
  createArgon2Hasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
  generateTokenSecret,
  type Keywarden,
} from '@keywarden/core';

export interface Fixtures {
  keywarden: Keywarden;
  /** Same keys, but `requireHttps` on. */
  httpsOnly: Keywarden;
  values: Record<string, string>;
}

export async function makeFixtures(): Promise<Fixtures> {
  let offset = 0;
  const now = () => Date.now() + offset;
  // Every scenario comes from 127.0.0.1 and many fail on purpose: the per-client failure budgets
  // are off (core and hardening tests cover them) so that they do not turn later scenarios into 429s.
  const keys = createKeyManager({
    store: createMemoryKeyStore(),
    hasher: createArgon2Hasher({ memoryCost: 1024, timeCost: 1 }),
    now,
    failureThrottle: false,
  });
  const tokens = { secrets: [{ id: 'k1', secret: generateTokenSecret() }] };
  // One plan for the account scenarios: a quota over all of an account's keys.
  const plans = { team: { quota: { limit: 100_000, period: 'month' as const } } };
  const keywarden = createKeywarden({ keys, tokens, requireHttps: false, now, plans });
  const httpsOnly = createKeywarden({ keys, tokens, requireHttps: true, now, plans });
  await keys.accounts.create({ id: 'acme', plan: 'team' });
  await keys.accounts.create({ id: 'frozen', plan: 'team' });
  const create = async (name: string, settings: Parameters<typeof keys.create>[0]) => {
    const { key, record } = await keys.create(settings);
    values[name] = key;
    values[`${name}Id`] = record.id;
  };
  const values: Record<string, string> = {};
  await create('full', { name: 'full', scopes: ['images:read', 'images:write'], metadata: { plan: 'pro' } });
  await create('reader', { name: 'reader', scopes: ['images:read'] });
  await create('files', { name: 'files', scopes: ['images:read'], paths: ['/v3/files/*'] });
  await create('ipLocked', { name: 'ip locked', ips: ['10.0.0.0/8'] });
  await create('ipLocal', { name: 'ip local', ips: ['127.0.0.0/8', '::1'] });
  await create('revoked', { name: 'revoked' });
  await create('expired', { name: 'expired', expiresIn: 60 });
  await create('doomed', { name: 'doomed' });
  await create('limited', {
    name: 'limited',
    scopes: ['images:write'],
    rateLimit: { limit: 100_000, windowSeconds: 3600 },
    quota: { limit: 100_000, period: 'month' },
  });
  await create('spent', { name: 'spent', quota: { limit: 1, period: 'month' } });
  await create('ofAccount', { name: 'of an account', ownerId: 'acme' });
  await create('ofSuspended', { name: 'of a suspended account', ownerId: 'frozen' });
  values.filesToken = (
    await keywarden.mintAccessToken(values.fullId!, { paths: ['/v3/files/*'], expiresIn: 600 })
  ).token;
  values.doomedToken = (await keywarden.mintAccessToken(values.doomedId!, { expiresIn: 600 })).token;
  values.suspendedToken = (await keywarden.mintAccessToken(values.ofSuspendedId!, { expiresIn: 600 })).token;
  const [h, p, s] = values.filesToken.split('.') as [string, string, string];
  values.tamperedToken = `${h}.${p.slice(0, -2)}${p.endsWith('AA') ? 'BB' : 'AA'}.${s}`;
  values.wrongSecret = `${values.full!.slice(0, 20)}${'W'.repeat(32)}${values.full!.slice(-6)}`;
  const spend = await keywarden.authenticate({
    method: 'GET',
    url: '/',
    headers: { 'x-api-key': values.spent! },
  });
  if (!spend.ok) throw new Error('could not spend the quota of `spent`');
  await keys.accounts.suspend('frozen'); // after its token was minted
  await keys.revoke(values.revokedId!);
  await keys.revoke(values.doomedId!);
  offset += 61_000; // `expired` is now past its lifetime
  return { keywarden, httpsOnly, values };
}
