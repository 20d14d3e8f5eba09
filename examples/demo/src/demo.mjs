// The keywarden demo: an API key's life in the embedded file store, printed step by step.
// Run it with `pnpm demo` from the repository root.
import { createKeyManager, formatApiKey, openFileKeyStore, parseApiKey } from '@keywarden/core';

const path = process.env.KEYWARDEN_KEYS_FILE ?? '.keywarden/keys.json';
const store = await openFileKeyStore({ path });
const keys = createKeyManager({ store });
const say = (label, value) => console.log(`${label.padEnd(28)} ${value}`);
const timed = async (key) => {
  const start = process.hrtime.bigint();
  const result = await keys.verify(key);
  const micros = Number(process.hrtime.bigint() - start) / 1000;
  return { result, took: micros >= 1000 ? `${(micros / 1000).toFixed(1)} ms` : `${micros.toFixed(1)} µs` };
};
const show = ({ result, took }) => (result.ok ? `accepted (${took})` : `refused: ${result.reason} (${took})`);

say('key store', store.path);
const { key, record } = await keys.create({
  name: 'demo: background removal backend',
  scopes: ['images:write'],
  paths: ['/v3/file-ops/upload/', '/v3/tools/*', '/v3/files/*'],
  quota: { limit: 50, period: 'month' },
});
say('created key (shown once)', key);
say('key id (public)', record.id);
const stored = await store.get(record.id);
say('stored hash', `${stored.hash.slice(0, 40)}…`);

say('first use (argon2id)', show(await timed(key)));
say('second use (cached)', show(await timed(key)));

const tampered = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
say('one character changed', show(await timed(tampered)));
const parsed = parseApiKey(key);
say(
  'right checksum, wrong secret',
  show(await timed(formatApiKey(parsed.prefix, parsed.id, 'x'.repeat(32)))),
);

await keys.revoke(record.id);
say('after revoke', show(await timed(key)));
say('keys in the store', (await keys.list()).length);

keys.close();
await store.close();
