import type { Command } from '../command.js';

export const keysHashes: Command = {
  name: 'keys hashes',
  summary: 'count the keys of each kind of stored hash (argon2id, hmac-sha256)',
  usage:
    'Usage: keywarden keys hashes [--json]\n\nHow many keys (revoked and expired ones too) each kind of stored hash holds. While servers move\nto another hasher (earlierHashers), a key of the earlier kind is one not verified since; drop the\nearlier hasher once its count is 0.\n',
  async run(ctx) {
    const kinds = await (await ctx.keys()).hashKinds();
    const names = Object.keys(kinds).sort();
    const width = Math.max(4, ...names.map((name) => name.length));
    const lines = names.map((name) => `${name.padEnd(width)}  ${kinds[name]}`);
    ctx.print(names.length === 0 ? 'No keys.\n' : `${lines.join('\n')}\n`, kinds);
  },
};
